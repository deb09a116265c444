"""The ports the service layer depends on: the engine, the event stream, the read models.

Adapters implement them (the engine thread and the in-process bus in embedded mode, NATS
JetStream in scale-out; SQLite or PostgreSQL for the read models); only `bootstrap.py` chooses.
Records are integer-valued like the engine (ticks, lots, minor units); the edges render them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Literal, Protocol

import msgspec

from tradehall.identity.ports import ApiKeyRecord as ApiKeyRecord
from tradehall.identity.ports import IdentityStore as IdentityStore
from tradehall.identity.ports import UserRecord as UserRecord
from tradehall.kernel.ids import AccountId, AssetCode, ClientOrderId, OrderId, Symbol, TradeId
from tradehall.service.messages import CommandResult, EventBatch
from tradehall.trading.commands import EngineCommand

# -- Engine and event stream ---------------------------------------------------------------------


class EnginePort(Protocol):
    """Sends commands to the engine; each returns once its command is journaled and applied."""

    async def execute(self, command: EngineCommand) -> CommandResult:
        """Journal and apply one command; raise TemporaryError when the engine is unavailable."""
        ...

    async def execute_many(self, commands: Sequence[EngineCommand]) -> list[CommandResult]:
        """Journal and apply several commands in order (one group commit when possible)."""
        ...

    def is_ready(self) -> bool:
        """Return True once the engine has recovered and accepts commands."""
        ...


class Subscription(Protocol):
    """A consumer's view of the event stream, in sequence order."""

    def __aiter__(self) -> AsyncIterator[EventBatch]: ...

    def close(self) -> None: ...


class EventBus(Protocol):
    """Publishes event batches in sequence order to every subscriber."""

    def publish(self, batch: EventBatch) -> None: ...

    def subscribe(self, name: str) -> Subscription: ...

    @property
    def last_seq(self) -> int:
        """The sequence number of the last published command."""
        ...


# -- Read models ------------------------------------------------------------------------------

OrderStatus = Literal["new", "partially_filled", "filled", "canceled", "expired", "pending_new"]
"""`pending_new` is a stop order waiting for its trigger price."""

StatusFilter = Literal["open", "closed", "all"]


class OrderRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An order as the read model keeps it, from acceptance to its final state."""

    id: str  # UUID, derived from the engine order id (service/ids.py)
    order_id: OrderId
    account: AccountId
    client_order_id: ClientOrderId
    symbol: Symbol
    side: str
    order_type: str
    time_in_force: str
    qty: int  # lots, the current total (after amends)
    filled_qty: int
    filled_notional: int  # quote minor units, for the average fill price
    price: int | None
    stop_price: int | None
    post_only: bool
    reduce_only: bool
    status: OrderStatus
    cancel_reason: str | None
    created_ns: int
    updated_ns: int
    filled_ns: int | None
    canceled_ns: int | None
    expired_ns: int | None
    seq: int  # the last command that changed it


class FillRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One side of a trade, as seen by one account."""

    trade_id: TradeId
    order_id: OrderId
    account: AccountId
    client_order_id: ClientOrderId
    symbol: Symbol
    side: str
    price: int
    qty: int
    notional: int
    fee: int
    liquidity: Literal["maker", "taker"]
    leaves_qty: int
    ts_ns: int
    seq: int


class BalanceRecord(msgspec.Struct, frozen=True, kw_only=True):
    account: AccountId
    asset: AssetCode
    available: int
    held: int
    seq: int


class PositionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A margin position (engine events) or a spot holding (cost basis from fills)."""

    account: AccountId
    symbol: Symbol
    net_qty: int  # lots; signed for margin, >= 0 for spot
    cost_ticks: int  # sum of price * lots of the open quantity
    realized_pnl: int
    margin: int
    seq: int


class CandleRecord(msgspec.Struct, frozen=True, kw_only=True):
    symbol: Symbol
    interval_s: int
    start_ns: int
    open: int
    high: int
    low: int
    close: int
    volume: int  # lots
    trades: int


class ReadModel(Protocol):
    """Queries over the projections of the event stream (orders, fills, balances, ...)."""

    @property
    def last_seq(self) -> int:
        """The last command seq the projections include."""
        ...

    async def wait_for(self, seq: int, timeout_s: float = 1.0) -> bool:
        """Wait until the projections include `seq`; False on timeout."""
        ...

    async def refresh(self) -> int:
        """Read how far the projections got, when another process projects; the new
        `last_seq`."""
        ...

    async def get_order(self, order_uuid: str) -> OrderRecord | None: ...

    async def get_order_by_client_id(self, account: AccountId,
                                     client_order_id: ClientOrderId) -> OrderRecord | None: ...

    async def list_orders(self, account: AccountId, *, status: StatusFilter = "open",
                          symbols: Sequence[Symbol] | None = None, after_ns: int | None = None,
                          until_ns: int | None = None, limit: int = 50,
                          direction: Literal["asc", "desc"] = "desc") -> list[OrderRecord]:
        """Orders of an account by creation time; `after_ns`/`until_ns` bound it exclusively."""
        ...

    async def list_fills(self, account: AccountId, *, symbol: Symbol | None = None,
                         order_id: OrderId | None = None, before_seq: int | None = None,
                         limit: int = 100) -> list[FillRecord]:
        """Fills of an account, newest first; page with `before_seq`."""
        ...

    async def balances(self, account: AccountId) -> list[BalanceRecord]: ...

    async def positions(self, account: AccountId) -> list[PositionRecord]:
        """Open positions (net_qty != 0) of an account, by symbol."""
        ...

    async def candles(self, symbol: Symbol, interval_s: int, *, from_ns: int | None = None,
                      to_ns: int | None = None, limit: int = 500) -> list[CandleRecord]: ...


# -- Identity (defined in identity/ports.py; re-exported for the service layer) -----------------
