"""How far the projections got, and the waiters of read-your-writes.

The projector advances it after each commit; `ReadModel.wait_for(seq)` parks a future until
the projections include `seq`. When no projector runs in this process (an API process reading
a database another process projects into), waiters poll the `projection_state` row instead.
Event-loop only: no threads touch it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable


class Progress:
    """The last projected seq and the futures waiting for a later one."""

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.local = False  # True while a projector of this process advances it
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()

    def advance(self, seq: int) -> None:
        """Record that the projections include `seq`; wake every waiter it satisfies."""
        if seq > self.seq:
            self.seq = seq
        waiters = self._waiters
        while waiters and waiters[0][0] <= self.seq:
            _, _, future = heapq.heappop(waiters)
            if not future.done():
                future.set_result(None)

    async def wait_for(self, seq: int, timeout_s: float,
                       poll: Callable[[], Awaitable[int]]) -> bool:
        """Wait until `seq` is projected; False on timeout."""
        if seq <= self.seq:
            return True
        if not self.local:
            return await self._poll(seq, timeout_s, poll)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (seq, next(self._counter), future))
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
