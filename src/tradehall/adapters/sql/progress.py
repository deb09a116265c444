"""How far the projections got, and the waiters of read-your-writes.

The projector advances it after each commit; `ReadModel.wait_for(seq)` parks a future until
the projections include `seq`. When no projector runs in this process (an API process reading
a database another process projects into), waiters poll the `projection_state` row instead.
The projector runs on a thread of its own: `advance` may come from that thread, so the seq and
the waiters are guarded by a lock and a waiter is woken on its own loop. `waiting()` and the
`on_wait` hook let the projector linger to merge batches only while nobody waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import threading
from collections.abc import Awaitable, Callable


class Progress:
    """The last projected seq and the futures waiting for a later one."""

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.local = False  # True while a projector of this process advances it
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self._on_wait: Callable[[], None] | None = None

    def advance(self, seq: int) -> None:
        """Record that the projections include `seq`; wake every waiter it satisfies."""
        ready: list[asyncio.Future[None]] = []
        with self._lock:
            if seq > self.seq:
                self.seq = seq
            waiters = self._waiters
            while waiters and waiters[0][0] <= self.seq:
                ready.append(heapq.heappop(waiters)[2])
        if ready:
            _wake(ready)

    def waiting(self) -> bool:
        """Whether a caller waits for a seq not projected yet."""
        return bool(self._waiters)

    def on_wait(self, hook: Callable[[], None] | None) -> None:
        """Call `hook` (from the waiter's thread) whenever a new waiter starts waiting."""
        self._on_wait = hook

    async def wait_for(self, seq: int, timeout_s: float,
                       poll: Callable[[], Awaitable[int]]) -> bool:
        """Wait until `seq` is projected; False on timeout."""
        if seq <= self.seq:
            return True
        if not self.local:
            return await self._poll(seq, timeout_s, poll)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            if seq <= self.seq:
                return True
            heapq.heappush(self._waiters, (seq, next(self._counter), future))
            hook = self._on_wait
        if hook is not None:
            hook()
        try:
            await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            return self.seq >= seq
        return True

    async def _poll(self, seq: int, timeout_s: float,
                    poll: Callable[[], Awaitable[int]]) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            self.advance(await poll())
            if self.seq >= seq:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.sleep(min(0.02, remaining))


def _wake(futures: list[asyncio.Future[None]]) -> None:
    """Resolve futures, each on its own loop (one hand-over per loop from another thread)."""
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for future in futures:
        by_loop.setdefault(future.get_loop(), []).append(future)
    for loop, group in by_loop.items():
        if loop is running:
            _resolve(group)
        else:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(_resolve, group)


def _resolve(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)
