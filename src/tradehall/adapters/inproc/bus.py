"""The in-process event bus: every subscriber gets every batch, in order, on the event loop.

Publishing happens on the loop thread (the engine thread hands batches over with
`call_soon_threadsafe`), so each subscriber's queue sees batches in sequence order. Queues are
unbounded: the subscribers here (projections, market data, the WebSocket hub) only move data
into their own structures and never wait on a client; per-client limits live in the WebSocket
layer, which drops a slow client instead of slowing the stream. A subscriber that runs on a
thread of its own with its own loop (the SQL projector) takes a `ThreadedSubscription`: the
publisher appends under a lock and wakes the reader's loop only when it waits, so a reader
that is busy costs the publishing loop no system call.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
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


class ThreadedSubscription:
    """One subscriber's queue of batches, read on another thread's event loop."""

    def __init__(self, bus: InprocEventBus, name: str) -> None:
        self.name = name
        self._bus = bus
        self._items: deque[EventBatch | None] = deque()
        self._lock = threading.Lock()
        self._waiter: asyncio.Future[None] | None = None

    def _put(self, batch: EventBatch | None) -> None:
        with self._lock:
            self._items.append(batch)
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            with contextlib.suppress(RuntimeError):  # the reader's loop is closed
                waiter.get_loop().call_soon_threadsafe(_wake, waiter)

    def pending(self) -> int:
        """Number of batches waiting to be read."""
        return len(self._items)

    async def __aiter__(self) -> AsyncIterator[EventBatch]:
        loop = asyncio.get_running_loop()
        while True:
            waiter = None
            with self._lock:
                if self._items:
                    batch = self._items.popleft()
                else:
                    waiter = self._waiter = loop.create_future()
            if waiter is not None:
                await waiter
                continue
            if batch is None:
                return
            yield batch

    def close(self) -> None:
        """Stop the iteration once the batches queued so far are read (call on the bus's loop)."""
        self._bus._drop(self)
        self._put(None)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class InprocEventBus:
    """Fan-out of event batches to in-process subscribers."""

    def __init__(self) -> None:
        self._subscribers: list[InprocSubscription | ThreadedSubscription] = []
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

    def subscribe_threaded(self, name: str) -> ThreadedSubscription:
        """Return a subscription read on another thread's loop, from now on."""
        sub = ThreadedSubscription(self, name)
        self._subscribers.append(sub)
        return sub

    def close(self) -> None:
        """End every subscription after what is queued."""
        for sub in list(self._subscribers):
            sub.close()

    def _drop(self, sub: InprocSubscription | ThreadedSubscription) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)
