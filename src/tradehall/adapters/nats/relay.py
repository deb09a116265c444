"""`EventRelay`: the events stream into the in-process consumers of an API or gateway process.

One reader per process feeds every consumer in it, in engine-seq order: the engine port's
result index, then `Platform.publish` (reference data, then the in-process bus, which the
market-data hub, the WebSocket feeds and Alpaca's trade updates read as in embedded mode).

Where it starts: the market-data hub is seeded from the newest `MarketSnapshot` (every book
view at its engine seq S), and the reader starts after min(S, the seq the caller asks for:
the read models' projected seq, which the reference data was loaded at). Batches up to S are
relayed without their book deltas, which the snapshot already holds. With no snapshot in the
stream yet (no engine ever led), it starts from the beginning so that the books are whole.
`start()` returns once the reader has caught up with the stream's end as of the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

import msgspec
from nats.js.errors import NotFoundError

from tradehall.adapters.nats.events import EventReader, latest_market
from tradehall.adapters.nats.link import NATS_ERRORS, NatsLink
from tradehall.adapters.nats.streams import LAST_SEQ
from tradehall.service.messages import EventBatch, MarketSnapshot

_log = logging.getLogger(__name__)
Sink = Callable[[EventBatch], None]


class EventRelay:
    """Reads the events stream and hands every batch to the sinks, in order."""

    def __init__(self, link: NatsLink, sinks: Sequence[Sink], *,
                 seed: Callable[[MarketSnapshot], None] | None = None,
                 catch_up_timeout_s: float = 30.0) -> None:
        self.link = link
        self.sinks = list(sinks)
        self.seed = seed
        self.catch_up_timeout_s = catch_up_timeout_s
        self.start_seq = 0  # the reader delivers the results after this seq
        self.batches = 0
        self._books_after = 0  # batches up to this seq lose their book deltas (seeded)
        self._reader: EventReader | None = None
        self._task: asyncio.Task[None] | None = None
        self._progress = asyncio.Event()

    @property
    def last_seq(self) -> int:
        return self._reader.last_seq if self._reader is not None else self.start_seq

    async def start(self, after_seq: int) -> None:
        """Seed the hub, start reading after `after_seq` (or earlier), wait until caught up."""
        await self.link.open()
        js, topology = self.link.js, self.link.topology
        start = after_seq
        if self.seed is not None:
            market = await latest_market(js, topology)
            if market is None:
                start = 0
            else:
                snapshot = market[1]
                self.seed(snapshot)
                self._books_after = snapshot.engine_seq
                start = min(after_seq, snapshot.engine_seq)
        self.start_seq = start
        head = await self._head_seq()
        self._reader = EventReader(self.link, after_seq=start)
        self._task = asyncio.create_task(self._run(self._reader), name="event-relay")
        await self._catch_up(head)

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.close()
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _head_seq(self) -> int:
        """The last engine seq in the events stream now (0 when it has no batch)."""
        topology = self.link.topology
        try:
            msg = await self.link.js.get_last_msg(topology.events_stream,
                                                  topology.batch_subject)
        except NotFoundError:
            return 0
        return int((msg.headers or {}).get(LAST_SEQ, 0))

    async def _catch_up(self, head: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.catch_up_timeout_s
        while self.last_seq < head:
            task = self._task
            if task is not None and task.done():
                task.result()  # raises what ended it
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                _log.warning("event relay: caught up to %d of %d in %g s; serving meanwhile",
                             self.last_seq, head, self.catch_up_timeout_s)
                return
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), min(remaining, 0.5))

    async def _run(self, reader: EventReader) -> None:
        try:
            async for batch in reader:
                if batch.last_seq <= self._books_after and batch.books:
                    batch = msgspec.structs.replace(batch, books=[])
                for sink in self.sinks:
                    try:
                        sink(batch)
                    except Exception:
                        # A consumer's bug must not stop the others (or the result index).
                        _log.exception("event relay: a consumer failed on batch %d",
                                       batch.last_seq)
                self.batches += 1
                self._progress.set()
        except NATS_ERRORS:  # the reader resumes by itself; only closing the link ends here
            _log.exception("event relay stopped")
            raise
