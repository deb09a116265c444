"""Native orders: place with every engine feature, get, amend, cancel, cancel all, history.

Writes go through the trading use cases; `POST /v1/orders` answers from the command's own
events (the order as accepted plus the fills it made at once), so it needs no read-model round
trip. Reads come from the read models after they caught up with what was published, which gives
read-your-writes. Another account's order answers 404 like a missing one.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from tradehall.entrypoints.api.deps import PlatformDep, PrincipalDep
from tradehall.entrypoints.api.errors import error_responses
from tradehall.entrypoints.api.routers import native_render as render
from tradehall.entrypoints.api.routers.native_common import (
    MAX_LIMIT,
    caught_up,
    cursor_scope,
    decode_cursor,
    encode_cursor,
    keyset_page,
    owned_order,
    summaries_from_docstrings,
)
from tradehall.entrypoints.api.schemas import native as s
from tradehall.kernel.errors import Conflict, NotFound
from tradehall.kernel.ids import AccountId, order_uuid
from tradehall.service.ports import OrderRecord
from tradehall.service.trading import OrderOutcome, PlaceOrder
from tradehall.trading import events as e

router = APIRouter(prefix="/v1", tags=["orders"])
_OPEN = frozenset({"new", "partially_filled", "pending_new"})
_SymbolQuery = Annotated[str | None, Query(max_length=32, description="only this symbol")]
_LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")]
_CursorQuery = Annotated[str | None, Query(max_length=256,
                                           description="`next_cursor` of the previous page")]


async def placed(platform: PlatformDep, account: AccountId,
                 outcome: OrderOutcome) -> s.OrderPlaced:
    """Render an order command's outcome; a duplicate is read back from the read model."""
    seq = outcome.result.seq
    if outcome.duplicate:
        await caught_up(platform, seq)
        record = await platform.read_model.get_order(order_uuid(outcome.order_id))
        assert record is not None, "a duplicate names an order the read model holds"
        inst = platform.refdata.instrument(record.symbol)
        fills = await platform.read_model.list_fills(account, order_id=outcome.order_id,
                                                     limit=MAX_LIMIT)
        return s.OrderPlaced(order=render.order_record(inst, record),
                             fills=[render.fill_record(inst, f) for f in reversed(fills)],
                             duplicate=True, seq=str(seq))
    assert outcome.accepted is not None
    inst = platform.refdata.instrument(outcome.accepted.symbol)
    ts = outcome.result.ts_ns
    return s.OrderPlaced(
        order=render.order_outcome(inst, outcome),
        fills=[render.trade_fill(inst, t, outcome.order_id, account, seq, ts)
               for t in outcome.trades],
        duplicate=False, seq=str(seq))


@router.post("/orders", response_model=s.OrderPlaced, status_code=201,
             responses={**error_responses(401, 403, 404, 409, 422, 503),
                        200: {"model": s.OrderPlaced,
                              "description": "a resubmission: the original order"}})
async def place_order(body: s.OrderCreate, response: Response, platform: PlatformDep,
                      principal: PrincipalDep) -> s.OrderPlaced:
    """Place an order; answer with the order and the fills it made at once."""
    request = PlaceOrder(
        symbol=body.symbol, side=body.side, qty=body.qty, order_type=body.type,
        price=body.price, stop_price=body.stop_price, time_in_force=body.time_in_force,
        post_only=body.post_only, reduce_only=body.reduce_only, stp=body.stp,
        client_order_id=body.client_order_id)
    outcome = await platform.trading.place_order(principal.account, request)
    if outcome.duplicate:
        response.status_code = 200
    return await placed(platform, principal.account, outcome)


@router.get("/orders", response_model=s.OrdersPublic, responses=error_responses(401, 422))
async def list_orders(
    platform: PlatformDep, principal: PrincipalDep,
    status: Annotated[Literal["open", "closed", "all"], Query()] = "open",
    symbol: _SymbolQuery = None, limit: _LimitQuery = 50, cursor: _CursorQuery = None,
) -> s.OrdersPublic:
    """List the caller's orders, newest first, a page at a time."""
    scope = cursor_scope("orders", status, symbol)
    after = decode_cursor(scope, cursor, 2)
    symbols = None if symbol is None else [platform.refdata.instrument(symbol).symbol]
    await caught_up(platform)

    async def fetch(n: int) -> list[OrderRecord]:
        until = None if after is None else after[0] + 1
        return await platform.read_model.list_orders(
            principal.account, status=status, symbols=symbols, until_ns=until, limit=n,
            direction="desc")

    page, next_key = await keyset_page(fetch, lambda r: (r.created_ns, r.order_id), limit,
                                       after)
    instrument = platform.refdata.instrument
    return s.OrdersPublic(
        data=[render.order_record(instrument(r.symbol), r) for r in page],
        next_cursor=None if next_key is None else encode_cursor(scope, next_key))


@router.delete("/orders", response_model=s.CanceledPublic,
               responses=error_responses(401, 404, 422, 503))
async def cancel_all_orders(platform: PlatformDep, principal: PrincipalDep,
                            symbol: _SymbolQuery = None) -> s.CanceledPublic:
    """Cancel every open order of the caller, or of one symbol."""
    result = await platform.trading.cancel_all(principal.account, symbol)
    canceled = [order_uuid(ev.order_id) for ev in result.events
                if isinstance(ev, e.OrderCanceled) and ev.account == principal.account]
    await caught_up(platform, result.seq)
    return s.CanceledPublic(canceled=canceled, seq=str(result.seq))


@router.get("/orders/{order_id}", response_model=s.OrderPublic,
            responses=error_responses(401, 404, 422))
async def get_order(order_id: str, platform: PlatformDep,
                    principal: PrincipalDep) -> s.OrderPublic:
    """Get one of the caller's orders by its UUID."""
    record = await owned_order(platform, principal, order_id)
    return render.order_record(platform.refdata.instrument(record.symbol), record)


async def _open_order(platform: PlatformDep, principal: PrincipalDep,
                      order_id: str) -> OrderRecord:
    record = await owned_order(platform, principal, order_id)
    if record.status not in _OPEN:
        raise Conflict(f"order {order_id} is {record.status}", code="order_not_open")
    return record


async def _closed_meanwhile(platform: PlatformDep, record: OrderRecord) -> Conflict:
    # The engine finished the order after the read model last showed it open.
    await caught_up(platform)
    fresh = await platform.read_model.get_order(record.id) or record
    return Conflict(f"order {record.id} is {fresh.status}", code="order_not_open")


async def _reread(platform: PlatformDep, record: OrderRecord, seq: int) -> s.OrderPublic:
    await caught_up(platform, seq)
    fresh = await platform.read_model.get_order(record.id) or record
    return render.order_record(platform.refdata.instrument(fresh.symbol), fresh)


@router.delete("/orders/{order_id}", response_model=s.OrderPublic,
               responses=error_responses(401, 404, 409, 422, 503))
async def cancel_order(order_id: str, platform: PlatformDep,
                       principal: PrincipalDep) -> s.OrderPublic:
    """Cancel one of the caller's open orders; answer with the order after it."""
    record = await _open_order(platform, principal, order_id)
    try:
        result = await platform.trading.cancel_order(principal.account, record.order_id)
    except NotFound:
        raise await _closed_meanwhile(platform, record) from None
    return await _reread(platform, record, result.seq)


@router.patch("/orders/{order_id}", response_model=s.OrderPublic,
              responses=error_responses(401, 403, 404, 409, 422, 503))
async def amend_order(order_id: str, body: s.OrderUpdate, platform: PlatformDep,
                      principal: PrincipalDep) -> s.OrderPublic:
    """Amend a resting order's total quantity and/or price (a decrease keeps priority)."""
    record = await _open_order(platform, principal, order_id)
    try:
        result = await platform.trading.amend_order(
            principal.account, record.symbol, record.client_order_id, qty=body.qty,
            price=body.price, current_qty=record.qty)
    except NotFound:
        raise await _closed_meanwhile(platform, record) from None
    return await _reread(platform, record, result.seq)


summaries_from_docstrings(router)
