"""Engine events: past-tense immutable facts, integer-valued.

The engine returns them from `apply`; the host publishes them only after the command that
caused them is journaled. The edge renders integers back into decimal strings
(`trading/wire.py`).
"""

from __future__ import annotations

import msgspec

from tradehall.kernel.ids import AccountId, AssetCode, ClientOrderId, OrderId, Symbol, TradeId
from tradehall.trading.model import (
    InstrumentSpec,
    InstrumentStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="event", gc=False):
    """Base of every engine event."""

    # Immutable scalar facts cannot form reference cycles: keeping them out of the cyclic
    # garbage collector's tracking saves its time on every collection (gc=False above).
    # The events the engine emits per order and per fill also take positional arguments (no
    # `kw_only`): msgspec builds them several times faster that way. The engine passes them
    # in field order; other code may keep using keywords. The wire form is the same.


class AssetAdded(Event, tag="asset_added", frozen=True, kw_only=True):
    asset: AssetCode
    scale: int


class InstrumentAdded(Event, tag="instrument_added", frozen=True, kw_only=True):
    spec: InstrumentSpec


class InstrumentStatusChanged(Event, tag="instrument_status_changed", frozen=True, kw_only=True):
    symbol: Symbol
    status: InstrumentStatus


class Deposited(Event, tag="deposited", frozen=True, kw_only=True):
    account: AccountId
    asset: AssetCode
    amount: int
    available: int


class Withdrawn(Event, tag="withdrawn", frozen=True, kw_only=True):
    account: AccountId
    asset: AssetCode
    amount: int
    available: int


class CommandRejected(Event, tag="command_rejected", frozen=True, kw_only=True):
    """A non-order command (deposit, withdraw, cancel, amend, admin) was refused."""

    command: str
    account: AccountId | None = None
    client_order_id: ClientOrderId | None = None
    reason: str
    message: str


class OrderAccepted(Event, tag="order_accepted", frozen=True):
    order_id: OrderId
    account: AccountId
    client_order_id: ClientOrderId
    symbol: Symbol
    side: Side
    order_type: OrderType
    qty: int
    price: int | None
    stop_price: int | None
    time_in_force: TimeInForce
    post_only: bool
    reduce_only: bool
    stp: SelfTradePrevention
    hold_asset: AssetCode
    held: int


class OrderRejected(Event, tag="order_rejected", frozen=True):
    account: AccountId
    client_order_id: ClientOrderId
    symbol: Symbol
    reason: str
    message: str


class OrderDuplicate(Event, tag="order_duplicate", frozen=True):
    """A resubmission with the same client order id and content: the original stands."""

    order_id: OrderId
    account: AccountId
    client_order_id: ClientOrderId


class Trade(Event, tag="trade", frozen=True, omit_defaults=True):
    """A fill between two orders. `off_book`: a desk's manual fill (`ManualFill`), dealt at
    its own price away from the book; it is not a market trade (no last price, no public
    tape, no candle). Left out of the encoding when false."""

    trade_id: TradeId
    symbol: Symbol
    price: int
    qty: int
    notional: int
    taker_side: Side
    maker_order_id: OrderId
    maker_account: AccountId
    maker_client_order_id: ClientOrderId
    maker_fee: int
    maker_leaves_qty: int
    taker_order_id: OrderId
    taker_account: AccountId
    taker_client_order_id: ClientOrderId
    taker_fee: int
    taker_leaves_qty: int
    off_book: bool = False


class OrderCanceled(Event, tag="order_canceled", frozen=True):
    order_id: OrderId
    account: AccountId
    client_order_id: ClientOrderId
    symbol: Symbol
    remaining_qty: int
    reason: str


class OrderExpired(Event, tag="order_expired", frozen=True):
    order_id: OrderId
    account: AccountId
    client_order_id: ClientOrderId
    symbol: Symbol
    remaining_qty: int


class OrderAmended(Event, tag="order_amended", frozen=True):
    order_id: OrderId
    account: AccountId
    client_order_id: ClientOrderId
    symbol: Symbol
    price: int | None
    remaining_qty: int
    priority_kept: bool
    hold_asset: AssetCode
    held: int


class StopTriggered(Event, tag="stop_triggered", frozen=True):
    order_id: OrderId
    account: AccountId
    client_order_id: ClientOrderId
    symbol: Symbol
    last_price: int


class PositionChanged(Event, tag="position_changed", frozen=True):
    """A margin position after a fill: signed net lots, exact cost basis, realized P&L."""

    account: AccountId
    symbol: Symbol
    net_qty: int
    cost_ticks: int
    realized_pnl: int
    margin: int


class LiquidationTriggered(Event, tag="liquidation_triggered", frozen=True, kw_only=True):
    """A margin position reached its liquidation price; the engine canceled the account's
    orders in the symbol and places `order_id`, a reduce-only IOC order for the whole position
    (its `order_accepted`, trades and end follow)."""

    account: AccountId
    symbol: Symbol
    net_qty: int
    liquidation_price: int
    last_price: int
    margin: int
    order_id: OrderId


class LossShortfall(Event, tag="loss_shortfall", frozen=True, kw_only=True):
    """A realized loss was larger than the account could pay (its available cash plus the
    margin the fill freed): `shortfall` is the part it did not pay, `covered` what the
    insurance fund paid of it, `uncovered` what stays with the venue (on `@clearing`).
    Amounts in minor units of `asset`, the instrument's quote asset; it follows the
    account's `position_changed`."""

    account: AccountId
    symbol: Symbol
    asset: AssetCode
    shortfall: int
    covered: int
    uncovered: int


class EngineConfigured(Event, tag="engine_configured", frozen=True, kw_only=True):
    """An engine-wide setting changed (see `ConfigureEngine`)."""

    client_order_id_retention_ns: int


EngineEvent = (
    AssetAdded | InstrumentAdded | InstrumentStatusChanged | Deposited | Withdrawn
    | CommandRejected | OrderAccepted | OrderRejected | OrderDuplicate | Trade | OrderCanceled
    | OrderExpired | OrderAmended | StopTriggered | PositionChanged | LiquidationTriggered
    | LossShortfall | EngineConfigured
)
