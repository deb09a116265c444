"""`SwallowingCall`: an awaited call that swallows a cancellation, as `asyncio.wait_for` can.

On Python 3.11 `asyncio.wait_for` returns (or raises) the awaited call's outcome instead of
`CancelledError` when the cancel arrives as that outcome does (CPython gh-86296); nats-py,
redis-py and asyncpg all await through it. A stand-in for such a call makes the race
deterministic: once armed, the first call parks until it is cancelled, swallows that one
cancel and returns (or raises `error`); every other call takes `then_s` and goes through, so a
loop around it keeps yielding to the event loop and a later cancel ends it. `ends_within`
tells whether a stop returns in time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any


class SwallowingCall:
    """Stands in for an awaited call; the first cancel it gets while armed is swallowed."""

    def __init__(self, result: Any = None, *, error: BaseException | None = None,
                 armed: bool = True, then_s: float = 0.01) -> None:
        self.result = result
        self.error = error
        self.armed = armed
        self.then_s = then_s
        self.parked = asyncio.Event()
        """Set once a call waits for the cancel it is going to swallow."""
        self.swallowed = 0
        self.calls = 0

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.armed and not self.swallowed:
            self.parked.set()
            try:
                await asyncio.Event().wait()  # until cancelled
            except asyncio.CancelledError:
                if self.swallowed:
                    raise  # another caller swallowed it already
                self.swallowed += 1
        else:
            await asyncio.sleep(self.then_s)
        if self.error is not None:
            raise self.error
        return self.result


async def ends_within(awaitable: Awaitable[object], timeout_s: float) -> bool:
    """Whether `awaitable` completes within `timeout_s`; re-raise what it raised.

    Not `asyncio.wait_for`: its cancel at the timeout reaches the task a stop awaits, and a
    stop that suppresses `CancelledError` then returns as if it had ended in time.
    """
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    if not done:
        task.cancel()
        return False
    task.result()
    return True
