"""`HealthMonitor`: enters fallback by itself when the engine stops answering, and leaves it
again when the engine is back.

Only a fallback the monitor entered (`automatic`) is left by the monitor: one an operator set
stays until an operator ends it. Counting consecutive results keeps one slow probe from
flipping the platform's mode.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from tradehall.fallback.model import PlatformMode
from tradehall.fallback.service import ModeService
from tradehall.kernel.errors import Conflict

_log = logging.getLogger(__name__)
ACTOR = "health-monitor"
Probe = Callable[[], bool | Awaitable[bool]]


class HealthMonitor:
    """Counts engine probes in a row and switches the mode after enough of one kind."""

    def __init__(self, modes: ModeService, probe: Probe, *, failures_to_enter: int = 3,
                 successes_to_leave: int = 3) -> None:
        self._modes = modes
        self._probe = probe
        self.failures_to_enter = max(1, failures_to_enter)
        self.successes_to_leave = max(1, successes_to_leave)
        self.failures = 0
        self.successes = 0

    async def step(self) -> PlatformMode:
        """Probe once, switch the mode if the streak is long enough; return the mode."""
        healthy = await self._check()
        if healthy:
            self.successes, self.failures = self.successes + 1, 0
        else:
            self.failures, self.successes = self.failures + 1, 0
        state = self._modes.current
        try:
            if (not healthy and state.mode is not PlatformMode.FALLBACK
                    and self.failures >= self.failures_to_enter):
                _log.warning("engine failed %d health checks: entering fallback", self.failures)
                await self._modes.set(PlatformMode.FALLBACK, actor=ACTOR, automatic=True,
                                      reason=f"the engine failed {self.failures} health "
                                             "checks in a row")
            elif (healthy and state.mode is PlatformMode.FALLBACK and state.automatic
                    and self.successes >= self.successes_to_leave):
                _log.warning("engine healthy again: leaving fallback for %s",
                             state.previous.value)
                await self._modes.set(state.previous, actor=ACTOR,
                                      reason="the engine answers its health checks again")
        except Conflict:  # another process switched it first; re-read on the next tick
            await self._modes.refresh()
        return self._modes.current.mode

    async def _check(self) -> bool:
        try:
            result = self._probe()
            if not isinstance(result, bool):
                result = await result
            return bool(result)
        except Exception:  # a probe that raises is a failed probe
            _log.exception("engine health probe raised")
            return False
