"""The in-process event bus: every subscriber gets every batch, in order, on the event loop.

Publishing happens on the loop thread (the engine thread hands batches over with
`call_soon_threadsafe`), so each subscriber's queue sees batches in sequence order. Queues are
unbounded: the subscribers here (projections, market data, the WebSocket hub) only move data
into their own structures and never wait on a client; per-client limits live in the WebSocket
layer, which drops a slow client instead of slowing the stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from tradehall.service.messages import EventBatch


class InprocSubscription:
    """One subscriber's queue of batches."""

    def __init__(self, bus: InprocEventBus, name: str) -> None:
        self.name = name
        self._bus = bus
        self._queue: asyncio.Queue[EventBatch | None] = asyncio.Queue()

    def _put(self, batch: EventBatch | None) -> None:
        self._queue.put_nowait(batch)

    def pending(self) -> int:
        """Number of batches waiting to be read."""
        return self._queue.qsize()

    async def __aiter__(self) -> AsyncIterator[EventBatch]:
        while True:
            batch = await self._queue.get()
            if batch is None:
                return
            yield batch

    def close(self) -> None:
        """Stop the iteration once the batches queued so far are read."""
        self._bus._drop(self)
        self._put(None)


class InprocEventBus:
    """Fan-out of event batches to in-process subscribers."""

    def __init__(self) -> None:
        self._subscribers: list[InprocSubscription] = []
        self._last_seq = 0

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def publish(self, batch: EventBatch) -> None:
        """Hand a batch to every subscriber (call on the loop thread)."""
        self._last_seq = batch.last_seq
        for sub in self._subscribers:
            sub._put(batch)

    def subscribe(self, name: str) -> InprocSubscription:
        """Return a subscription that receives every batch published from now on."""
        sub = InprocSubscription(self, name)
        self._subscribers.append(sub)
        return sub

    def close(self) -> None:
        """End every subscription after what is queued."""
        for sub in list(self._subscribers):
            sub.close()

    def _drop(self, sub: InprocSubscription) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)
