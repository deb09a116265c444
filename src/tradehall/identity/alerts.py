"""`AlertService`: notices a user sees in their account (a new device signed in, and later the
fallback desk's and other parts' notifications), with the `AlertStore` port.

Generic on purpose: an alert is a kind, a title, a detail text, when it was raised and whether
it was read. Never put a secret or token into an alert.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from tradehall.kernel.clock import Clock
from tradehall.kernel.errors import NotFound
from tradehall.kernel.ids import random_uuid

MAX_LIST = 200


class AlertRecord(msgspec.Struct, frozen=True, kw_only=True):
    alert_id: str
    user_id: str
    kind: str
    """Dotted or snake name of what happened, e.g. `new_device`."""
    title: str
    detail: str
    created_ns: int
    read_ns: int | None = None


class AlertStore(Protocol):
    """Alerts of users."""

    async def add_alert(self, alert: AlertRecord) -> None: ...

    async def list_alerts(self, user_id: str, *, unread_only: bool,
                          limit: int) -> list[AlertRecord]:
        """A user's alerts, newest first."""
        ...

    async def mark_alert_read(self, user_id: str, alert_id: str, read_ns: int) -> bool:
        """Mark one of the user's alerts read (kept read if it was); False when not theirs."""
        ...

    async def mark_all_alerts_read(self, user_id: str, read_ns: int) -> int: ...


class AlertService:
    """Raise, list and acknowledge a user's alerts."""

    def __init__(self, store: AlertStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def raise_alert(self, user_id: str, kind: str, title: str,
                          detail: str = "") -> AlertRecord:
        """Record an alert for a user."""
        alert = AlertRecord(alert_id=random_uuid(), user_id=user_id, kind=kind[:64],
                            title=title[:200], detail=detail[:4000],
                            created_ns=self._clock.now_ns())
        await self._store.add_alert(alert)
        return alert

    async def list_alerts(self, user_id: str, *, unread_only: bool = False,
                          limit: int = 50) -> list[AlertRecord]:
        """A user's alerts, newest first."""
        return await self._store.list_alerts(user_id, unread_only=unread_only,
                                             limit=max(1, min(limit, MAX_LIST)))

    async def mark_read(self, user_id: str, alert_id: str) -> None:
        """Mark one of the user's own alerts read; NotFound for anyone else's."""
        if not await self._store.mark_alert_read(user_id, alert_id, self._clock.now_ns()):
            raise NotFound(f"alert {alert_id} not found", code="alert_not_found")

    async def mark_all_read(self, user_id: str) -> int:
        """Mark every unread alert of the user read; return how many."""
        return await self._store.mark_all_alerts_read(user_id, self._clock.now_ns())
