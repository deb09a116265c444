"""The JSON Lines replay format, inbound: decode one line into an engine command.

Numbers arrive as decimal strings (JSON numbers are read exactly, never through float) and are
converted to ticks, lots and minor units with the engine's current instruments and assets, so
off-grid or malformed values are refused here with a precise reason and never reach the engine.
The format is documented in docs/replay.md. Pure: no I/O.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

import msgspec

from tradehall.engine.orders import Order
from tradehall.kernel.errors import InvalidInput
from tradehall.kernel.ids import AccountId, AssetCode, ClientOrderId, OrderId, Symbol
from tradehall.kernel.numeric import parse_units, step_for_scale
from tradehall.ledger.model import Asset
from tradehall.trading import commands as c
from tradehall.trading.instrument import Instrument
from tradehall.trading.model import (
    DEFAULT_STP,
    InstrumentSpec,
    InstrumentStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)


class WireOp(msgspec.Struct, frozen=True, kw_only=True, tag_field="op",
             forbid_unknown_fields=True):
    """Base of one replay input line; `ts` is engine time in integer nanoseconds."""

    ts: int | None = None


class AssetOp(WireOp, tag="asset", frozen=True, kw_only=True):
    asset: AssetCode
    scale: int


class InstrumentOp(InstrumentSpec, tag="instrument", tag_field="op", frozen=True,
                   kw_only=True):
    """An instrument definition: exactly the fields of `InstrumentSpec`, plus `ts`."""

    ts: int | None = None


class StatusOp(WireOp, tag="status", frozen=True, kw_only=True):
    symbol: Symbol
    status: InstrumentStatus


class DepositOp(WireOp, tag="deposit", frozen=True, kw_only=True):
    account: AccountId
    asset: AssetCode
    amount: Decimal


class WithdrawOp(WireOp, tag="withdraw", frozen=True, kw_only=True):
    account: AccountId
    asset: AssetCode
    amount: Decimal


class OrderOp(WireOp, tag="order", frozen=True, kw_only=True):
    account: AccountId
    client_order_id: ClientOrderId
    symbol: Symbol
    side: Side
    type: OrderType = OrderType.LIMIT
    qty: Decimal
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False
    stp: SelfTradePrevention = DEFAULT_STP


class CancelOp(WireOp, tag="cancel", frozen=True, kw_only=True):
    account: AccountId
    client_order_id: ClientOrderId | None = None
    order_id: OrderId | None = None


class AmendOp(WireOp, tag="amend", frozen=True, kw_only=True):
    account: AccountId
    client_order_id: ClientOrderId
    qty: Decimal | None = None
    price: Decimal | None = None


class CancelAllOp(WireOp, tag="cancel_all", frozen=True, kw_only=True):
    account: AccountId
    symbol: Symbol | None = None


class ClosePositionOp(WireOp, tag="close_position", frozen=True, kw_only=True):
    account: AccountId
    symbol: Symbol
    client_order_id: ClientOrderId


class TimeOp(WireOp, tag="time", frozen=True, kw_only=True):
    pass


class ConfigureOp(WireOp, tag="configure_engine", frozen=True, kw_only=True):
    client_order_id_retention_ns: int


AnyOp = (AssetOp | InstrumentOp | StatusOp | DepositOp | WithdrawOp | OrderOp | CancelOp
         | AmendOp | CancelAllOp | ClosePositionOp | TimeOp | ConfigureOp)
LineOp = WireOp | InstrumentOp  # what one decoded line is
_decoder = msgspec.json.Decoder(AnyOp)


class EdgeRejected(Exception):
    """A line that is well-formed JSON but whose values the engine's reference data refuses."""

    def __init__(self, op: LineOp, error: InvalidInput) -> None:
        super().__init__(error.message)
        self.op = op
        self.error = error


def decode_op(line: bytes | str) -> LineOp:
    """Decode one JSON line; raises msgspec.ValidationError/DecodeError with the reason."""
    op: LineOp = _decoder.decode(line)
    return op


class ReferenceData(Protocol):
    """What conversion needs to know of the engine: instruments, assets, open orders."""

    instruments: dict[Symbol, Instrument]
    assets: dict[AssetCode, Asset]

    def open_order(self, account: AccountId, client_order_id: ClientOrderId) -> Order | None:
        ...


def to_command(op: LineOp, ref: ReferenceData) -> c.EngineCommand:
    """Convert a decoded line into an engine command; raises EdgeRejected on bad values."""
    try:
        return _convert(op, ref)
    except InvalidInput as exc:
        raise EdgeRejected(op, exc) from exc


def _convert(op: LineOp, ref: ReferenceData) -> c.EngineCommand:  # noqa: C901
    instruments, assets = ref.instruments, ref.assets
    if isinstance(op, OrderOp):
        return _order(op, instruments)
    if isinstance(op, CancelOp):
        return c.CancelOrder(account=op.account, client_order_id=op.client_order_id,
                             order_id=op.order_id)
    if isinstance(op, AmendOp):
        inst = _instrument_of_amend(op, ref)
        return c.AmendOrder(
            account=op.account, client_order_id=op.client_order_id,
            qty=None if op.qty is None else inst.qty_to_lots(op.qty),
            price=None if op.price is None else inst.price_to_ticks(op.price))
    if isinstance(op, DepositOp | WithdrawOp):
        asset = assets.get(op.asset)
        if asset is None:
            raise InvalidInput("asset", f"asset {op.asset} is not defined", code="unknown_asset")
        amount = parse_units(op.amount, step_for_scale(asset.scale), "amount")
        if isinstance(op, DepositOp):
            return c.Deposit(account=op.account, asset=op.asset, amount=amount)
        return c.Withdraw(account=op.account, asset=op.asset, amount=amount)
    if isinstance(op, ClosePositionOp):
        return c.ClosePosition(account=op.account, symbol=op.symbol,
                               client_order_id=op.client_order_id)
    if isinstance(op, CancelAllOp):
        return c.CancelAll(account=op.account, symbol=op.symbol)
    if isinstance(op, InstrumentOp):
        fields = {f: getattr(op, f) for f in InstrumentSpec.__struct_fields__}
        return c.AddInstrument(spec=InstrumentSpec(**fields))
    if isinstance(op, AssetOp):
        return c.AddAsset(asset=op.asset, scale=op.scale)
    if isinstance(op, StatusOp):
        return c.SetInstrumentStatus(symbol=op.symbol, status=op.status)
    if isinstance(op, ConfigureOp):
        return c.ConfigureEngine(client_order_id_retention_ns=op.client_order_id_retention_ns)
    return c.AdvanceTime()


def _order(op: OrderOp, instruments: dict[Symbol, Instrument]) -> c.SubmitOrder:
    inst = instruments.get(op.symbol)
    if inst is None:
        raise InvalidInput("symbol", f"instrument {op.symbol} is not defined",
                           code="unknown_symbol")
    return c.SubmitOrder(
        account=op.account, client_order_id=op.client_order_id, symbol=op.symbol,
        side=op.side, order_type=op.type, qty=inst.qty_to_lots(op.qty),
        price=None if op.price is None else inst.price_to_ticks(op.price),
        stop_price=None if op.stop_price is None else inst.price_to_ticks(op.stop_price,
                                                                          "stop_price"),
        time_in_force=op.time_in_force, post_only=op.post_only, reduce_only=op.reduce_only,
        stp=op.stp)


def _instrument_of_amend(op: AmendOp, ref: ReferenceData) -> Instrument:
    # Amend lines name no symbol: the open order's instrument gives the tick and lot sizes.
    order = ref.open_order(op.account, op.client_order_id)
    if order is None:
        raise InvalidInput("client_order_id", "no open order with that client order id",
                           code="order_not_found")
    return ref.instruments[order.command.symbol]
