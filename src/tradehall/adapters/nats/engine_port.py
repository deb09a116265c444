"""`NatsEnginePort`: the `EnginePort` of an API process in scale-out (commands over JetStream).

A command is acknowledged only once it is stored in the commands stream, the distributed
journal: `execute_many` publishes each command in order (msgpack, `engine/codec.py`) with a
`Nats-Msg-Id` of its own and waits for JetStream's PubAck, whose stream seq *is* the command's
engine seq. A publish that timed out is retried with the same id, which JetStream stores once
(within the stream's duplicate window). Then it waits for the command's `CommandResult`,
which the engine leader publishes to the events stream and an `EventReader` hands to
`deliver` (the process's event relay, `relay.py`).

- Nothing stored (NATS unreachable, no engine leader, publish refused or timed out every
  time): `TemporaryError("engine_unavailable")`, answered 503 with Retry-After. Never a false
  acknowledgement: a timed-out publish may have been stored; a retry of the request with the
  same client order id is then refused by the engine as a duplicate, never executed twice.
- Stored but no result within `result_timeout_s` (an engine failover, a slow engine):
  `TemporaryError("result_pending")`, answered 504. The command stays in the journal and will
  execute; its seq is in the message.

Results can arrive before the PubAck is processed, so `ResultIndex` keeps the most recent
results it was given; a result older than what it keeps (or than where the reader started) is
looked up in the events stream by binary search. `is_ready()` reads a cached flag that a task
refreshes from the engine lease (KV key `leader`) every third of the lease's lifetime, so a
probe costs no I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import nats.errors
from nats.js.errors import KeyNotFoundError, NoStreamResponseError
from nats.js.kv import KeyValue

from tradehall.adapters.nats.events import fetch_result
from tradehall.adapters.nats.link import NATS_ERRORS, NatsLink
from tradehall.adapters.nats.streams import MSG_ID
from tradehall.adapters.tasks import stop_task
from tradehall.engine.codec import encode_command
from tradehall.kernel.errors import TemporaryError
from tradehall.service.messages import CommandResult, EventBatch
from tradehall.trading.commands import EngineCommand

_log = logging.getLogger(__name__)
LEADER_KEY = "leader"


@dataclass(frozen=True, slots=True)
class NatsEngineConfig:
    """How an API process talks to the engine through JetStream."""

    result_timeout_s: float = 10.0  # after the command is stored
    publish_timeout_s: float = 2.0  # one PubAck
    publish_attempts: int = 3  # publishes of one command (same message id) before giving up
    results_kept: int = 10_000  # recent results held for callers whose PubAck is late
    failover_grace_s: float = 9.0
    """How long after the lease was last seen commands are still stored: an engine failover
    (the lease expires, the standby takes it) must look like a slow answer, not an outage.
    Longer without a leader, the engine is taken as down and commands are refused."""


def unavailable(message: str = "the engine is not available") -> TemporaryError:
    return TemporaryError(message, code="engine_unavailable")


class ResultIndex:
    """Recent command results by engine seq, and the callers waiting for one."""

    def __init__(self, kept: int = 10_000) -> None:
        self.kept = kept
        self.floor = 0  # results at or below it never come through `deliver`
        self.seen_seq = 0  # the newest result delivered
        self._results: OrderedDict[int, CommandResult] = OrderedDict()
        self._waiters: dict[int, list[asyncio.Future[CommandResult]]] = {}

    def deliver(self, batch: EventBatch) -> None:
        """Take in a batch's results (in seq order), waking whoever waits for one."""
        results = self._results
        for result in batch.results:
            waiters = self._waiters.pop(result.seq, None)
            if waiters:
                for future in waiters:
                    if not future.done():
                        future.set_result(result)
            results[result.seq] = result
            if result.seq > self.seen_seq:
                self.seen_seq = result.seq
        while len(results) > self.kept:
            results.popitem(last=False)

    def get(self, seq: int) -> CommandResult | None:
        return self._results.get(seq)

    def passed(self, seq: int) -> bool:
        """Whether `seq`'s result went by already (or never will come through `deliver`)."""
        return seq <= max(self.seen_seq, self.floor)

    async def wait(self, seq: int, timeout_s: float) -> CommandResult | None:
        """The result of `seq` once delivered; None after `timeout_s`."""
        found = self._results.get(seq)
        if found is not None:
            return found
        future: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(seq, []).append(future)
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            return None
        finally:
            waiters = self._waiters.get(seq)
            if waiters is not None:
                with contextlib.suppress(ValueError):
                    waiters.remove(future)
                if not waiters:
                    del self._waiters[seq]

    def waiting(self) -> int:
        """How many seqs callers wait for."""
        return len(self._waiters)


class NatsEnginePort:
    """`EnginePort` over the commands and events streams (see the module docstring)."""

    def __init__(self, link: NatsLink, config: NatsEngineConfig | None = None) -> None:
        self.link = link
        self.config = config or NatsEngineConfig()
        self.results = ResultIndex(self.config.results_kept)
        self.last_seq = 0  # the newest engine seq this process saw (stored or delivered)
        self.leader: str | None = None  # the leading engine node, as the lease last said
        self._leader_seen = -1e9  # loop time the lease was last read with a holder
        self._id_prefix = f"{link.name}-{secrets.token_hex(6)}-"
        self._next_id = 0
        self._lease_task: asyncio.Task[None] | None = None

    # -- Lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the link (waiting for NATS) and start following the engine lease."""
        await self.link.open()
        kv = await self.link.js.key_value(self.link.topology.lease_bucket)
        await self._refresh_leader(kv)
        self._lease_task = asyncio.create_task(self._follow_lease(kv), name="engine-lease")

    async def stop(self) -> None:
        """Stop following the lease (the link belongs to whoever opened it)."""
        task, self._lease_task = self._lease_task, None
        if task is not None:
            await stop_task(task)
        self.leader = None

    def is_ready(self) -> bool:
        """Connected to NATS, and an engine holds the lease or held it within the failover
        grace (cached; no I/O)."""
        if not self.link.connected:
            return False
        if self.leader is not None:
            return True
        loop = asyncio.get_running_loop()
        return loop.time() - self._leader_seen < self.config.failover_grace_s

    def deliver(self, batch: EventBatch) -> None:
        """Take in a batch of the events stream (called by the process's event reader)."""
        self.results.deliver(batch)
        if batch.last_seq > self.last_seq:
            self.last_seq = batch.last_seq

    # -- EnginePort -----------------------------------------------------------------------------

    async def execute(self, command: EngineCommand) -> CommandResult:
        """Store one command in the commands stream and return its result."""
        [result] = await self.execute_many((command,))
        return result

    async def execute_many(self, commands: Sequence[EngineCommand]) -> list[CommandResult]:
        """Store commands in order (each acknowledged before the next is sent), then wait for
        their results."""
        if not commands:
            return []
        if not self.is_ready():
            raise unavailable()
        seqs: list[int] = []
        deadlines: list[float] = []
        loop = asyncio.get_running_loop()
        for i, command in enumerate(commands):
            try:
                seqs.append(await self.store(command))
            except TemporaryError as exc:
                if seqs:  # the ones before are journaled and will execute
                    raise unavailable(f"{exc.message} ({i} of {len(commands)} commands were "
                                      f"stored, up to seq {seqs[-1]})") from exc
                raise
            deadlines.append(loop.time() + self.config.result_timeout_s)
        results = await asyncio.gather(*(self._result(seq, deadline)
                                         for seq, deadline in zip(seqs, deadlines,
                                                                  strict=True)))
        missing = [seq for seq, result in zip(seqs, results, strict=True) if result is None]
        if missing:
            raise TemporaryError(
                f"command stored as seq {missing[0]}, but its result did not arrive within "
                f"{self.config.result_timeout_s:g} s; it will execute (read it back later)",
                code="result_pending")
        return [r for r in results if r is not None]

    # -- Storing --------------------------------------------------------------------------------

    def new_message_id(self) -> str:
        """A message id no other command of any process uses."""
        self._next_id += 1
        return f"{self._id_prefix}{self._next_id}"

    async def store(self, command: EngineCommand, message_id: str | None = None) -> int:
        """Store one command in the commands stream; return its engine seq.

        Retried with the same `message_id` after a timeout, so it is stored once; raises
        `engine_unavailable` when it could not be confirmed stored.
        """
        link = self.link
        topology = link.topology
        payload = encode_command(command)
        msg_id = message_id or self.new_message_id()
        failure: BaseException | None = None
        for _ in range(self.config.publish_attempts):
            if not link.connected:
                break
            try:
                ack = await link.js.publish(topology.commands_subject, payload,
                                            timeout=self.config.publish_timeout_s,
                                            stream=topology.commands_stream,
                                            headers={MSG_ID: msg_id})
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError,
                    NoStreamResponseError) as exc:
                failure = exc  # maybe stored: the retry with the same id is stored once
                continue
            except NATS_ERRORS as exc:
                failure = exc
                break
            if ack.seq > self.last_seq:
                self.last_seq = ack.seq
            return int(ack.seq)
        if failure is not None:  # (disconnected: refused at once, nothing to report per call)
            _log.warning("command %s not confirmed stored: %s", msg_id, failure)
        raise unavailable("the engine is not available (the command journal does not "
                          "answer)")

    async def _result(self, seq: int, deadline: float) -> CommandResult | None:
        results = self.results
        found = results.get(seq)
        if found is not None:
            return found
        if results.passed(seq):
            # Delivered before this process looked (or before its reader started).
            try:
                return await fetch_result(self.link.js, self.link.topology, seq)
            except NATS_ERRORS:
                return None
        remaining = deadline - asyncio.get_running_loop().time()
        return await results.wait(seq, max(0.0, remaining))

    # -- Engine lease ---------------------------------------------------------------------------

    async def _follow_lease(self, kv: KeyValue) -> None:
        period = max(0.1, self.link.topology.lease_s / 3)
        while True:
            await asyncio.sleep(period)
            await self._refresh_leader(kv)

    async def _refresh_leader(self, kv: KeyValue) -> None:
        try:
            entry = await kv.get(LEADER_KEY)
        except KeyNotFoundError:  # expired (TTL), deleted by a clean hand-over, or never set
            self.leader = None
            return
        except NATS_ERRORS as exc:
            if self.leader is not None:
                _log.warning("engine lease unreadable (%s): engine taken as unavailable", exc)
            self.leader = None
            return
        value = entry.value or b""
        self.leader = value.decode(errors="replace") or "?"
        self._leader_seen = asyncio.get_running_loop().time()
