"""`NatsProjection`: the projector role, the events stream into the SQL read models.

It reads the events stream after the read models' projected seq (`projection_state`, found in
the stream by binary search) and drives the same `SqlProjector` as embedded mode, which is
idempotent by seq: killed at any point and started again, it resumes after its last commit
without writing anything twice. `PacedSubscription` adapts the `EventReader` to the
projector's `Subscription` and keeps it at most `max_ahead` commands ahead of the last commit
(the projector queues whatever it is given). A failed write (the database went away) ends
that projector; after a pause a new one resumes from the last commit. Run one per database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from nats.js.errors import NotFoundError

from tradehall.adapters.nats.events import EventReader
from tradehall.adapters.nats.link import NATS_ERRORS, NatsLink
from tradehall.adapters.nats.streams import LAST_SEQ
from tradehall.adapters.sql import SqlDatabase
from tradehall.adapters.tasks import stop_task
from tradehall.service.messages import EventBatch

_log = logging.getLogger(__name__)
HEAD_POLL_S = 1.0


class PacedSubscription:
    """A `Subscription` over an `EventReader` that waits while the consumer lags too far."""

    def __init__(self, reader: EventReader, committed: Callable[[], int], *,
                 max_ahead: int = 50_000) -> None:
        self.reader = reader
        self._committed = committed
        self._max_ahead = max_ahead
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[EventBatch]:
        async for batch in self.reader:
            # Polled: the projector commits on another task and signals nothing per commit.
            while True:
                if self._closed or batch.first_seq - self._committed() <= self._max_ahead:
                    break
                await asyncio.sleep(0.01)
            if self._closed:
                return
            yield batch

    def close(self) -> None:
        self._closed = True
        self.reader.close()


class NatsProjection:
    """Projects the events stream into one read-model database until stopped."""

    def __init__(self, link: NatsLink, db: SqlDatabase, *, max_ahead: int = 50_000,
                 retry_s: float = 1.0) -> None:
        self.link = link
        self.db = db
        self.max_ahead = max_ahead
        self.retry_s = retry_s
        self.head_seq = 0  # the newest engine seq in the events stream (polled)
        self.failures = 0  # projector failures in a row (0 once one commits again)
        self.restarts = 0
        self.running = False

    @property
    def projected_seq(self) -> int:
        return self.db.read_model.last_seq

    @property
    def lag(self) -> int:
        """Commands in the events stream not projected yet."""
        return max(0, self.head_seq - self.projected_seq)

    def ready(self) -> bool:
        """Reading the stream and writing the database (for a readiness probe)."""
        return self.running and self.failures == 0 and self.link.connected

    async def run(self, stop: asyncio.Event) -> None:
        """Project until `stop` is set; then finish the batches read so far and return."""
        opener = asyncio.create_task(self.link.open())
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait((opener, stopper), return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        await asyncio.gather(stopper, return_exceptions=True)
        # nats-py's connect can swallow the cancel (gh-86296), and `open` retries for ever.
        # Open retries NATS errors itself: anything it raises is a bug, raised here.
        await stop_task(opener)
        if not self.link.connected and stop.is_set():
            return  # stopped while NATS was still unreachable
        head = asyncio.create_task(self._watch_head(), name="projection-head")
        try:
            while not stop.is_set():
                await self._run_once(stop)
        finally:
            await stop_task(head)

    async def _run_once(self, stop: asyncio.Event) -> None:
        start = self.projected_seq
        reader = EventReader(self.link, after_seq=start)
        subscription = PacedSubscription(reader, lambda: self.db.read_model.last_seq,
                                         max_ahead=self.max_ahead)
        projector = self.db.projector(subscription)
        task = asyncio.create_task(projector.run(), name="projector")
        stopper = asyncio.create_task(stop.wait())
        self.running = True
        _log.info("projector: reading the events stream after seq %d", start)
        loop = asyncio.get_running_loop()
        healthy_at = loop.time() + 5 * HEAD_POLL_S
        try:
            while not task.done():
                before = self.projected_seq
                await asyncio.wait((task, stopper), timeout=HEAD_POLL_S,
                                   return_when=asyncio.FIRST_COMPLETED)
                # Healthy again once it commits, or once it has run a while with nothing to do.
                if self.projected_seq > before or (
                        loop.time() > healthy_at and self.head_seq <= self.projected_seq):
                    self.failures = 0
                if stop.is_set():
                    subscription.close()  # the projector commits what it holds, then ends
                    await task
                    return
            task.result()
        except Exception:
            self.failures += 1
            self.restarts += 1
            _log.exception("projector failed (%d in a row); resuming after seq %d",
                           self.failures, self.projected_seq)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.retry_s * min(self.failures, 10))
        finally:
            self.running = False
            subscription.close()
            stopper.cancel()
            if not task.done():
                task.cancel()
            await asyncio.gather(task, stopper, return_exceptions=True)

    async def _watch_head(self) -> None:
        topology = self.link.topology
        while True:
            try:
                msg = await self.link.js.get_last_msg(topology.events_stream,
                                                      topology.batch_subject)
                self.head_seq = int((msg.headers or {}).get(LAST_SEQ, 0))
            except NotFoundError:
                self.head_seq = 0
            except NATS_ERRORS as exc:
                _log.debug("projector: head of the events stream unknown (%s)", exc)
            await asyncio.sleep(HEAD_POLL_S)
