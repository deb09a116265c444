"""Alpaca `/v2/orders`: submit, list, get (by id and client order id), replace, cancel one and all.

Routes validate, call the trading use cases for writes and the read model for reads, and map
records into Alpaca's shape (`alpaca_mapping`). After every write they wait until the read model
includes the command, so a following GET sees it. Another account's order is answered exactly
like an unknown one (404). Replace amends in place: the order keeps its id (docs/api-alpaca.md).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from tradehall.entrypoints.api.deps import PlatformDep, PrincipalDep
from tradehall.entrypoints.api.errors import ApiError, error_responses
from tradehall.entrypoints.api.routers import alpaca_mapping as m
from tradehall.entrypoints.api.schemas import alpaca as s
from tradehall.kernel.errors import InvalidInput, NotFound, Rejected, TradehallError
from tradehall.kernel.ids import ClientOrderId, Symbol, order_uuid
from tradehall.service.ports import OrderRecord
from tradehall.service.trading import OrderOutcome, PlaceOrder
from tradehall.trading import events as e
from tradehall.trading.instrument import Instrument
from tradehall.trading.model import InstrumentKind

router = APIRouter(prefix="/v2", tags=["alpaca: orders"])
MAX_LIST = 500
_FIELDS = {"price": "limit_price", "type": "type"}
_INTENT_CLOSE = frozenset({"buy_to_close", "sell_to_close"})
_INTENTS = _INTENT_CLOSE | {"buy_to_open", "sell_to_open"}


def _openapi(model: type[s.AlpacaOrderCreate] | type[s.AlpacaOrderReplace]) -> dict[str, object]:
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": model.model_json_schema()}}}}


def _unsupported(field: str, message: str) -> ApiError:
    return ApiError(422, "unsupported", f"{field}: {message}", field)


def _place_request(body: s.AlpacaOrderCreate, inst: Instrument) -> PlaceOrder:
    if body.notional is not None:
        raise _unsupported("notional", "notional orders are not supported; give qty")
    if body.qty is None:
        raise ApiError(422, "missing_field", "qty: is required", "qty")
    for name in ("trail_price", "trail_percent", "take_profit", "stop_loss", "legs"):
        if getattr(body, name) is not None:
            raise _unsupported(name, "trailing stops and multi-leg orders are not supported")
    if body.position_intent is not None and body.position_intent not in _INTENTS:
        raise ApiError(422, "invalid_value", f"position_intent: {body.position_intent!r} is "
                       f"not one of {', '.join(sorted(_INTENTS))}", "position_intent")
    if body.order_class not in (None, "", "simple"):
        raise _unsupported("order_class", "only simple orders are supported")
    if body.type.lower() in ("market", "stop") and body.limit_price is not None:
        raise ApiError(422, "price_not_allowed", "limit_price: not allowed for this type",
                       "limit_price")
    return PlaceOrder(
        symbol=inst.symbol, side=body.side, qty=body.qty, order_type=body.type,
        price=body.limit_price, stop_price=body.stop_price, time_in_force=body.time_in_force,
        post_only=body.post_only,
        # Closing intents reduce a margin position; a spot sell reduces a holding anyway.
        reduce_only=(body.position_intent in _INTENT_CLOSE
                     and inst.kind is InstrumentKind.MARGIN),
        client_order_id=body.client_order_id)


async def _owned(platform: PlatformDep, principal: PrincipalDep, order_id: str) -> OrderRecord:
    try:
        key = str(uuid.UUID(order_id))
    except ValueError:
        raise ApiError(422, "invalid_order_id", "order_id: must be a UUID",
                       "order_id") from None
    rec = await platform.read_model.get_order(key)
    if rec is None or rec.account != principal.account:
        raise NotFound("order not found", code="order_not_found")
    return rec


def _render(platform: PlatformDep, rec: OrderRecord) -> s.AlpacaOrder:
    return m.render_order(platform.refdata.instrument(rec.symbol), rec)


async def render_outcome(platform: PlatformDep, outcome: OrderOutcome) -> s.AlpacaOrder:
    """The order an order command created (from its events), or the original of a duplicate."""
    await platform.read_model.wait_for(outcome.result.seq)
    if outcome.accepted is None:
        rec = await platform.read_model.get_order(order_uuid(outcome.order_id))
        if rec is None:
            raise NotFound("order not found", code="order_not_found")
        return _render(platform, rec)
    result = outcome.result
    rec = m.order_from_accepted(outcome.accepted, result.seq, result.ts_ns)
    for ev in result.events:
        rec = m.apply_event(rec, ev, result.seq, result.ts_ns)
    return _render(platform, rec)


@router.post("/orders", summary="Submit an order", response_model=s.AlpacaOrder,
             openapi_extra=_openapi(s.AlpacaOrderCreate),
             responses=error_responses(400, 401, 403, 409, 422))
async def submit_order(request: Request, platform: PlatformDep,
                       principal: PrincipalDep) -> s.AlpacaOrder:
    """Submit a market, limit, stop or stop-limit order (numbers as strings or JSON numbers)."""
    body = m.decode_body(await request.body(), s.AlpacaOrderCreate)
    try:
        req = _place_request(body, m.resolve_symbol(platform.refdata, body.symbol))
        outcome = await platform.trading.place_order(principal.account, req)
    except InvalidInput as exc:
        raise m.remap_field(exc, _FIELDS) from None
    except NotFound as exc:
        if exc.code == "unknown_symbol":
            raise ApiError(422, "unknown_symbol", f"symbol: {exc.message}", "symbol") from None
        raise
    except TradehallError as exc:
        if exc.code == "duplicate_client_order_id":
            raise ApiError(422, exc.code, f"client_order_id: {exc.message}",
                           "client_order_id") from None
        raise
    return await render_outcome(platform, outcome)


@router.get("/orders", summary="List orders", response_model=list[s.AlpacaOrder],
            responses=error_responses(401, 422))
async def list_orders(
    platform: PlatformDep, principal: PrincipalDep,
    status: Literal["open", "closed", "all"] = "open",
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 50,
    after: str | None = None, until: str | None = None,
    direction: Literal["asc", "desc"] = "desc",
    nested: bool | None = None,
    side: Literal["buy", "sell"] | None = None,
    symbols: str | None = None,
) -> list[s.AlpacaOrder]:
    """Orders of the caller by submission time; `symbols` is a comma-separated list."""
    wanted: list[Symbol] | None = None
    if symbols:
        try:
            wanted = [m.resolve_symbol(platform.refdata, text).symbol
                      for text in symbols.split(",") if text.strip()]
        except NotFound as exc:
            raise ApiError(422, "unknown_symbol", f"symbols: {exc.message}",
                           "symbols") from None
    records = await platform.read_model.list_orders(
        principal.account, status=status, symbols=wanted,
        after_ns=None if after is None else m.parse_time(after, "after"),
        until_ns=None if until is None else m.parse_time(until, "until"),
        limit=MAX_LIST if side else limit, direction=direction)
    if side is not None:
        records = [r for r in records if r.side == side][:limit]
    return [_render(platform, r) for r in records]


@router.get("/orders:by_client_order_id", summary="Get an order by client order id",
            response_model=s.AlpacaOrder, responses=error_responses(401, 404, 422))
async def get_order_by_client_id(platform: PlatformDep, principal: PrincipalDep,
                                 client_order_id: str) -> s.AlpacaOrder:
    """One of the caller's orders by the client order id it was submitted with."""
    rec = await platform.read_model.get_order_by_client_id(principal.account,
                                                           ClientOrderId(client_order_id))
    if rec is None:
        raise NotFound("order not found", code="order_not_found")
    return _render(platform, rec)


@router.get("/orders/{order_id}", summary="Get an order", response_model=s.AlpacaOrder,
            responses=error_responses(401, 404, 422))
async def get_order(platform: PlatformDep, principal: PrincipalDep, order_id: str,
                    nested: bool | None = None) -> s.AlpacaOrder:
    """One of the caller's orders by id."""
    return _render(platform, await _owned(platform, principal, order_id))


@router.patch("/orders/{order_id}", summary="Replace an order (amended in place)",
              response_model=s.AlpacaOrder, openapi_extra=_openapi(s.AlpacaOrderReplace),
              responses=error_responses(400, 401, 403, 404, 422))
async def replace_order(request: Request, platform: PlatformDep, principal: PrincipalDep,
                        order_id: str) -> s.AlpacaOrder:
    """Change the total qty and/or limit price of a resting order; it keeps its id."""
    body = m.decode_body(await request.body(), s.AlpacaOrderReplace)
    rec = await _owned(platform, principal, order_id)
    _check_replace(body, rec)
    try:
        result = await platform.trading.amend_order(
            principal.account, rec.symbol, rec.client_order_id, qty=body.qty,
            price=body.limit_price, current_qty=rec.qty)
    except InvalidInput as exc:
        raise m.remap_field(exc, _FIELDS) from None
    except NotFound as exc:
        raise ApiError(422, "order_not_replaceable", exc.message) from None
    await platform.read_model.wait_for(result.seq)
    for ev in result.events:
        rec = m.apply_event(rec, ev, result.seq, result.ts_ns)
    return _render(platform, rec)


def _check_replace(body: s.AlpacaOrderReplace, rec: OrderRecord) -> None:
    if rec.status not in m.OPEN_STATUSES:
        raise ApiError(422, "order_not_replaceable",
                       f"order is already in {rec.status!r} state")
    if body.trail is not None:
        raise _unsupported("trail", "trailing stops are not supported")
    if body.stop_price is not None:
        raise _unsupported("stop_price", "the stop price of an order cannot be changed")
    if body.time_in_force is not None and body.time_in_force.lower() != rec.time_in_force:
        raise _unsupported("time_in_force", "the time in force cannot be changed")
    if body.client_order_id not in (None, rec.client_order_id):
        raise _unsupported("client_order_id", "the order is amended in place and keeps "
                           "its client order id")
    if body.limit_price is not None and rec.order_type not in ("limit", "stop_limit"):
        raise ApiError(422, "price_not_allowed", "limit_price: the order has no limit price",
                       "limit_price")
    if body.qty is None and body.limit_price is None:
        raise ApiError(422, "nothing_to_amend", "give a new qty or limit_price", "qty")


@router.delete("/orders/{order_id}", summary="Cancel an order", status_code=204,
               response_class=Response, responses=error_responses(401, 404, 422))
async def cancel_order(platform: PlatformDep, principal: PrincipalDep,
                       order_id: str) -> Response:
    """Cancel one of the caller's open orders (204); a closed order answers 422."""
    rec = await _owned(platform, principal, order_id)
    if rec.status not in m.OPEN_STATUSES:
        raise ApiError(422, "order_not_cancelable", f"order is already in {rec.status!r} state")
    try:
        result = await platform.trading.cancel_order(principal.account, rec.order_id)
    except NotFound:
        # It closed (filled, canceled) between the read and the cancel.
        raise ApiError(422, "order_not_cancelable", "order is no longer open") from None
    await platform.read_model.wait_for(result.seq)
    return Response(status_code=204)


@router.delete("/orders", summary="Cancel all open orders", status_code=207,
               response_model=list[s.AlpacaCancelResult], responses=error_responses(401))
async def cancel_all_orders(platform: PlatformDep,
                            principal: PrincipalDep) -> JSONResponse:
    """Cancel every open order of the caller; answers 207 with one entry per order."""
    try:
        result = await platform.trading.cancel_all(principal.account)
    except Rejected as exc:
        raise ApiError(422, exc.code, exc.message) from None
    await platform.read_model.wait_for(result.seq)
    entries: list[dict[str, object]] = []
    for ev in result.events:
        if isinstance(ev, e.OrderCanceled):
            rec = await platform.read_model.get_order(order_uuid(ev.order_id))
            body = None if rec is None else _render(platform, rec)
            entries.append(s.AlpacaCancelResult(id=order_uuid(ev.order_id), status=200,
                                                body=body).model_dump(mode="json"))
    return JSONResponse(entries, status_code=207)
