"""`SessionUpkeep`: the component that keeps the token key ring and the revoked-session cache
fresh while the platform runs.

Every interval it asks `auth.tokens` to re-read the key ring (a rotation by the CLI or another
process), rotate the signing key once it passed its age and drop keys no live token needs, and
asks `auth.sessions` to pick up revocations made elsewhere. A failed round is logged and
retried at the next one: verification keeps working from the cache meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from tradehall.adapters.tasks import stop_task

if TYPE_CHECKING:
    from tradehall.bootstrap import Platform

_log = logging.getLogger(__name__)


class SessionUpkeep:
    """Periodic key-ring and revocation maintenance of the identity parts."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def attach(self, platform: Platform) -> None:
        del platform

    async def start(self, platform: Platform) -> None:
        self._task = asyncio.create_task(self._run(platform), name="session-upkeep")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await stop_task(task)  # as every component loop: see adapters/tasks.py

    async def _run(self, platform: Platform) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await platform.auth.tokens.maintain()
                await platform.auth.sessions.maintain()
            except Exception:  # a database blip must not end the upkeep for good
                _log.exception("session upkeep failed; retrying in %ss", self.interval_s)
