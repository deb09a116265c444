"""`stop_task`: the stop of a long-lived background task that may swallow its cancellation.

On Python 3.11 `asyncio.wait_for` returns the awaited result instead of raising when a
cancellation arrives as that result does (CPython gh-86296). nats-py awaits every reply that
way, redis-py every write with a socket timeout, and so do some of tradehall's own waits
(`asyncio.wait_for(event.wait(), tick)`, `read_model.wait_for`); asyncpg and SQLAlchemy carry
their own fixed `wait_for` on 3.11. A loop around such a call then carries on with its cancel
spent, and a stop written as `task.cancel(); await task` waits for ever. So every component
that cancels a task living as long as itself stops it with `stop_task`, including the loops
that await nothing of the kind today. Request-scoped awaits (one command, one transaction)
need none of this. Never used on a task whose work must not be cut short: it cancels.
"""

from __future__ import annotations

import asyncio
import logging

_log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0
"""Longest `stop_task` waits for a task to end before it leaves it behind."""


async def stop_task(task: asyncio.Task[None], timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Cancel a task and wait until it has ended; re-raise what it raised.

    One cancel is not enough (see the module docstring): the cancel is repeated until the
    task ends, for at most `timeout_s`; after that the task is left behind, logged.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not task.done():
        remaining = deadline - loop.time()
        if remaining <= 0:
            _log.warning("task %s did not stop within %.1f s: left behind", task.get_name(),
                         timeout_s)
            return
        task.cancel()
        await asyncio.wait({task}, timeout=min(0.1, remaining))
    if not task.cancelled():
        task.result()  # its own failure, if any, is the caller's
