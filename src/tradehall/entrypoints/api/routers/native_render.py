"""Rendering for the native API: engine integers and read-model records into public schemas.

Everything the native routers send out passes through here, so ticks, lots and minor units
become decimal strings in one place, with the instrument's grid and the asset's scale, and
engine nanoseconds become RFC 3339 text. Pure functions of their inputs; no I/O, and never a
float.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from tradehall.engine.liquidation import liquidation_price
from tradehall.entrypoints.api.schemas import native as s
from tradehall.kernel.clock import NANOS_PER_SECOND
from tradehall.kernel.ids import AccountId, ClientOrderId, OrderId, order_uuid
from tradehall.service.ports import FillRecord, OrderRecord, PositionRecord
from tradehall.service.refdata import ReferenceData
from tradehall.service.trading import OrderOutcome
from tradehall.trading import events as e
from tradehall.trading.instrument import Instrument
from tradehall.trading.model import InstrumentKind, liquidation_fee_rate, maintenance_margin_rate
from tradehall.trading.positions import Position

# Extra decimals of an average price beyond the tick's, rounded half-even.
_AVG_EXTRA_DECIMALS = 4


def timestamp(ns: int) -> str:
    """Render UTC nanoseconds as RFC 3339 text with nine decimals."""
    seconds, nanos = divmod(ns, NANOS_PER_SECOND)
    moment = datetime.fromtimestamp(seconds, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


def _decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:f}"


def instrument(inst: Instrument) -> s.InstrumentPublic:
    """Render an instrument's definition and status."""
    spec = inst.spec
    return s.InstrumentPublic(
        symbol=inst.symbol, kind=inst.kind.value, base=inst.base, quote=inst.quote,
        tick_size=f"{inst.tick_size:f}", lot_size=f"{inst.lot_size:f}",
        min_qty=inst.format_qty(inst.min_lots),
        max_qty=inst.format_qty(inst.max_lots) if inst.max_lots else None,
        price_band=_decimal_text(spec.price_band), maker_fee=f"{spec.maker_fee:f}",
        taker_fee=f"{spec.taker_fee:f}", margin_rate=_decimal_text(spec.margin_rate),
        maintenance_margin_rate=_decimal_text(maintenance_margin_rate(spec)),
        liquidation_fee_rate=f"{liquidation_fee_rate(spec):f}",
        stop_collar=f"{spec.stop_collar:f}", status=inst.status.value)


def average_price(inst: Instrument, ticks_times_lots: int, lots: int) -> str | None:
    """Render a volume-weighted price given sum(ticks * lots) and sum(lots)."""
    if lots == 0:
        return None
    value = Decimal(ticks_times_lots) * inst.tick_size / Decimal(lots)
    return _quantized(inst, value)


def average_fill_price(inst: Instrument, notional: int, lots: int) -> str | None:
    """Render the quote amount exchanged per unit of base: filled notional / filled quantity.

    The notional is in quote minor units (each fill rounded down), so this is the effective
    price paid or received, which can sit a minor unit below the fills' prices.
    """
    if lots == 0:
        return None
    value = (Decimal(notional) * inst.quote_step) / (Decimal(lots) * inst.lot_size)
    return _quantized(inst, value)


def _quantized(inst: Instrument, value: Decimal) -> str:
    exponent = inst.tick_size.normalize().as_tuple().exponent
    places = (-exponent if isinstance(exponent, int) else 0) + _AVG_EXTRA_DECIMALS
    return f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN):f}"


# -- Orders -------------------------------------------------------------------------------------


def order_record(inst: Instrument, rec: OrderRecord) -> s.OrderPublic:
    """Render an order as the read model keeps it."""
    leaves = rec.qty - rec.filled_qty if rec.status in ("new", "partially_filled",
                                                         "pending_new") else 0
    return s.OrderPublic(
        id=rec.id, client_order_id=rec.client_order_id, symbol=rec.symbol,
        side=rec.side,  # type: ignore[arg-type]
        type=rec.order_type,  # type: ignore[arg-type]
        time_in_force=rec.time_in_force,  # type: ignore[arg-type]
        qty=inst.format_qty(rec.qty), filled_qty=inst.format_qty(rec.filled_qty),
        leaves_qty=inst.format_qty(leaves),
        price=None if rec.price is None else inst.format_price(rec.price),
        stop_price=None if rec.stop_price is None else inst.format_price(rec.stop_price),
        avg_fill_price=average_fill_price(inst, rec.filled_notional, rec.filled_qty),
        filled_notional=inst.format_quote(rec.filled_notional),
        post_only=rec.post_only, reduce_only=rec.reduce_only, status=rec.status,
        cancel_reason=rec.cancel_reason, created_at=timestamp(rec.created_ns),
        updated_at=timestamp(rec.updated_ns))


def order_outcome(inst: Instrument, outcome: OrderOutcome) -> s.OrderPublic:
    """Render a just-placed order from its command's events (no read-model round trip)."""
    acc = outcome.accepted
    assert acc is not None, "a duplicate is rendered from the read model"
    ts = outcome.result.ts_ns
    filled = 0
    notional = 0
    leaves = acc.qty
    for trade in outcome.trades:
        filled += trade.qty
        notional += trade.notional
        leaves = (trade.taker_leaves_qty if trade.taker_order_id == outcome.order_id
                  else trade.maker_leaves_qty)
    status: s.OrderStatus
    reason = None
    if outcome.canceled is not None:
        status, leaves, reason = "canceled", 0, outcome.canceled.reason
    elif leaves == 0:
        status = "filled"
    elif filled:
        status = "partially_filled"
    elif acc.stop_price is not None and not outcome.triggered:
        status = "pending_new"
    else:
        status = "new"
    return s.OrderPublic(
        id=order_uuid(outcome.order_id), client_order_id=acc.client_order_id,
        symbol=acc.symbol, side=acc.side.value, type=acc.order_type.value,
        time_in_force=acc.time_in_force.value, qty=inst.format_qty(acc.qty),
        filled_qty=inst.format_qty(filled), leaves_qty=inst.format_qty(leaves),
        price=None if acc.price is None else inst.format_price(acc.price),
        stop_price=None if acc.stop_price is None else inst.format_price(acc.stop_price),
        avg_fill_price=average_fill_price(inst, notional, filled),
        filled_notional=inst.format_quote(notional), post_only=acc.post_only,
        reduce_only=acc.reduce_only, status=status, cancel_reason=reason,
        created_at=timestamp(ts), updated_at=timestamp(ts))


# -- Fills --------------------------------------------------------------------------------------


def fill_record(inst: Instrument, rec: FillRecord) -> s.FillPublic:
    """Render one fill of the read model."""
    return s.FillPublic(
        trade_id=str(rec.trade_id), order_id=order_uuid(rec.order_id),
        client_order_id=rec.client_order_id, symbol=rec.symbol,
        side=rec.side,  # type: ignore[arg-type]
        price=inst.format_price(rec.price), qty=inst.format_qty(rec.qty),
        notional=inst.format_quote(rec.notional), fee=inst.format_quote(rec.fee),
        fee_asset=inst.quote, liquidity=rec.liquidity, leaves_qty=inst.format_qty(rec.leaves_qty),
        seq=str(rec.seq), timestamp=timestamp(rec.ts_ns))


def trade_fill(inst: Instrument, trade: e.Trade, order_id: OrderId, account: AccountId,
               seq: int, ts_ns: int) -> s.FillPublic:
    """Render the side of a trade event that belongs to `order_id`."""
    taker = trade.taker_order_id == order_id and trade.taker_account == account
    side = trade.taker_side.value if taker else ("sell" if trade.taker_side.value == "buy"
                                                 else "buy")
    cid: ClientOrderId = trade.taker_client_order_id if taker else trade.maker_client_order_id
    return s.FillPublic(
        trade_id=str(trade.trade_id), order_id=order_uuid(order_id), client_order_id=cid,
        symbol=trade.symbol, side=side,  # type: ignore[arg-type]
        price=inst.format_price(trade.price), qty=inst.format_qty(trade.qty),
        notional=inst.format_quote(trade.notional),
        fee=inst.format_quote(trade.taker_fee if taker else trade.maker_fee),
        fee_asset=inst.quote, liquidity="taker" if taker else "maker",
        leaves_qty=inst.format_qty(trade.taker_leaves_qty if taker else trade.maker_leaves_qty),
        seq=str(seq), timestamp=timestamp(ts_ns))


# -- Positions ----------------------------------------------------------------------------------


def position(refdata: ReferenceData, rec: PositionRecord) -> s.PositionPublic:
    """Render an open position or spot holding."""
    inst = refdata.instrument(rec.symbol)
    lots = abs(rec.net_qty)
    cost = abs(rec.cost_ticks)
    margin = inst.kind is InstrumentKind.MARGIN
    return s.PositionPublic(
        symbol=rec.symbol, kind=inst.kind.value, side="long" if rec.net_qty > 0 else "short",
        qty=inst.format_qty(lots), avg_entry_price=average_price(inst, cost, lots),
        cost_basis=refdata.format_amount(inst.quote, inst.notional_floor(cost, 1)),
        realized_pnl=refdata.format_amount(inst.quote, rec.realized_pnl),
        margin=refdata.format_amount(inst.quote, rec.margin if margin else 0),
        liquidation_price=_liquidation_price(inst, rec) if margin else None)


def _liquidation_price(inst: Instrument, rec: PositionRecord) -> str | None:
    # The engine's own rule, applied to the projected position.
    pos = Position(rec.account, rec.symbol)
    pos.net_qty, pos.cost_ticks, pos.margin = rec.net_qty, rec.cost_ticks, rec.margin
    price = liquidation_price(inst, pos)
    return inst.format_price(price) if price else None
