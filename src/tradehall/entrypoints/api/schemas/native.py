"""Wire schemas of the native REST API (`/v1`): request bodies and public response shapes.

Families per resource in the template's style (`OrderCreate`, `OrderUpdate`, `OrderPublic`,
`OrdersPublic`). Every number travels as a decimal string; requests also take JSON integers,
never floats (money must not pass through a binary float). Conversion to ticks, lots and minor
units happens in the trading use cases, not here, so the engine's grid errors keep their codes.
Pydantic stays in this package; nothing here touches the engine or the read models.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)


def _decimal_text(value: object) -> object:
    if isinstance(value, bool | float):
        raise ValueError('must be a decimal string such as "101.25", not a JSON '
                         f"{'boolean' if isinstance(value, bool) else 'float'}")
    if isinstance(value, int):
        return str(value)
    return value


# A decimal string as the API accepts it ("101.25"); a JSON integer is accepted too, a float
# never. The exact grid checks (tick, lot, scale) happen behind the edge, with precise codes.
DecimalIn = Annotated[
    str, BeforeValidator(_decimal_text), StringConstraints(min_length=1, max_length=64),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d+)?$", "examples": ["101.25"],
                    "description": "decimal string (a JSON integer is accepted too)"}),
]
DecimalOut = Annotated[str, Field(examples=["101.25"])]
Timestamp = Annotated[str, Field(description="RFC 3339 UTC time with nanoseconds",
                                 examples=["2026-01-02T03:04:05.123456789Z"])]

OrderSide = Literal["buy", "sell"]
OrderKind = Literal["limit", "market", "stop", "stop_limit"]
TimeInForce = Literal["gtc", "ioc", "fok", "day"]
StpMode = Literal["none", "cancel_newest", "cancel_oldest", "cancel_both"]
OrderStatus = Literal["new", "partially_filled", "filled", "canceled", "expired", "pending_new"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


# -- Reference data -----------------------------------------------------------------------------


class AssetPublic(_Out):
    """An asset and the number of decimals of its minor unit."""

    code: str = Field(examples=["USD"])
    scale: int = Field(description="decimals of the minor unit (USD: 2)", examples=[2])


class AssetsPublic(_Out):
    data: list[AssetPublic]


class InstrumentPublic(_Out):
    """A tradable instrument with its grid, limits, fees and status."""

    symbol: str = Field(examples=["BTC-USD"])
    kind: Literal["spot", "margin", "binary_option"]
    base: str
    quote: str
    tick_size: DecimalOut
    lot_size: DecimalOut
    min_qty: DecimalOut
    max_qty: DecimalOut | None = Field(description="null when unlimited")
    price_band: DecimalOut | None = Field(
        description="largest allowed distance of a limit price from the last trade, as a "
                    "fraction (0.1 = 10%); null when unbounded")
    maker_fee: DecimalOut = Field(description="fraction of the notional, in the quote asset")
    taker_fee: DecimalOut
    margin_rate: DecimalOut | None = Field(description="initial margin fraction (margin only)")
    maintenance_margin_rate: DecimalOut | None = Field(
        description="a position is liquidated when its margin plus unrealized P&L falls below "
                    "this fraction of its notional; null: never liquidated (margin only)")
    liquidation_fee_rate: DecimalOut = Field(
        description="fraction of the notional a liquidation charges the liquidated account, "
                    "instead of the taker fee, paid into the insurance fund (0: none)")
    stop_collar: DecimalOut
    status: Literal["trading", "halted", "close_only"]


class InstrumentsPublic(_Out):
    data: list[InstrumentPublic]


# -- Funds ----------------------------------------------------------------------------------


class BalancePublic(_Out):
    """The caller's amounts of one asset."""

    asset: str
    available: DecimalOut
    held: DecimalOut = Field(description="reserved by open orders and margin")
    total: DecimalOut


class BalancesPublic(_Out):
    data: list[BalancePublic]


class WithdrawalCreate(_In):
    """Withdraw from the caller's own available balance."""

    asset: str = Field(min_length=1, max_length=16, examples=["USD"])
    amount: DecimalIn = Field(examples=["250.00"])


class AdminTransferCreate(_In):
    """Credit or debit any account (admin only)."""

    username: str = Field(min_length=1, max_length=64, description="the user to credit or debit")
    asset: str = Field(min_length=1, max_length=16, examples=["USD"])
    amount: DecimalIn = Field(examples=["1000.00"])


class TransferPublic(_Out):
    """A deposit or withdrawal the engine journaled, with the balance after it."""

    kind: Literal["deposit", "withdrawal"]
    account: str
    asset: str
    amount: DecimalOut
    available: DecimalOut = Field(description="available balance of the asset after it")


# -- Orders ---------------------------------------------------------------------------------


class OrderCreate(_In):
    """A new order; every engine feature is available."""

    symbol: str = Field(min_length=1, max_length=32, examples=["BTC-USD"])
    side: OrderSide
    type: OrderKind = "limit"
    qty: DecimalIn = Field(examples=["0.5"])
    price: DecimalIn | None = Field(default=None, description="limit price (limit, stop_limit)")
    stop_price: DecimalIn | None = Field(default=None, description="trigger (stop, stop_limit)")
    time_in_force: TimeInForce = "gtc"
    post_only: bool = False
    reduce_only: bool = False
    stp: StpMode | None = Field(default=None,
                                description="self-trade prevention; cancel_newest by default")
    client_order_id: str | None = Field(default=None, max_length=64,
                                        description="your id, unique per account; generated "
                                                    "when absent; a resubmission with the same "
                                                    "id and content returns the original")


class OrderUpdate(_In):
    """Amend a resting order: new total quantity and/or price."""

    qty: DecimalIn | None = None
    price: DecimalIn | None = None


class OrderPublic(_Out):
    """An order of the caller."""

    id: str = Field(description="order UUID")
    client_order_id: str
    symbol: str
    side: OrderSide
    type: OrderKind
    time_in_force: TimeInForce
    qty: DecimalOut
    filled_qty: DecimalOut
    leaves_qty: DecimalOut = Field(description="quantity still open (0 once closed)")
    price: DecimalOut | None
    stop_price: DecimalOut | None
    avg_fill_price: DecimalOut | None
    filled_notional: DecimalOut = Field(description="quote amount exchanged so far")
    post_only: bool
    reduce_only: bool
    status: OrderStatus
    cancel_reason: str | None
    created_at: Timestamp
    updated_at: Timestamp


class OrdersPublic(_Out):
    """A page of orders, newest first; pass `next_cursor` as `cursor` for the next page."""

    data: list[OrderPublic]
    next_cursor: str | None


class FillPublic(_Out):
    """One fill of one of the caller's orders."""

    trade_id: str
    order_id: str = Field(description="order UUID")
    client_order_id: str
    symbol: str
    side: OrderSide
    price: DecimalOut
    qty: DecimalOut
    notional: DecimalOut = Field(description="quote amount")
    fee: DecimalOut
    fee_asset: str
    liquidity: Literal["maker", "taker"]
    leaves_qty: DecimalOut = Field(description="the order's open quantity after this fill")
    seq: str
    timestamp: Timestamp


class FillsPublic(_Out):
    """A page of fills, newest first; pass `next_cursor` as `cursor` for the next page."""

    data: list[FillPublic]
    next_cursor: str | None


class OrderPlaced(_Out):
    """The order right after the engine journaled it, and the fills it made at once."""

    order: OrderPublic
    fills: list[FillPublic]
    duplicate: bool = Field(description="true when this resubmitted an existing order")
    seq: str = Field(description="journal sequence number of the command")


class CanceledPublic(_Out):
    """Orders the command canceled."""

    canceled: list[str] = Field(description="UUIDs of the canceled orders")
    seq: str


# -- Positions ------------------------------------------------------------------------------


class PositionPublic(_Out):
    """An open position (margin) or holding (spot) of the caller."""

    symbol: str
    kind: Literal["spot", "margin", "binary_option"]
    side: Literal["long", "short"]
    qty: DecimalOut
    avg_entry_price: DecimalOut | None
    cost_basis: DecimalOut = Field(description="quote amount paid for the open quantity")
    realized_pnl: DecimalOut
    margin: DecimalOut
    liquidation_price: DecimalOut | None = Field(
        description="last trade price at which the engine liquidates the position (margin "
                    "instruments with a maintenance rate); null when it cannot be liquidated")


class PositionsPublic(_Out):
    data: list[PositionPublic]


class PositionClose(_In):
    """Close all of a position, or `qty` of it, with a market order."""

    qty: DecimalIn | None = None
    client_order_id: str | None = Field(default=None, max_length=64)
