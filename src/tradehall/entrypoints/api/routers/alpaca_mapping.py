"""The Alpaca mapping: symbols, asset classes, times, request bodies and orders in Alpaca's shape.

Shared by the `/v2` routers and the `trade_updates` stream so that an order looks the same
everywhere. Symbols: a pair instrument (base differs from the symbol, like `BTC-USD`) is shown
as `BTC/USD` with asset class `crypto` (FX pairs too: Alpaca has no FX class); a single name
(`AAPL`) keeps its symbol with class `us_equity`. Both `BTC/USD`, `BTC-USD` and `BTCUSD` are
accepted in. Orders are folded from engine events into `OrderRecord`s (the read model's shape)
by `order_from_accepted`/`apply_event`, then rendered by `render_order`. Pure functions; no
I/O, never a float: JSON numbers are decoded straight into `Decimal`.
"""

from __future__ import annotations

import functools
import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TypeVar

import msgspec
import pydantic

from tradehall.entrypoints.api.errors import ApiError
from tradehall.entrypoints.api.schemas import alpaca as s
from tradehall.kernel.errors import InvalidInput, NotFound
from tradehall.kernel.ids import Symbol, order_uuid
from tradehall.service.ports import OrderRecord
from tradehall.service.refdata import ReferenceData
from tradehall.trading import events as e
from tradehall.trading.instrument import Instrument
from tradehall.trading.model import (
    InstrumentKind,
    InstrumentSpec,
    InstrumentStatus,
    OrderType,
    maintenance_margin_rate,
)

_M = TypeVar("_M", bound=pydantic.BaseModel)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ASSET_NAMESPACE = uuid.UUID("0b7a4c1e-3f52-5d8e-a1c6-9e2f4b7d3a10")
_AVG_EXTRA_DECIMALS = 4
# Largest exponent a JSON number may carry and still be rewritten as a plain decimal.
_MAX_EXPONENT = 40
OPEN_STATUSES = frozenset({"new", "partially_filled", "pending_new"})

# -- Times ------------------------------------------------------------------------------------


def timestamp(ns: int) -> str:
    """Render UTC nanoseconds as RFC 3339 with microseconds (what pydantic parses)."""
    moment = _EPOCH + timedelta(microseconds=ns // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def optional_timestamp(ns: int | None) -> str | None:
    return None if ns is None else timestamp(ns)


def parse_time(text: str, field: str) -> int:
    """Parse an RFC 3339 time or a date (taken as UTC) into nanoseconds."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(field, f"{text!r} is not an RFC 3339 time",
                           code="invalid_time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return ((moment - _EPOCH) // timedelta(microseconds=1)) * 1000


# -- Symbols and assets -----------------------------------------------------------------------


def is_pair(inst: Instrument) -> bool:
    """True for base/quote instruments (crypto, FX), False for single names (stocks)."""
    return str(inst.symbol) != str(inst.base)


def alpaca_symbol(inst: Instrument) -> str:
    return f"{inst.base}/{inst.quote}" if is_pair(inst) else inst.symbol


def asset_class(inst: Instrument) -> str:
    return "crypto" if is_pair(inst) else "us_equity"


def exchange(inst: Instrument) -> str:
    # tradehall matches on its own books: CRYPTO for pairs as Alpaca does, OTC for single names.
    return "CRYPTO" if is_pair(inst) else "OTC"


def asset_id(inst: Instrument) -> str:
    """The stable UUID of an instrument as an Alpaca asset."""
    return _asset_id(inst.symbol)


@functools.lru_cache(maxsize=4096)
def _asset_id(symbol: str) -> str:
    return str(uuid.uuid5(_ASSET_NAMESPACE, f"instrument:{symbol}"))


def resolve_symbol(refdata: ReferenceData, text: str) -> Instrument:
    """Find an instrument by tradehall symbol, Alpaca symbol (`BTC/USD`, `BTCUSD`) or asset id."""
    inst = refdata.instruments.get(Symbol(text))
    if inst is not None:
        return inst
    wanted = text.strip().upper().replace("/", "-")
    inst = refdata.instruments.get(Symbol(wanted))
    if inst is not None:
        return inst
    for candidate in refdata.instruments.values():
        if (is_pair(candidate) and f"{candidate.base}{candidate.quote}" == wanted) or (
                asset_id(candidate) == text.strip().lower()):
            return candidate
    raise NotFound(f"asset {text!r} not found", code="unknown_symbol")


def render_asset(inst: Instrument) -> s.AlpacaAsset:
    margin = inst.kind is InstrumentKind.MARGIN
    return s.AlpacaAsset(
        id=asset_id(inst), asset_class=asset_class(inst), exchange=exchange(inst),
        symbol=alpaca_symbol(inst), name=inst.symbol,
        status="inactive" if inst.status is InstrumentStatus.HALTED else "active",
        tradable=inst.status is InstrumentStatus.TRADING, marginable=margin,
        shortable=margin, easy_to_borrow=margin,
        fractionable=inst.lot_size < 1, min_order_size=inst.format_qty(inst.min_lots),
        min_trade_increment=f"{inst.lot_size:f}", price_increment=f"{inst.tick_size:f}",
        maintenance_margin_requirement=_maintenance_percent(inst.spec),
        attributes=["margin"] if margin else [])


def _maintenance_percent(spec: InstrumentSpec) -> str | None:
    # Alpaca's figure is in percent: the rate at which positions are liquidated, else the
    # initial rate (without a maintenance rate nothing is liquidated).
    maint = maintenance_margin_rate(spec)
    rate = spec.margin_rate if maint is None else maint
    return None if rate is None else f"{rate * 100:f}"


# -- Numbers ----------------------------------------------------------------------------------


def places(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def quantize(value: Decimal, decimals: int) -> str:
    return f"{value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN):f}"


def price_text(inst: Instrument, value: Decimal) -> str:
    """A computed price (average, P&L per unit): the tick's decimals plus four."""
    return quantize(value, places(inst.tick_size) + _AVG_EXTRA_DECIMALS)


def money_text(inst: Instrument, value: Decimal) -> str:
    """An amount of the quote currency at its scale."""
    return quantize(value, places(inst.quote_step))


def average_fill_price(inst: Instrument, notional: int, lots: int) -> str | None:
    if lots == 0:
        return None
    return price_text(inst, (Decimal(notional) * inst.quote_step)
                      / (Decimal(lots) * inst.lot_size))


# -- Request bodies ---------------------------------------------------------------------------


def _number(text: str) -> Decimal:
    value = Decimal(text)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent != 0 and abs(value.adjusted()) <= _MAX_EXPONENT:
        # 1e+16 from a client's float becomes the plain decimal 10000000000000000.
        return Decimal(f"{value:f}")
    return value


_DECODER = msgspec.json.Decoder(float_hook=_number)
_FIELD_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_TYPE_TAGS = frozenset({"str", "int", "decimal", "bool", "dict", "list", "none"})
_PYDANTIC_CODES = {"extra_forbidden": "unknown_field", "missing": "missing_field"}


def decode_body(raw: bytes, model: type[_M]) -> _M:
    """Decode a JSON body (numbers as Decimal) and validate it; ApiError on any defect."""
    try:
        data = _DECODER.decode(raw) if raw.strip() else None
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_body", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        # Union members add their type tags to the location ("qty.constrained-str").
        field = ".".join(p for p in first["loc"] if isinstance(p, str)
                         and _FIELD_NAME.fullmatch(p) and p not in _TYPE_TAGS) or None
        code = _PYDANTIC_CODES.get(first["type"], "invalid_field")
        raise ApiError(422, code, f"{field}: {first['msg']}", field) from None


def remap_field(exc: InvalidInput, names: dict[str, str]) -> ApiError:
    """Re-raise a use case's input error under the Alpaca field name."""
    field = names.get(exc.field, exc.field)
    message = exc.message
    if message.startswith(f"{exc.field}:"):
        message = f"{field}:{message[len(exc.field) + 1:]}"
    return ApiError(422, exc.code, message, field)


# -- Orders -----------------------------------------------------------------------------------


def order_from_accepted(ev: e.OrderAccepted, seq: int, ts_ns: int) -> OrderRecord:
    """The record of an order right after its acceptance."""
    waiting = ev.order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
    return OrderRecord(
        id=order_uuid(ev.order_id), order_id=ev.order_id, account=ev.account,
        client_order_id=ev.client_order_id, symbol=ev.symbol, side=ev.side.value,
        order_type=ev.order_type.value, time_in_force=ev.time_in_force.value, qty=ev.qty,
        filled_qty=0, filled_notional=0, price=ev.price, stop_price=ev.stop_price,
        post_only=ev.post_only, reduce_only=ev.reduce_only,
        status="pending_new" if waiting else "new", cancel_reason=None, created_ns=ts_ns,
        updated_ns=ts_ns, filled_ns=None, canceled_ns=None, expired_ns=None, seq=seq)


def apply_event(rec: OrderRecord, ev: e.EngineEvent, seq: int, ts_ns: int) -> OrderRecord:
    """The record after one engine event about it (events about other orders change nothing)."""
    replace = msgspec.structs.replace
    if isinstance(ev, e.Trade) and rec.order_id in (ev.taker_order_id, ev.maker_order_id):
        leaves = ev.taker_leaves_qty if ev.taker_order_id == rec.order_id else ev.maker_leaves_qty
        return replace(rec, filled_qty=rec.filled_qty + ev.qty,
                       filled_notional=rec.filled_notional + ev.notional,
                       status="filled" if leaves == 0 else "partially_filled",
                       filled_ns=ts_ns if leaves == 0 else rec.filled_ns, updated_ns=ts_ns,
                       seq=seq)
    if getattr(ev, "order_id", None) != rec.order_id:
        return rec
    if isinstance(ev, e.OrderCanceled):
        return replace(rec, status="canceled", cancel_reason=ev.reason, canceled_ns=ts_ns,
                       updated_ns=ts_ns, seq=seq)
    if isinstance(ev, e.OrderExpired):
        return replace(rec, status="expired", expired_ns=ts_ns, updated_ns=ts_ns, seq=seq)
    if isinstance(ev, e.OrderAmended):
        return replace(rec, qty=rec.filled_qty + ev.remaining_qty,
                       price=rec.price if ev.price is None else ev.price, updated_ns=ts_ns,
                       seq=seq)
    if isinstance(ev, e.StopTriggered) and rec.status == "pending_new":
        return replace(rec, status="new", updated_ns=ts_ns, seq=seq)
    return rec


def render_order(inst: Instrument, rec: OrderRecord) -> s.AlpacaOrder:
    """An order record in Alpaca's shape (a stop waiting for its trigger is `new`)."""
    with_limit = rec.order_type in ("limit", "stop_limit")
    return s.AlpacaOrder(
        id=rec.id, client_order_id=rec.client_order_id, created_at=timestamp(rec.created_ns),
        updated_at=timestamp(rec.updated_ns), submitted_at=timestamp(rec.created_ns),
        filled_at=optional_timestamp(rec.filled_ns),
        expired_at=optional_timestamp(rec.expired_ns),
        canceled_at=optional_timestamp(rec.canceled_ns), asset_id=asset_id(inst),
        symbol=alpaca_symbol(inst), asset_class=asset_class(inst),
        qty=inst.format_qty(rec.qty), filled_qty=inst.format_qty(rec.filled_qty),
        filled_avg_price=average_fill_price(inst, rec.filled_notional, rec.filled_qty),
        order_type=rec.order_type, type=rec.order_type, side=rec.side,
        time_in_force=rec.time_in_force,
        limit_price=None if rec.price is None or not with_limit else inst.format_price(rec.price),
        stop_price=None if rec.stop_price is None else inst.format_price(rec.stop_price),
        status="new" if rec.status == "pending_new" else rec.status)


def render_rejected(ev: e.OrderRejected, seq: int, ts_ns: int,
                    inst: Instrument | None) -> s.AlpacaOrder:
    """A refused order for the stream: the engine never gave it an id, so one is derived."""
    moment = timestamp(ts_ns)
    ident = uuid.uuid5(_ASSET_NAMESPACE, f"rejected:{ev.account}:{ev.client_order_id}:{seq}")
    return s.AlpacaOrder(
        id=str(ident), client_order_id=ev.client_order_id, created_at=moment,
        updated_at=moment, submitted_at=moment, failed_at=moment,
        asset_id=None if inst is None else asset_id(inst),
        symbol=ev.symbol if inst is None else alpaca_symbol(inst),
        asset_class="us_equity" if inst is None else asset_class(inst), filled_qty="0",
        time_in_force="gtc", status="rejected")
