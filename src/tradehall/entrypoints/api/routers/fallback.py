"""Fallback routes of users: the platform mode, the last-known account, and requests to the
dealing desk (cancel an order, close a position, cancel all, close all) while the engine is
unavailable.

The body is checked here, before any use case runs (unknown fields refused, the fields each
kind needs, bounded texts), so a malformed request stores nothing. Lots, ticks and minor
units leave as decimal strings of the request's instrument, times as RFC 3339 text, like the
native API. Another account's request answers 404 like a missing one (the use case checks).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from tradehall.entrypoints.api.deps import ContextDep, PlatformDep, PrincipalDep
from tradehall.entrypoints.api.errors import error_responses
from tradehall.entrypoints.api.routers import native_render as render
from tradehall.entrypoints.api.routers.native_common import caught_up, summaries_from_docstrings
from tradehall.entrypoints.api.schemas import fallback as o
from tradehall.entrypoints.api.schemas.native import DecimalIn
from tradehall.fallback.model import MAX_NOTE, FallbackRequest, ModeState
from tradehall.fallback.service import MAX_IDEMPOTENCY_KEY, AccountSnapshot
from tradehall.kernel.errors import InvalidInput
from tradehall.service.refdata import ReferenceData

router = APIRouter(prefix="/v1/fallback", tags=["fallback"])
MAX_LIST = 500
RequestKindIn = Literal["cancel_order", "close_position", "cancel_all", "close_all"]


class FallbackRequestCreate(BaseModel):
    """A request to the dealing desk; which fields a kind takes is checked by the route."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: RequestKindIn
    order_id: str | None = Field(default=None, min_length=1, max_length=64)
    symbol: str | None = Field(default=None, min_length=1, max_length=32)
    qty: DecimalIn | None = None
    note: str = Field(default="", max_length=4 * MAX_NOTE)


# Which optional fields each kind takes, and which it needs.
_TAKES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "cancel_order": (frozenset({"order_id"}), frozenset({"order_id"})),
    "close_position": (frozenset({"symbol", "qty"}), frozenset({"symbol"})),
    "cancel_all": (frozenset({"symbol"}), frozenset()),
    "close_all": (frozenset(), frozenset()),
}


def checked(body: FallbackRequestCreate) -> FallbackRequestCreate:
    """Refuse fields a kind does not take and missing ones it needs, and over-long notes."""
    takes, needs = _TAKES[body.kind]
    for name in ("order_id", "symbol", "qty"):
        given = getattr(body, name) is not None
        if given and name not in takes:
            raise InvalidInput(name, f"not allowed with kind {body.kind}",
                               code="field_not_allowed")
        if not given and name in needs:
            raise InvalidInput(name, f"required with kind {body.kind}", code="missing_field")
    if len(body.note.strip()) > MAX_NOTE:
        raise InvalidInput("note", f"at most {MAX_NOTE} characters", code="text_too_long")
    return body


def mode_state(state: ModeState) -> dict[str, Any]:
    """The platform mode as the banner shows it."""
    return {"mode": state.mode.value, "since": render.timestamp(state.since_ns)
            if state.since_ns else None, "reason": state.reason,
            "automatic": state.automatic}


def _time(ns: int | None) -> str | None:
    return None if ns is None else render.timestamp(ns)


def request_public(refdata: ReferenceData, r: FallbackRequest, *,
                   desk: bool = False) -> dict[str, Any]:
    """Render a request with the decimals of its instrument (the desk also sees who)."""
    inst = refdata.instrument(r.symbol)
    out: dict[str, Any] = {
        "id": r.id, "kind": r.kind.value, "symbol": r.symbol, "order_id": r.order_id,
        "side": r.side, "qty": None if r.qty is None else inst.format_qty(r.qty),
        "known_qty": inst.format_qty(r.known_qty),
        "known_price": None if r.known_price is None else inst.format_price(r.known_price),
        "notional": inst.format_quote(r.notional), "note": r.note, "batch_id": r.batch_id,
        "status": r.status.value, "created_at": render.timestamp(r.created_ns),
        "updated_at": render.timestamp(r.updated_ns),
        "claimed": r.status.value == "claimed",
        "execution": None if r.execution is None else r.execution.value,
        "price": None if r.price is None else inst.format_price(r.price),
        "executed_qty": None if r.executed_qty is None else inst.format_qty(r.executed_qty),
        "executed_at": _time(r.executed_ns), "booking": r.booking.value,
        "reject_code": r.reject_code, "reject_reason": r.reject_reason,
        "engine_order_id": r.engine_order_id,
    }
    if desk:
        out.update({"account": r.account, "user_id": r.user_id, "username": r.username,
                    "claimed_by": r.claimed_by, "claim_expires_at": _time(r.claim_expires_ns),
                    "decided_by": r.decided_by, "approved_by": r.approved_by,
                    "version": r.version})
    return out


def snapshot_public(refdata: ReferenceData, snap: AccountSnapshot) -> dict[str, Any]:
    fmt = refdata.format_amount
    return {
        "account": snap.account, "as_of": render.timestamp(snap.as_of_ns),
        "projected_seq": str(snap.projected_seq), "mode": mode_state(snap.mode),
        "orders": [render.order_record(refdata.instrument(o.symbol), o).model_dump()
                   for o in snap.orders],
        "positions": [render.position(refdata, p).model_dump() for p in snap.positions
                      if p.net_qty != 0],
        "balances": [{"asset": b.asset, "available": fmt(b.asset, b.available),
                      "held": fmt(b.asset, b.held)} for b in snap.balances],
        "requests": [request_public(refdata, r) for r in snap.requests],
    }


@router.get("/status", response_model=o.ModePublic, responses=error_responses())
async def status(platform: PlatformDep, response: Response) -> dict[str, Any]:
    """The platform mode (normal, close_only, fallback), since when and why (public).

    Cacheable for 2 s: every open page polls it, so a CDN or proxy in front can answer most.
    """
    response.headers["Cache-Control"] = "public, max-age=2"
    return mode_state(platform.fallback.modes.current)


@router.get("/snapshot", response_model=o.FallbackSnapshotPublic,
            responses=error_responses(401))
async def snapshot(platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    """The caller's orders, positions and balances as last known, and their open requests."""
    await caught_up(platform)
    snap = await platform.fallback.requests.snapshot(principal)
    return snapshot_public(platform.refdata, snap)


@router.get("/requests", response_model=o.FallbackRequestList,
            responses=error_responses(401, 422))
async def list_requests(
    platform: PlatformDep, principal: PrincipalDep,
    open_only: Annotated[bool, Query(alias="open", description="only open requests")] = False,
    updated_after: Annotated[int | None, Query(
        ge=0, description="only requests changed after this time (UTC nanoseconds)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST, description="at most this many")] = 100,
) -> dict[str, Any]:
    """The caller's requests, newest first (or changed after a time, for polling)."""
    found = await platform.fallback.requests.list(principal, open_only=open_only,
                                                  updated_after_ns=updated_after, limit=limit)
    return {"requests": [request_public(platform.refdata, r) for r in found]}


@router.get("/requests/{request_id}", response_model=o.FallbackRequestPublic,
            responses=error_responses(401, 404))
async def get_request(request_id: str, platform: PlatformDep,
                      principal: PrincipalDep) -> dict[str, Any]:
    """One of the caller's requests."""
    found = await platform.fallback.requests.get(principal, request_id[:64])
    return request_public(platform.refdata, found)


@router.post("/requests", status_code=201, response_model=o.FallbackRequestList,
             responses=error_responses(401, 403, 404, 409, 422))
async def file_request(
    platform: PlatformDep, principal: PrincipalDep, ctx: ContextDep, response: Response,
    body: Annotated[FallbackRequestCreate, Body()],
    idempotency_key: Annotated[str | None, Header(
        min_length=1, max_length=MAX_IDEMPOTENCY_KEY,
        description="repeat-safe key: the same key and body answer the same requests")] = None,
) -> dict[str, Any]:
    """File a request to the desk (only while the platform is in fallback); 200 on a repeat."""
    body = checked(body)
    parts = platform.fallback
    repeat = idempotency_key is not None and await parts.store.idempotency_record(
        principal.account, idempotency_key) is not None
    await caught_up(platform)
    svc = parts.requests
    note, key = body.note, idempotency_key
    filed: list[FallbackRequest]
    if body.kind == "cancel_order":
        assert body.order_id is not None
        filed = [await svc.cancel_order(principal, body.order_id, note=note,
                                        idempotency_key=key, ctx=ctx)]
    elif body.kind == "close_position":
        assert body.symbol is not None
        filed = [await svc.close_position(principal, body.symbol, qty=body.qty, note=note,
                                          idempotency_key=key, ctx=ctx)]
    elif body.kind == "cancel_all":
        filed = await svc.cancel_all(principal, symbol=body.symbol, note=note,
                                     idempotency_key=key, ctx=ctx)
    else:
        filed = await svc.close_all(principal, note=note, idempotency_key=key, ctx=ctx)
    if repeat:
        response.status_code = 200
    return {"requests": [request_public(platform.refdata, r) for r in filed]}


@router.delete("/requests/{request_id}", response_model=o.FallbackRequestPublic,
               responses=error_responses(401, 404, 409))
async def withdraw_request(request_id: str, platform: PlatformDep, principal: PrincipalDep,
                           ctx: ContextDep) -> dict[str, Any]:
    """Withdraw a pending request (refused once a dealer has it)."""
    found = await platform.fallback.requests.withdraw(principal, request_id[:64], ctx)
    return request_public(platform.refdata, found)


summaries_from_docstrings(router)
