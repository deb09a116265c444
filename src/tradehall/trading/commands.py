"""Engine commands: imperative, immutable, integer-valued.

These are what the journal records and the engine applies. Prices are ticks, quantities lots,
amounts minor units; the edge (`trading/wire.py`) converts decimal strings into them. Each
command is a tagged msgspec struct so one codec serves the journal (msgpack) and JSON.
"""

from __future__ import annotations

import msgspec

from tradehall.kernel.ids import AccountId, AssetCode, ClientOrderId, OrderId, Symbol
from tradehall.trading.model import (
    DEFAULT_STP,
    InstrumentSpec,
    InstrumentStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)


class Command(msgspec.Struct, frozen=True, kw_only=True, tag_field="op", omit_defaults=True,
              gc=False,
              forbid_unknown_fields=True):
    """Base of every engine command."""

    # Immutable scalar facts cannot form reference cycles: keeping them out of the cyclic
    # garbage collector's tracking saves its time on every collection (gc=False above).


class AddAsset(Command, tag="add_asset", frozen=True, kw_only=True):
    asset: AssetCode
    scale: int


class AddInstrument(Command, tag="add_instrument", frozen=True, kw_only=True):
    spec: InstrumentSpec


class SetInstrumentStatus(Command, tag="set_instrument_status", frozen=True, kw_only=True):
    symbol: Symbol
    status: InstrumentStatus


class Deposit(Command, tag="deposit", frozen=True, kw_only=True):
    account: AccountId
    asset: AssetCode
    amount: int


class Withdraw(Command, tag="withdraw", frozen=True, kw_only=True):
    account: AccountId
    asset: AssetCode
    amount: int


class SubmitOrder(Command, tag="submit_order", frozen=True, kw_only=True):
    account: AccountId
    client_order_id: ClientOrderId
    symbol: Symbol
    side: Side
    order_type: OrderType = OrderType.LIMIT
    qty: int
    price: int | None = None
    stop_price: int | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False
    stp: SelfTradePrevention = DEFAULT_STP


class CancelOrder(Command, tag="cancel_order", frozen=True, kw_only=True):
    """Cancel by client order id, or by engine order id when `order_id` is set."""

    account: AccountId
    client_order_id: ClientOrderId | None = None
    order_id: OrderId | None = None


class AmendOrder(Command, tag="amend_order", frozen=True, kw_only=True):
    """Change price and/or remaining quantity of a resting order.

    A quantity decrease keeps time priority; a price change or a quantity increase loses it.
    """

    account: AccountId
    client_order_id: ClientOrderId
    qty: int | None = None
    price: int | None = None


class CancelAll(Command, tag="cancel_all", frozen=True, kw_only=True):
    """Cancel every open order of an account, optionally for one symbol only."""

    account: AccountId
    symbol: Symbol | None = None


class ClosePosition(Command, tag="close_position", frozen=True, kw_only=True):
    """Close a margin position: a reduce-only market order for its full size."""

    account: AccountId
    symbol: Symbol
    client_order_id: ClientOrderId


class ManualFill(Command, tag="manual_fill", frozen=True, kw_only=True):
    """A trade the dealing desk executed off the book: `account` buys or sells `qty` lots at
    `price` (ticks) with `counterparty`, the house account, which takes the other side.

    Each side is checked and held like an immediate-or-cancel limit order at `price` (price
    bands do not apply: the desk may have dealt while the market was closed) and both settle
    as one trade, fees included, marked `off_book`: it leaves the book's last price alone (so
    it triggers no stop or liquidation and moves no band or collar) and is no market trade
    (no public tape, ticker or candle). `reduce_only` caps the account's side at what reduces
    its position (margin instruments). The client order id names the account's side and is unique
    like an order's; the house side carries it with the suffix `~h`.
    """

    account: AccountId
    client_order_id: ClientOrderId
    symbol: Symbol
    side: Side
    qty: int
    price: int
    counterparty: AccountId
    reduce_only: bool = False


class AdvanceTime(Command, tag="advance_time", frozen=True, kw_only=True):
    """Move engine time forward (expires DAY orders) without doing anything else."""


class ConfigureEngine(Command, tag="configure_engine", frozen=True, kw_only=True):
    """Change an engine-wide setting; journaled like any command, so replay applies it too.

    `client_order_id_retention_ns`: how long (engine time) a finished order's client order id
    stays taken after the order is done; 0 keeps it for ever. The engine starts with one day.
    """

    client_order_id_retention_ns: int


EngineCommand = (
    AddAsset | AddInstrument | SetInstrumentStatus | Deposit | Withdraw | SubmitOrder
    | CancelOrder | AmendOrder | CancelAll | ClosePosition | ManualFill | AdvanceTime
    | ConfigureEngine
)
