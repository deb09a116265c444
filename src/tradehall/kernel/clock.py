"""Clocks as integer UTC nanoseconds.

The deterministic core never reads time itself: engine time arrives with each command
(`ts_event`), and shells get a `Clock` injected. `TestClock` makes tests and replays exact.
"""

from __future__ import annotations

import time
from typing import Protocol

NANOS_PER_SECOND = 1_000_000_000
NANOS_PER_DAY = 86_400 * NANOS_PER_SECOND


class Clock(Protocol):
    """Source of the current time in integer UTC nanoseconds."""

    def now_ns(self) -> int: ...


class LiveClock:
    """Wall-clock time of this machine."""

    def now_ns(self) -> int:
        return time.time_ns()


class TestClock:
    """A clock that moves only when told to."""

    __test__ = False  # not a pytest test class

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def advance(self, delta_ns: int) -> int:
        """Move the clock forward and return the new time."""
        if delta_ns < 0:
            raise ValueError("a clock never moves backwards")
        self._now += delta_ns
        return self._now

    def set(self, now_ns: int) -> None:
        """Jump to an absolute time, never backwards."""
        if now_ns < self._now:
            raise ValueError("a clock never moves backwards")
        self._now = now_ns
