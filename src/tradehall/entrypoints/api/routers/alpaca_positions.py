"""Alpaca `/v2/positions`: list, get, close one (`qty` or `percentage`), close all.

Positions are the read model's: spot holdings (always long) and margin positions (long or
short, signed quantity). They are valued at the last price (`market_price`, the one place that
chooses it: the last trade seen by the stream component, else the newest one-minute candle,
else the average entry price). Closing sends a market order through the trading use case:
a sell of the holding for spot, the engine's reduce-only close for margin.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import TYPE_CHECKING

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tradehall.entrypoints.api.deps import PlatformDep, PrincipalDep
from tradehall.entrypoints.api.errors import ApiError, error_responses, status_of
from tradehall.entrypoints.api.routers import alpaca_mapping as m
from tradehall.entrypoints.api.routers.alpaca_orders import render_outcome
from tradehall.entrypoints.api.schemas import alpaca as s
from tradehall.entrypoints.api.ws.alpaca_stream import trade_updates_of
from tradehall.kernel.errors import InvalidInput, NotFound, TradehallError
from tradehall.kernel.ids import AccountId
from tradehall.service.ports import PositionRecord
from tradehall.trading.instrument import Instrument
from tradehall.trading.model import InstrumentKind

if TYPE_CHECKING:
    from tradehall.bootstrap import Platform

router = APIRouter(prefix="/v2", tags=["alpaca: positions"])
_MINUTE = 60


async def market_price(platform: Platform, inst: Instrument) -> int | None:
    """The price (ticks) positions are valued at; None when nothing has traded yet."""
    price = trade_updates_of(platform).last_price(inst.symbol)
    if price is not None:
        return price
    candles = await platform.read_model.candles(inst.symbol, _MINUTE, limit=1)
    return candles[-1].close if candles else None


@dataclass(frozen=True, slots=True)
class Valuation:
    """One position in quote-currency decimals (signed: a short has negative qty and value)."""

    inst: Instrument
    record: PositionRecord
    price: Decimal
    market_value: Decimal
    cost_basis: Decimal

    @property
    def unrealized(self) -> Decimal:
        return self.market_value - self.cost_basis


async def value(platform: Platform, rec: PositionRecord) -> Valuation:
    inst = platform.refdata.instrument(rec.symbol)
    lots = abs(rec.net_qty)
    sign = 1 if rec.net_qty > 0 else -1
    entry = Decimal(abs(rec.cost_ticks)) * inst.tick_size / Decimal(lots)
    ticks = await market_price(platform, inst)
    price = entry if ticks is None else Decimal(ticks) * inst.tick_size
    qty = Decimal(rec.net_qty) * inst.lot_size
    return Valuation(inst, rec, price, qty * price,
                     sign * Decimal(abs(rec.cost_ticks)) * inst.tick_size * inst.lot_size)


async def valuations(platform: Platform, account: AccountId) -> list[Valuation]:
    records = await platform.read_model.positions(account)
    return [await value(platform, r) for r in records if r.net_qty != 0]


async def _render(platform: Platform, v: Valuation, account: AccountId) -> s.AlpacaPosition:
    inst, rec = v.inst, v.record
    lots = abs(rec.net_qty)
    available = lots
    if inst.kind is not InstrumentKind.MARGIN:
        balances = await platform.read_model.balances(account)
        base = next((b for b in balances if b.asset == inst.base), None)
        free = 0 if base is None else base.available // inst.base_per_lot
        available = max(0, min(lots, free))
    sign = "-" if rec.net_qty < 0 else ""
    pl = m.money_text(inst, v.unrealized)
    plpc = "0" if v.cost_basis == 0 else m.quantize(v.unrealized / abs(v.cost_basis), 6)
    price = m.price_text(inst, v.price)
    return s.AlpacaPosition(
        asset_id=m.asset_id(inst), symbol=m.alpaca_symbol(inst), exchange=m.exchange(inst),
        asset_class=m.asset_class(inst), asset_marginable=inst.kind is InstrumentKind.MARGIN,
        qty=sign + inst.format_qty(lots), qty_available=sign + inst.format_qty(available),
        avg_entry_price=m.price_text(inst, Decimal(abs(rec.cost_ticks)) * inst.tick_size
                                     / Decimal(lots)),
        side="short" if rec.net_qty < 0 else "long",
        market_value=m.money_text(inst, v.market_value),
        cost_basis=m.money_text(inst, v.cost_basis), unrealized_pl=pl, unrealized_plpc=plpc,
        unrealized_intraday_pl=pl, unrealized_intraday_plpc=plpc, current_price=price,
        lastday_price=price, change_today="0")


async def _position(platform: Platform, account: AccountId, symbol: str) -> Valuation:
    inst = m.resolve_symbol(platform.refdata, symbol)
    for rec in await platform.read_model.positions(account):
        if rec.symbol == inst.symbol and rec.net_qty != 0:
            return await value(platform, rec)
    raise NotFound(f"position does not exist: {m.alpaca_symbol(inst)}", code="no_position")


@router.get("/positions", summary="List open positions", response_model=list[s.AlpacaPosition],
            responses=error_responses(401))
async def list_positions(platform: PlatformDep,
                         principal: PrincipalDep) -> list[s.AlpacaPosition]:
    """Every open position of the caller, valued at the last price."""
    return [await _render(platform, v, principal.account)
            for v in await valuations(platform, principal.account)]


@router.get("/positions/{symbol:path}", summary="Get an open position",
            response_model=s.AlpacaPosition, responses=error_responses(401, 404))
async def get_position(platform: PlatformDep, principal: PrincipalDep,
                       symbol: str) -> s.AlpacaPosition:
    """The caller's position in one symbol (`BTC/USD`, `BTC-USD`, `AAPL` or an asset id)."""
    v = await _position(platform, principal.account, symbol)
    return await _render(platform, v, principal.account)


def _close_lots(inst: Instrument, net_qty: int, qty: str | None,
                percentage: str | None) -> str | None:
    """The quantity to close as a decimal string (None: all of it)."""
    if qty is not None and percentage is not None:
        raise ApiError(422, "invalid_field", "give qty or percentage, not both", "percentage")
    if percentage is None:
        return qty
    try:
        pct = Decimal(percentage.strip())
    except InvalidOperation:
        raise InvalidInput("percentage", f"{percentage!r} is not a number",
                           code="not_a_number") from None
    if not pct.is_finite() or not 0 < pct <= 100:
        raise InvalidInput("percentage", "must be above 0 and at most 100",
                           code="out_of_range")
    lots = int((Decimal(abs(net_qty)) * pct / 100).to_integral_value(rounding=ROUND_DOWN))
    if lots == 0:
        raise InvalidInput("percentage", "closes less than one lot", code="qty_below_minimum")
    return None if lots == abs(net_qty) else inst.format_qty(lots)


async def _close(platform: Platform, account: AccountId, v: Valuation, qty: str | None,
                 percentage: str | None) -> s.AlpacaOrder:
    rec = v.record
    amount = _close_lots(v.inst, rec.net_qty, qty, percentage)
    outcome = await platform.trading.close_position(account, rec.symbol, net_qty=rec.net_qty,
                                                    qty=amount)
    return await render_outcome(platform, outcome)


@router.delete("/positions/{symbol:path}", summary="Close a position",
               response_model=s.AlpacaOrder, responses=error_responses(401, 403, 404, 422))
async def close_position(platform: PlatformDep, principal: PrincipalDep, symbol: str,
                         qty: str | None = None,
                         percentage: str | None = None) -> s.AlpacaOrder:
    """Close all of a position, or `qty` of it, or `percentage` percent (rounded down)."""
    v = await _position(platform, principal.account, symbol)
    return await _close(platform, principal.account, v, qty, percentage)


@router.delete("/positions", summary="Close every position", status_code=207,
               response_model=list[s.AlpacaClosePositionResult],
               responses=error_responses(401))
async def close_all_positions(platform: PlatformDep, principal: PrincipalDep,
                              cancel_orders: bool = False) -> JSONResponse:
    """Close every open position (after canceling all open orders with `cancel_orders`)."""
    if cancel_orders:
        result = await platform.trading.cancel_all(principal.account)
        await platform.read_model.wait_for(result.seq)
    entries: list[dict[str, object]] = []
    for v in await valuations(platform, principal.account):
        symbol = m.alpaca_symbol(v.inst)
        try:
            order = await _close(platform, principal.account, v, None, None)
        except TradehallError as exc:
            entries.append({"symbol": symbol, "status": status_of(exc), "body": {
                "code": status_of(exc), "message": exc.message, "symbol": symbol,
                "reason": exc.code}})
            continue
        entries.append(s.AlpacaClosePositionResult(
            symbol=symbol, status=200, order_id=order.id, body=order).model_dump(mode="json"))
    return JSONResponse(entries, status_code=207)
