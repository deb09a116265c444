"""Wire schemas of the Alpaca-compatible Trading API (`/v2`), field for field as Alpaca names them.

Request bodies (`AlpacaOrderCreate`, `AlpacaOrderReplace`) forbid unknown fields; their numbers
are decimal strings, JSON integers, or JSON numbers decoded straight into `Decimal` by the
router (never through a binary float), so `qty=0.1` sent by alpaca-py arrives as exactly 0.1.
Responses carry every number as a decimal string and every time as RFC 3339 text, so that
alpaca-py's pydantic models (`Order`, `TradeAccount`, `Position`, `Asset`, `TradeUpdate`) parse
them. Conversion to ticks and lots happens in the trading use cases, not here. Pydantic stays in
this package; nothing here touches the engine or the read models.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

# A number as the API accepts it: "101.25", 101, or a JSON number decoded as Decimal.
NumberIn = Annotated[StrictStr, Field(max_length=64)] | StrictInt | Decimal
Timestamp = Annotated[str, Field(description="RFC 3339 UTC time, microseconds",
                                 examples=["2026-01-02T03:04:05.123456Z"])]
Number = Annotated[str, Field(examples=["101.25"])]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# -- Requests -----------------------------------------------------------------------------------


class AlpacaOrderCreate(_In):
    """`POST /v2/orders`. `post_only` is a tradehall extension; advanced classes are refused."""

    symbol: Annotated[StrictStr, Field(min_length=1, max_length=32)]
    qty: NumberIn | None = None
    notional: NumberIn | None = None
    side: StrictStr
    type: StrictStr = "market"
    time_in_force: StrictStr = "day"
    limit_price: NumberIn | None = None
    stop_price: NumberIn | None = None
    trail_price: NumberIn | None = None
    trail_percent: NumberIn | None = None
    extended_hours: StrictBool = False
    client_order_id: Annotated[StrictStr, Field(max_length=128)] | None = None
    order_class: StrictStr | None = None
    # Bracket parts are refused with a clear error rather than as unknown fields.
    take_profit: dict[str, object] | None = None
    stop_loss: dict[str, object] | None = None
    legs: list[dict[str, object]] | None = None
    position_intent: StrictStr | None = None
    post_only: StrictBool = False


class AlpacaOrderReplace(_In):
    """`PATCH /v2/orders/{order_id}`: new total qty and/or limit price of a resting order."""

    qty: NumberIn | None = None
    time_in_force: StrictStr | None = None
    limit_price: NumberIn | None = None
    stop_price: NumberIn | None = None
    trail: NumberIn | None = None
    client_order_id: Annotated[StrictStr, Field(max_length=128)] | None = None


# -- Responses ----------------------------------------------------------------------------------


class AlpacaOrder(BaseModel):
    """An order as Alpaca renders it (`order_class` is always `simple`)."""

    id: str
    client_order_id: str
    created_at: Timestamp
    updated_at: Timestamp
    submitted_at: Timestamp
    filled_at: Timestamp | None = None
    expired_at: Timestamp | None = None
    canceled_at: Timestamp | None = None
    failed_at: Timestamp | None = None
    replaced_at: Timestamp | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    asset_id: str | None = None
    symbol: str
    asset_class: str
    notional: Number | None = None
    qty: Number | None = None
    filled_qty: Number
    filled_avg_price: Number | None = None
    order_class: Literal["simple"] = "simple"
    order_type: str | None = None
    type: str | None = None
    side: str | None = None
    time_in_force: str
    limit_price: Number | None = None
    stop_price: Number | None = None
    status: str
    extended_hours: bool = False
    legs: list[AlpacaOrder] | None = None
    trail_percent: Number | None = None
    trail_price: Number | None = None
    hwm: Number | None = None
    expires_at: Timestamp | None = None


class AlpacaCancelResult(BaseModel):
    """One entry of `DELETE /v2/orders` (HTTP 207): the order and the status of its cancel."""

    id: str
    status: int
    body: AlpacaOrder | None = None


class AlpacaAccount(BaseModel):
    """`GET /v2/account`: USD amounts; see docs/api-alpaca.md for how they are derived."""

    id: str
    account_number: str
    status: str = "ACTIVE"
    crypto_status: str = "ACTIVE"
    currency: str = "USD"
    cash: Number
    buying_power: Number
    regt_buying_power: Number
    daytrading_buying_power: Number
    non_marginable_buying_power: Number
    effective_buying_power: Number
    options_buying_power: Number = "0"
    accrued_fees: Number = "0"
    pending_transfer_in: Number = "0"
    pending_transfer_out: Number = "0"
    portfolio_value: Number
    equity: Number
    last_equity: Number
    long_market_value: Number
    short_market_value: Number
    position_market_value: Number
    initial_margin: Number
    maintenance_margin: Number
    last_maintenance_margin: Number
    sma: Number = "0"
    multiplier: str = "1"
    pattern_day_trader: bool = False
    trading_blocked: bool = False
    transfers_blocked: bool = False
    account_blocked: bool = False
    trade_suspended_by_user: bool = False
    shorting_enabled: bool = False
    daytrade_count: int = 0
    options_approved_level: int = 0
    options_trading_level: int = 0
    created_at: Timestamp | None = None


class AlpacaPosition(BaseModel):
    """An open position: a spot holding (long) or a margin position (long or short)."""

    asset_id: str
    symbol: str
    exchange: str
    asset_class: str
    asset_marginable: bool
    qty: Number
    qty_available: Number
    avg_entry_price: Number
    side: Literal["long", "short"]
    market_value: Number
    cost_basis: Number
    unrealized_pl: Number
    unrealized_plpc: Number
    unrealized_intraday_pl: Number
    unrealized_intraday_plpc: Number
    current_price: Number
    lastday_price: Number
    change_today: Number


class AlpacaClosePositionResult(BaseModel):
    """One entry of `DELETE /v2/positions` (HTTP 207)."""

    symbol: str
    status: int
    order_id: str | None = None
    body: AlpacaOrder | dict[str, object]


class AlpacaAsset(BaseModel):
    """An instrument as an Alpaca asset (`class` on the wire)."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    asset_class: str = Field(serialization_alias="class")
    exchange: str
    symbol: str
    name: str
    status: Literal["active", "inactive"]
    tradable: bool
    marginable: bool
    shortable: bool
    easy_to_borrow: bool
    fractionable: bool
    min_order_size: Number
    min_trade_increment: Number
    price_increment: Number
    maintenance_margin_requirement: Number | None = None
    attributes: list[str] = Field(default_factory=list)
