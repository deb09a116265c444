"""The user's alerts (`/v1/account/alerts`): new-device sign-ins and other parts' notices,
newest first, marked read one by one or all at once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from tradehall.entrypoints.api.deps import PlatformDep, PrincipalDep
from tradehall.entrypoints.api.errors import error_responses
from tradehall.identity.alerts import MAX_LIST, AlertRecord
from tradehall.kernel.clock import NANOS_PER_SECOND

router = APIRouter(prefix="/v1/account/alerts", tags=["account"])


class AlertPublic(BaseModel):
    alert_id: str
    kind: str
    title: str
    detail: str
    created_at_s: int
    read: bool
    read_at_s: int | None


class AlertsPublic(BaseModel):
    alerts: list[AlertPublic]


class MarkedPublic(BaseModel):
    marked: int


@router.get("", response_model=AlertsPublic, responses=error_responses(401, 422))
async def list_alerts(principal: PrincipalDep, platform: PlatformDep,
                      unread: Annotated[bool, Query()] = False,
                      limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 50) -> AlertsPublic:
    """The caller's alerts, newest first (`unread=true`: only those not read yet)."""
    alerts = await platform.auth.alerts.list_alerts(principal.user_id, unread_only=unread,
                                                    limit=limit)
    return AlertsPublic(alerts=[_alert(a) for a in alerts])


@router.post("/read-all", response_model=MarkedPublic, responses=error_responses(401))
async def mark_all_read(principal: PrincipalDep, platform: PlatformDep) -> MarkedPublic:
    """Mark every unread alert of the caller read."""
    return MarkedPublic(marked=await platform.auth.alerts.mark_all_read(principal.user_id))


@router.post("/{alert_id}/read", status_code=204, responses=error_responses(401, 404))
async def mark_read(alert_id: str, principal: PrincipalDep, platform: PlatformDep) -> Response:
    """Mark one of the caller's alerts read (another user's id answers 404)."""
    await platform.auth.alerts.mark_read(principal.user_id, alert_id[:64])
    return Response(status_code=204)


def _alert(a: AlertRecord) -> AlertPublic:
    return AlertPublic(alert_id=a.alert_id, kind=a.kind, title=a.title, detail=a.detail,
                       created_at_s=a.created_ns // NANOS_PER_SECOND, read=a.read_ns is not None,
                       read_at_s=None if a.read_ns is None else a.read_ns // NANOS_PER_SECOND)
