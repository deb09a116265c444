"""The embedded engine: the engine host on its own thread, behind the `EnginePort`.

Callers on the event loop `await execute(command)`; commands queue up while the previous batch
is being journaled, so the thread takes whatever has queued as one group commit (adaptive
batching), and journals and applies it while the previous batch's fsync is still running
(pipelined: at most two batches in flight). Right after applying a batch the thread reads the
top of the book of every symbol it touched and the balances of every account it touched; once
the batch is durable it hands results and the `EventBatch` back to the loop in one
`call_soon_threadsafe`, which keeps them in sequence order. Nothing leaves before its batch is
durable; when a write fails, neither batch in flight is acknowledged. Recovery runs on the
thread too; the commands it replays are published like live ones (in chunks) so that
projections can catch up.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tradehall.engine import queries
from tradehall.engine.matcher import MatchingEngine
from tradehall.entrypoints.workers.batches import BatchBuilder, touched
from tradehall.entrypoints.workers.engine_host import EngineHost, EngineHostConfig, Started
from tradehall.kernel.clock import Clock
from tradehall.kernel.errors import TemporaryError
from tradehall.kernel.ids import AccountId, AssetCode
from tradehall.marketdata.depth import DepthTracker
from tradehall.service.messages import CommandResult, EventBatch
from tradehall.trading import events as e
from tradehall.trading.commands import EngineCommand

_log = logging.getLogger(__name__)
_REPLAY_CHUNK = 10_000


@dataclass(frozen=True, slots=True)
class EngineThreadConfig:
    """How the embedded engine batches and what it publishes."""

    host: EngineHostConfig
    book_depth: int = 50  # levels per side in the published book view
    max_batch: int = 1024  # most commands in one group commit
    snapshot_on_stop: bool = True


@dataclass(slots=True)
class _Job:
    commands: Sequence[EngineCommand]
    future: asyncio.Future[list[CommandResult]]
    results: list[CommandResult] = field(default_factory=list)


@dataclass(slots=True)
class _InFlight:
    """A batch journaled and applied, waiting for its fsync before anything leaves."""

    jobs: list[_Job]
    started: Started
    batch: EventBatch


_STOP = object()


class EngineThread:
    """Runs one `EngineHost` on a dedicated thread and serves `EnginePort` on the loop."""

    def __init__(self, config: EngineThreadConfig, clock: Clock,
                 publish: Callable[[EventBatch], None]) -> None:
        self.config = config
        self._clock = clock
        self._publish = publish
        self._queue: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._builder = BatchBuilder(DepthTracker(config.book_depth))
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stopped = threading.Event()
        self._failure: BaseException | None = None
        self._replay: list[CommandResult] = []
        self._replay_accounts: set[AccountId] = set()
        self._host: EngineHost | None = None
        self._reference: tuple[dict[AssetCode, int], list[queries.InstrumentView]] = ({}, [])
        self.last_seq = 0

    # -- Lifecycle ------------------------------------------------------------------------------

    async def start(self, *, projection_seq: int | None = None) -> None:
        """Recover the engine on its thread and return once it accepts commands.

        `projection_seq` is how far the read models got: recovery starts from a snapshot at or
        before it and publishes every command after it again.
        """
        self._loop = asyncio.get_running_loop()
        started: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(target=self._run, args=(projection_seq, started),
                                        name="engine", daemon=True)
        self._thread.start()
        await started

    async def stop(self) -> None:
        """Finish the queued commands, snapshot (when configured) and close the journal."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    def is_ready(self) -> bool:
        return self._ready.is_set() and not self._stopped.is_set()

    @property
    def host(self) -> EngineHost | None:
        """The recovered host (touch it only from the engine thread or once stopped)."""
        return self._host

    def reference_data(self) -> tuple[dict[AssetCode, int], list[queries.InstrumentView]]:
        """Assets and instruments as recovery left them (later changes arrive as events)."""
        return self._reference

    @property
    def failure(self) -> BaseException | None:
        """The error that stopped the engine thread, if any."""
        return self._failure

    # -- EnginePort -----------------------------------------------------------------------------

    async def execute(self, command: EngineCommand) -> CommandResult:
        """Journal and apply one command; return its result once durable."""
        [result] = await self.execute_many((command,))
        return result

    async def execute_many(self, commands: Sequence[EngineCommand]) -> list[CommandResult]:
        """Journal and apply commands in order, in one group commit when they fit one."""
        if not commands:
            return []
        if not self.is_ready() or self._loop is None:
            raise TemporaryError("the engine is not accepting commands", code="engine_unavailable")
        future: asyncio.Future[list[CommandResult]] = self._loop.create_future()
        self._queue.put(_Job(commands, future))
        return await future

    # -- The thread -----------------------------------------------------------------------------

    def _run(self, projection_seq: int | None, started: asyncio.Future[None]) -> None:
        try:
            host = EngineHost.open(self.config.host, max_snapshot_seq=projection_seq,
                                   on_replay=self._on_replay)
        except BaseException as exc:  # recovery failed: report it to start() and end
            self._failure = exc
            self._stopped.set()
            self._call(_set_exception, started, exc)
            return
        self._host = host
        self.last_seq = host.seq
        self._reference = (queries.assets(host.engine), queries.instruments(host.engine))
        self._flush_replay(host.engine)
        self._ready.set()
        self._call(_set_result, started, None)
        try:
            self._serve(host)
        except BaseException as exc:
            # A failed journal write or a broken invariant: nothing more may be acknowledged.
            # `_fail` may have recorded the first error already; this one is what ended it.
            self._failure = exc
            _log.critical("engine thread stopped: %s", exc, exc_info=exc)
        finally:
            self._stopped.set()
            self._fail_pending()
            try:
                if self._failure is None and self.config.snapshot_on_stop and host.seq:
                    host.snapshot()
            finally:
                self._close(host)

    def _close(self, host: EngineHost) -> None:
        try:
            host.close()
        except Exception as exc:
            if self._failure is None:
                raise
            # The writer re-raises the failure that stopped the engine, logged above.
            _log.debug("journal closed after the engine stopped: %s", exc)

    def _serve(self, host: EngineHost) -> None:
        # Pipelined group commit: while one batch's fsync runs, the next batch (what queued
        # meanwhile) is journaled and applied; each batch's results leave only once it is
        # durable, in order. At most two batches are in flight.
        get = self._queue.get
        last_ts = host.engine.now_ns
        inflight: _InFlight | None = None
        while True:
            if inflight is None:
                item = get()
            else:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:  # nothing to apply meanwhile: wait for the disk
                    self._finish(host, inflight)
                    inflight = None
                    continue
            if not isinstance(item, _Job):
                if inflight is not None:
                    self._finish(host, inflight)
                return
            jobs, stop_after = self._gather(item)
            last_ts = max(last_ts, self._clock.now_ns())
            inflight = self._advance(host, inflight, jobs, last_ts)
            if stop_after:
                self._finish(host, inflight)
                return

    def _advance(self, host: EngineHost, inflight: _InFlight | None, jobs: list[_Job],
                 ts: int) -> _InFlight:
        """Start a batch, then finish the one in flight; return the new one in flight. When
        either fails, neither is acknowledged."""
        try:
            started = self._start(host, jobs, ts)
        except BaseException as exc:
            if inflight is not None:  # the engine is broken, whatever its fsync did
                self._fail(inflight.jobs, exc)
            raise
        if inflight is not None:
            try:
                self._finish(host, inflight)
            except BaseException as exc:
                self._fail(started.jobs, exc)
                raise
        return started

    def _gather(self, first: _Job) -> tuple[list[_Job], bool]:
        """Take every job queued behind `first`, up to `max_batch` commands; also say whether
        a stop request came after them."""
        jobs = [first]
        size = len(first.commands)
        while size < self.config.max_batch:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if not isinstance(nxt, _Job):
                return jobs, True
            jobs.append(nxt)
            size += len(nxt.commands)
        return jobs, False

    def _start(self, host: EngineHost, jobs: list[_Job], ts: int) -> _InFlight:
        """Journal and apply a batch; build what it publishes (from the state right after it,
        before the next batch is applied). Nothing leaves before `_finish`."""
        group = [(cmd, ts) for job in jobs for cmd in job.commands]
        first = host.seq + 1
        try:
            started = host.start(group)
            results = [CommandResult(first + i, ts, events)
                       for i, events in enumerate(started.results)]
            i = 0
            for job in jobs:
                n = len(job.commands)
                job.results = results[i:i + n]
                i += n
            batch = self._batch(host.engine, results, last_seq=started.last_seq)
        except BaseException as exc:  # no caller may be left waiting
            self._fail(jobs, exc)
            raise
        return _InFlight(jobs, started, batch)

    def _finish(self, host: EngineHost, inflight: _InFlight) -> None:
        """Wait until a started batch is durable, then hand its results and events over."""
        try:
            host.complete(inflight.started)
        except BaseException as exc:
            self._fail(inflight.jobs, exc)
            raise
        self.last_seq = inflight.started.last_seq
        self._call(self._deliver, inflight.jobs, inflight.batch)

    def _fail(self, jobs: list[_Job], exc: BaseException) -> None:
        """Nothing of these jobs is acknowledged: refuse new commands first, then tell these
        callers at once."""
        if self._failure is None:
            self._failure = exc
        self._stopped.set()
        error = TemporaryError("the engine stopped", code="engine_unavailable")
        for job in jobs:
            self._call(_set_exception, job.future, error)

    def _deliver(self, jobs: list[_Job], batch: EventBatch) -> None:
        for job in jobs:
            if not job.future.done():  # a caller that gave up still finds it in the events
                job.future.set_result(job.results)
        self._publish(batch)

    def _batch(self, engine: MatchingEngine, results: list[CommandResult], *,
               last_seq: int | None = None, all_symbols: bool = False,
               more_accounts: set[AccountId] | None = None) -> EventBatch:
        return self._builder.build(
            engine, results, last_seq=self.last_seq if last_seq is None else last_seq,
            all_symbols=all_symbols, more_accounts=more_accounts)

    # -- Recovery -------------------------------------------------------------------------------

    def _on_replay(self, seq: int, ts: int, events: list[e.EngineEvent]) -> None:
        self._replay.append(CommandResult(seq, ts, events))
        if len(self._replay) >= _REPLAY_CHUNK:
            chunk, self._replay = self._replay, []
            self._replay_accounts |= touched(chunk)[1]
            batch = EventBatch(first_seq=chunk[0].seq, last_seq=chunk[-1].seq, results=chunk,
                               books=[], balances=[])
            self._call(self._publish, batch)

    def _flush_replay(self, engine: MatchingEngine) -> None:
        """Publish the rest of the replay with every book and the replayed accounts' balances."""
        chunk, self._replay = self._replay, []
        batch = self._batch(engine, chunk, all_symbols=True,
                            more_accounts=self._replay_accounts)
        self._replay_accounts = set()
        self._call(self._publish, batch)

    # -- Helpers --------------------------------------------------------------------------------

    def _call(self, fn: Callable[..., object], *args: object) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(fn, *args)

    def _fail_pending(self) -> None:
        error = TemporaryError("the engine stopped", code="engine_unavailable")
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Job):
                self._call(_set_exception, item.future, error)


def _set_result(future: asyncio.Future[None], value: None) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[object], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
