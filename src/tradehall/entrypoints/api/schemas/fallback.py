"""Answers of the fallback and dealing-desk routes (`routers/fallback.py`, `desk.py`).

Declared so the OpenAPI describes them (the web pages' types are generated from it). Every
field is required (nullable where it may be empty): the renderers always give all of them.
Numbers are decimal strings of the request's instrument, times RFC 3339 text.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from tradehall.entrypoints.api.schemas.native import OrderPublic, PositionPublic
from tradehall.fallback.model import RequestKind, RequestStatus


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ModePublic(_Out):
    """The platform mode as the banner shows it."""

    mode: Literal["normal", "close_only", "fallback"]
    since: str | None
    reason: str
    automatic: bool


class DeskModePublic(ModePublic):
    set_by: str


class FallbackRequestPublic(_Out):
    """A request as its owner sees it."""

    id: str
    kind: RequestKind
    symbol: str
    order_id: str | None
    side: str
    """The order's side, or the position's direction (`long`, `short`) for a close."""
    qty: str | None
    """The quantity to close; null: the whole position."""
    known_qty: str
    known_price: str | None
    notional: str
    note: str
    batch_id: str | None
    status: RequestStatus
    created_at: str
    updated_at: str
    claimed: bool
    execution: Literal["engine", "manual"] | None
    price: str | None
    executed_qty: str | None
    executed_at: str | None
    booking: Literal["none", "pending", "booked", "failed"]
    reject_code: str | None
    reject_reason: str | None
    engine_order_id: str | None


class DeskRequestPublic(FallbackRequestPublic):
    """A request as the desk sees it: who filed, claimed and decided it."""

    account: str
    user_id: str
    username: str
    claimed_by: str | None
    claim_expires_at: str | None
    decided_by: str | None
    approved_by: str | None
    version: int


class QueueItemPublic(DeskRequestPublic):
    age_s: int
    sla: Literal["ok", "warn", "breach"]


class KnownBalance(_Out):
    asset: str
    available: str
    held: str


class FallbackSnapshotPublic(_Out):
    """The caller's last-known state and open requests."""

    account: str
    as_of: str
    projected_seq: str
    mode: ModePublic
    orders: list[OrderPublic]
    positions: list[PositionPublic]
    balances: list[KnownBalance]
    requests: list[FallbackRequestPublic]


class FallbackRequestList(_Out):
    requests: list[FallbackRequestPublic]


class DeskQueue(_Out):
    requests: list[QueueItemPublic]


class DeskSummary(_Out):
    open: dict[str, int]
    mode: ModePublic


class AccountContextPublic(_Out):
    account: str
    balances: list[KnownBalance]
    orders: list[OrderPublic]
    positions: list[PositionPublic]
    requests: list[DeskRequestPublic]


class BulkOutcomePublic(_Out):
    id: str
    ok: bool
    code: str | None
    message: str | None
    request: DeskRequestPublic | None


class BulkResult(_Out):
    results: list[BulkOutcomePublic]
