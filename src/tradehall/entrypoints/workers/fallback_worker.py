"""`FallbackWorker`: the component that keeps the platform mode current and works the desk's
decisions off once the engine accepts commands.

Every tick (0.5 s, or at once when the desk decided a request) it re-reads the mode (the CLI
or another process may have changed it), lets the health monitor probe the engine (entering
or leaving an automatic fallback), and, while the engine is ready and the mode is not
fallback, runs the dispatcher, which executes approved requests exactly once. A failed tick is
logged and the next one retries: the loop only ends when the component stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from tradehall.adapters.tasks import stop_task
from tradehall.fallback.model import PlatformMode
from tradehall.fallback.monitor import HealthMonitor

if TYPE_CHECKING:
    from tradehall.bootstrap import Platform

_log = logging.getLogger(__name__)
TICK_S = 0.5


class FallbackWorker:
    """Mode refresh, engine health and the dispatcher of decided fallback requests."""

    def __init__(self, health_failures: int = 3, tick_s: float = TICK_S, *,
                 with_engine: bool = True) -> None:
        self.health_failures = health_failures
        self.tick_s = tick_s
        self.with_engine = with_engine
        """False in the fallback role: only the mode is kept current (no monitor, no
        dispatcher: the platform process does both)."""
        self._task: asyncio.Task[None] | None = None

    async def attach(self, platform: Platform) -> None:
        del platform

    async def start(self, platform: Platform) -> None:
        try:
            await platform.fallback.modes.refresh()
        except Exception:  # the loop retries; the gate keeps its cached mode meanwhile
            _log.exception("could not read the platform mode; retrying")
        monitor = HealthMonitor(platform.fallback.modes, platform.engine.is_ready,
                                failures_to_enter=self.health_failures)
        self._task = asyncio.create_task(self._run(platform, monitor), name="fallback-worker")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            # The tick's own `wait_for`, the dispatcher's wait for the read model and, in
            # scale-out, the engine port's NATS calls can swallow a cancel (gh-86296).
            await stop_task(task)

    async def _run(self, platform: Platform, monitor: HealthMonitor) -> None:
        parts = platform.fallback
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(parts.wake.wait(), self.tick_s)
            parts.wake.clear()
            try:
                await self.tick(platform, monitor)
            except Exception:  # a database blip must not end the worker for good
                _log.exception("fallback worker tick failed; retrying")

    async def tick(self, platform: Platform, monitor: HealthMonitor) -> None:
        """One round: mode, health, and the dispatcher when the engine takes commands."""
        parts = platform.fallback
        await parts.modes.refresh()
        if not self.with_engine:
            return
        await monitor.step()
        # In fallback the desk decides but nothing executes, even with a healthy engine (a
        # maintenance fallback); the decided requests run once the mode is left.
        if platform.engine.is_ready() and parts.modes.current.mode is not PlatformMode.FALLBACK:
            await parts.dispatcher.run_once()
