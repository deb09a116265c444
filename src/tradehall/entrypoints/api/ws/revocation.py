"""`WsRevocationGuard`: closes open WebSockets whose session or API key was revoked.

Both WebSocket endpoints (`/v1/ws` and Alpaca's `/stream`) track their connections here. The
guard listens to the revocation notices (`platform.auth.revocations`): a notice for a session
or a key, whether it was revoked in this process or, through Redis, in another one, closes
every socket authenticated with it at once with 4001 (`CLOSE_REVOKED`). A `user` notice (an
admin changed the user's state or roles) and a resync after lost notices have the sockets
concerned checked again through `auth.still_valid`. A sweep every few seconds does the same
for every socket: the safety net that closes sockets whose revocation this process learned only
from its periodic re-reads (no Redis, or a notice lost). Sockets authenticated with an external
provider's token are not closed: the provider, not tradehall, revokes those.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from tradehall.adapters.tasks import stop_task
from tradehall.identity.revocation import Revocation
from tradehall.service.auth import Principal

if TYPE_CHECKING:
    from tradehall.bootstrap import Platform

_log = logging.getLogger(__name__)
REVOKED_REASON = "credentials revoked"


class RevocableSocket(Protocol):
    """A connection as the guard sees it: who it is authenticated as, and how to end it."""

    @property
    def principal(self) -> Principal | None: ...

    def close_revoked(self) -> None:
        """Close with `CLOSE_REVOKED` at once (never awaits the client)."""
        ...


class WsRevocationGuard:
    """Tracks authenticated WebSockets and closes those whose credential was revoked."""

    def __init__(self, sweep_s: float = 5.0) -> None:
        self.sweep_s = sweep_s
        self._platform: Platform | None = None
        self._sockets: set[RevocableSocket] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed = 0

    # -- Component lifecycle --------------------------------------------------------------------

    async def attach(self, platform: Platform) -> None:
        self.open(platform)

    def open(self, platform: Platform) -> None:
        """Listen to the notices and start the sweep (on the running loop)."""
        self._platform = platform
        platform.auth.revocations.subscribe(self)
        self._spawn(self._sweeps())

    async def start(self, platform: Platform) -> None:
        del platform

    async def stop(self) -> None:
        for task in list(self._tasks):  # as every component loop: see adapters/tasks.py
            await stop_task(task)

    # -- Sockets --------------------------------------------------------------------------------

    def track(self, socket: RevocableSocket) -> None:
        self._sockets.add(socket)

    def untrack(self, socket: RevocableSocket) -> None:
        self._sockets.discard(socket)

    # -- Notices (a `RevocationListener`) -------------------------------------------------------

    def revoked(self, notice: Revocation) -> None:
        """Close the sockets of a revoked session or key; re-check a changed user's."""
        if notice.kind == "user":
            self._spawn(self.check(lambda p: p.user_id == notice.subject))
            return
        for socket in list(self._sockets):
            principal = socket.principal
            if principal is not None and _authenticated_with(principal, notice):
                self._close(socket)

    async def resync(self) -> None:
        await self.check()

    async def check(self, which: Callable[[Principal], bool] | None = None) -> None:
        """Check the sockets again (those `which` selects) and close the revoked ones."""
        if self._platform is None:
            return
        auth = self._platform.auth
        for socket in list(self._sockets):
            principal = socket.principal
            if principal is None or (which is not None and not which(principal)):
                continue
            try:
                valid = await auth.still_valid(principal)
            except Exception as exc:
                # The store does not answer: close nothing, and leave the rest of this round
                # (one line, not one per socket); the next sweep retries.
                _log.warning("could not check WebSocket credentials: %s", exc)
                return
            if not valid and socket in self._sockets:
                self._close(socket)

    def _close(self, socket: RevocableSocket) -> None:
        self._sockets.discard(socket)
        self.closed += 1
        socket.close_revoked()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sweeps(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            # Short ticks so a changed interval takes effect without a whole period's wait.
            await asyncio.sleep(min(self.sweep_s, 0.25))
            if loop.time() - last >= self.sweep_s:
                last = loop.time()
                await self.check()


def _authenticated_with(principal: Principal, notice: Revocation) -> bool:
    if notice.kind == "session":
        return principal.method == "token" and principal.session_id == notice.subject
    return notice.kind == "api_key" and principal.key_id == notice.subject


def revocation_guard(platform: Platform) -> WsRevocationGuard:
    """The platform's guard, attached on first use when bootstrap has none."""
    return platform.component(WsRevocationGuard)
