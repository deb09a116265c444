"""Dealing desk routes: the queue of fallback requests, claiming and deciding them, bulk
decisions, an account's context, and the platform mode.

Every route needs the dealer role (the permission table; the use cases check it again). A
decision to execute only marks the request approved: the dispatcher executes it exactly once
when the engine accepts commands. Requests render as on the user routes plus who filed,
claimed and decided them, and the queue adds each request's age and SLA state.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field

from tradehall.entrypoints.api.deps import ContextDep, PlatformDep, PrincipalDep
from tradehall.entrypoints.api.errors import error_responses
from tradehall.entrypoints.api.routers import native_render as render
from tradehall.entrypoints.api.routers.fallback import mode_state, request_public
from tradehall.entrypoints.api.routers.native_common import caught_up, summaries_from_docstrings
from tradehall.entrypoints.api.schemas import fallback as o
from tradehall.entrypoints.api.schemas.native import DecimalIn
from tradehall.fallback.model import MAX_REASON, PlatformMode, RequestKind, RequestStatus
from tradehall.fallback.ports import QueueQuery
from tradehall.fallback.service import QueueItem
from tradehall.kernel.clock import NANOS_PER_SECOND
from tradehall.kernel.errors import InvalidInput
from tradehall.service.refdata import ReferenceData

router = APIRouter(prefix="/v1/desk", tags=["dealing desk"])
MAX_QUEUE = 500
MAX_BULK = 200
_MIN_NOTIONAL_DOC = ("only requests with at least this notional: a decimal amount of the "
                     "symbol's quote asset when `symbol` is given, else an integer of quote "
                     "minor units")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RejectBody(_In):
    code: str | None = Field(default=None, min_length=1, max_length=64,
                             description="a preset reason code (see docs/api.md)")
    reason: str | None = Field(default=None, max_length=4 * MAX_REASON)


class ExecuteBody(_In):
    price: DecimalIn | None = Field(
        default=None, description="execute a close manually at this price (decimal string)")


class BulkBody(_In):
    ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=MAX_BULK)
    action: Literal["execute", "reject"]
    code: str | None = Field(default=None, min_length=1, max_length=64)
    reason: str | None = Field(default=None, max_length=4 * MAX_REASON)


class ModeBody(_In):
    mode: Literal["normal", "close_only", "fallback"]
    reason: str = Field(min_length=1, max_length=4 * MAX_REASON)


def _reason(reason: str | None) -> str | None:
    if reason is not None and len(reason.strip()) > MAX_REASON:
        raise InvalidInput("reason", f"at most {MAX_REASON} characters", code="text_too_long")
    return reason


def item_public(refdata: ReferenceData, item: QueueItem) -> dict[str, Any]:
    out = request_public(refdata, item.request, desk=True)
    out.update({"age_s": item.age_s, "sla": item.sla})
    return out


def _min_notional(platform: PlatformDep, value: str | None, symbol: str | None) -> int | None:
    if value is None:
        return None
    if symbol is not None:
        inst = platform.refdata.instrument(symbol)
        return platform.refdata.parse_amount(inst.quote, value, field="min_notional")
    if not value.isdigit():
        raise InvalidInput("min_notional", "an integer of quote minor units without a symbol",
                           code="invalid_amount")
    return int(value)


@router.get("/queue", response_model=o.DeskQueue,
            responses=error_responses(401, 403, 404, 422))
async def queue(
    platform: PlatformDep, principal: PrincipalDep,
    status: Annotated[list[RequestStatus] | None, Query(
        description="only these statuses (repeatable); default every open one")] = None,
    kind: Annotated[RequestKind | None, Query()] = None,
    symbol: Annotated[str | None, Query(max_length=32)] = None,
    account: Annotated[str | None, Query(max_length=64)] = None,
    username: Annotated[str | None, Query(max_length=64)] = None,
    min_age_s: Annotated[int | None, Query(ge=0, description="only requests older")] = None,
    min_notional: Annotated[DecimalIn | None, Query(description=_MIN_NOTIONAL_DOC)] = None,
    sort: Annotated[Literal["created", "notional", "symbol", "updated"], Query()] = "created",
    desc: Annotated[bool, Query(description="descending order")] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_QUEUE)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """The queue of requests, filtered, sorted and paged, with each one's age and SLA."""
    sym = None if symbol is None else platform.refdata.instrument(symbol).symbol
    before = None if min_age_s is None else (
        platform.clock.now_ns() - min_age_s * NANOS_PER_SECOND)
    query = QueueQuery(statuses=tuple(status or ()), kind=kind, symbol=sym, account=account,
                       username=username, created_before_ns=before,
                       min_notional=_min_notional(platform, min_notional, sym), sort=sort,
                       descending=desc, limit=limit, offset=offset)
    items = await platform.fallback.desk.queue(principal, query)
    return {"requests": [item_public(platform.refdata, i) for i in items]}


@router.get("/summary", response_model=o.DeskSummary, responses=error_responses(401, 403))
async def summary(platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    """Open requests by status, and the platform mode."""
    counts = await platform.fallback.desk.summary(principal)
    return {"open": counts, "mode": mode_state(platform.fallback.modes.current)}


@router.get("/requests/{request_id}", response_model=o.QueueItemPublic,
            responses=error_responses(401, 403, 404))
async def get_request(request_id: str, platform: PlatformDep,
                      principal: PrincipalDep) -> dict[str, Any]:
    """One request with its age and SLA state."""
    item = await platform.fallback.desk.get(principal, request_id[:64])
    return item_public(platform.refdata, item)


@router.get("/accounts/{account}", response_model=o.AccountContextPublic,
            responses=error_responses(401, 403, 404))
async def account_context(account: str, platform: PlatformDep,
                          principal: PrincipalDep) -> dict[str, Any]:
    """An account's balances, orders and positions as last known, and its recent requests."""
    await caught_up(platform)
    found = await platform.fallback.desk.context(principal, account[:64])
    refdata = platform.refdata
    fmt = refdata.format_amount
    return {
        "account": found.account,
        "balances": [{"asset": b.asset, "available": fmt(b.asset, b.available),
                      "held": fmt(b.asset, b.held)} for b in found.balances],
        "orders": [render.order_record(refdata.instrument(o.symbol), o).model_dump()
                   for o in found.orders],
        "positions": [render.position(refdata, p).model_dump() for p in found.positions
                      if p.net_qty != 0],
        "requests": [request_public(refdata, r, desk=True) for r in found.requests],
    }


@router.post("/requests/{request_id}/claim", response_model=o.DeskRequestPublic,
             responses=error_responses(401, 403, 404, 409))
async def claim(request_id: str, platform: PlatformDep, principal: PrincipalDep,
                ctx: ContextDep) -> dict[str, Any]:
    """Claim a request (or renew the caller's claim); 409 while another dealer holds it."""
    found = await platform.fallback.desk.claim(principal, request_id[:64], ctx)
    return request_public(platform.refdata, found, desk=True)


@router.post("/requests/{request_id}/release", response_model=o.DeskRequestPublic,
             responses=error_responses(401, 403, 404, 409))
async def release(request_id: str, platform: PlatformDep, principal: PrincipalDep,
                  ctx: ContextDep) -> dict[str, Any]:
    """Give a claimed request back to the queue."""
    found = await platform.fallback.desk.release(principal, request_id[:64], ctx)
    return request_public(platform.refdata, found, desk=True)


@router.post("/requests/{request_id}/execute", response_model=o.DeskRequestPublic,
             responses=error_responses(401, 403, 404, 409, 422))
async def execute(request_id: str, platform: PlatformDep, principal: PrincipalDep,
                  ctx: ContextDep,
                  body: Annotated[ExecuteBody | None, Body()] = None) -> dict[str, Any]:
    """Decide to execute: at market (approved; the dispatcher executes it once the engine
    is back), or a close manually at `price` (executed now, booked against the house when
    the engine is back); above the four-eyes notional a second dealer approves first."""
    price = None if body is None else body.price
    found = await platform.fallback.desk.execute(principal, request_id[:64], ctx,
                                                 price=price)
    return request_public(platform.refdata, found, desk=True)


@router.post("/requests/{request_id}/approve", response_model=o.DeskRequestPublic,
             responses=error_responses(401, 403, 404, 409))
async def approve(request_id: str, platform: PlatformDep, principal: PrincipalDep,
                  ctx: ContextDep) -> dict[str, Any]:
    """Approve another dealer's decision (four-eyes)."""
    found = await platform.fallback.desk.approve(principal, request_id[:64], ctx)
    return request_public(platform.refdata, found, desk=True)


@router.post("/requests/{request_id}/reject", response_model=o.DeskRequestPublic,
             responses=error_responses(401, 403, 404, 409, 422))
async def reject(request_id: str, platform: PlatformDep, principal: PrincipalDep,
                 ctx: ContextDep,
                 body: Annotated[RejectBody | None, Body()] = None) -> dict[str, Any]:
    """Reject with a preset code and/or a reason the user sees."""
    body = body or RejectBody()
    found = await platform.fallback.desk.reject(principal, request_id[:64], code=body.code,
                                                reason=_reason(body.reason), ctx=ctx)
    return request_public(platform.refdata, found, desk=True)


@router.post("/bulk", response_model=o.BulkResult, responses=error_responses(401, 403, 422))
async def bulk(platform: PlatformDep, principal: PrincipalDep, ctx: ContextDep,
               body: Annotated[BulkBody, Body()]) -> dict[str, Any]:
    """Execute or reject many requests; each has its own outcome."""
    outcomes = await platform.fallback.desk.bulk(principal, body.ids, body.action,
                                                 code=body.code, reason=_reason(body.reason),
                                                 ctx=ctx)
    return {"results": [
        {"id": o.id, "ok": o.ok, "code": o.code, "message": o.message,
         "request": None if o.request is None else request_public(platform.refdata, o.request,
                                                                  desk=True)}
        for o in outcomes]}


@router.get("/mode", response_model=o.DeskModePublic, responses=error_responses(401, 403))
async def get_mode(platform: PlatformDep) -> dict[str, Any]:
    """The platform mode, with who set it."""
    state = await platform.fallback.modes.refresh()
    return {**mode_state(state), "set_by": state.set_by}


@router.put("/mode", response_model=o.DeskModePublic,
            responses=error_responses(401, 403, 409, 422))
async def set_mode(platform: PlatformDep, principal: PrincipalDep, ctx: ContextDep,
                   body: Annotated[ModeBody, Body()]) -> dict[str, Any]:
    """Set the platform mode (audited)."""
    reason = _reason(body.reason)
    assert reason is not None
    state = await platform.fallback.modes.set(PlatformMode(body.mode), actor=principal.username,
                                              reason=reason, ctx=ctx)
    return {**mode_state(state), "set_by": state.set_by}


summaries_from_docstrings(router)
