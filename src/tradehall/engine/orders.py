"""Live orders as the engine keeps them while they rest or wait for a trigger.

An `Order` is mutable engine state with `__slots__` (the hot path touches it per fill). It is
dropped from every index as soon as it is done, so finished orders cost no memory. No I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Final

from msgspec import structs

from tradehall.engine.register import Registered
from tradehall.kernel.ids import AccountId, AssetCode, ClientOrderId, OrderId, Symbol
from tradehall.ledger.model import Balance
from tradehall.trading.commands import SubmitOrder
from tradehall.trading.instrument import Instrument
from tradehall.trading.model import (
    InstrumentKind,
    InstrumentStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)

# Enum members bound to module names: on Python 3.11 `OrderType.MARKET` is an attribute lookup
# through the enum's metaclass (~70 ns), a module global ~15 ns; the hot path does dozens.
# `Final` lets mypyc keep them in C statics instead of looking them up in the module dict.
MARGIN: Final = InstrumentKind.MARGIN
BUY: Final = Side.BUY
MAX_PRICE_TICKS: Final = 2**53  # the highest price in ticks an order may carry
LIMIT: Final = OrderType.LIMIT
MARKET: Final = OrderType.MARKET
STOP: Final = OrderType.STOP
STOP_LIMIT: Final = OrderType.STOP_LIMIT
IOC: Final = TimeInForce.IOC
FOK: Final = TimeInForce.FOK
DAY: Final = TimeInForce.DAY
STP_NONE: Final = SelfTradePrevention.NONE
CANCEL_NEWEST: Final = SelfTradePrevention.CANCEL_NEWEST
CANCEL_OLDEST: Final = SelfTradePrevention.CANCEL_OLDEST
HALTED: Final = InstrumentStatus.HALTED
CLOSE_ONLY: Final = InstrumentStatus.CLOSE_ONLY
TRADING: Final = InstrumentStatus.TRADING

_astuple: Final = structs.astuple

if TYPE_CHECKING:  # book.py imports this module
    from mypy_extensions import i64  # a machine integer when compiled, an int otherwise

    from tradehall.engine.book import Book

# Heaps of stop orders per symbol: (buy stops, sell stops negated), each (trigger, order id).
StopHeaps = tuple[list[tuple[int, int]], list[tuple[int, int]]]
# (longs keyed by minus their liquidation price, shorts by it), each entry (key, account).
LiquidationHeaps = tuple[list[tuple[int, AccountId]], list[tuple[int, AccountId]]]


_SPLIT: Final = 1 << 14  # ids a register holds in one dict before it splits
_PARTS: Final = 1024  # dicts of a split register (a power of two)


class ClientIdRegister:
    """One account's client order ids in use: each id's `Registered` entry.

    One dict while small. Past `_SPLIT` ids it splits into `_PARTS` dicts chosen by the id's
    hash, because growing one dict rehashes every key, and a str key's hash is read from the
    string itself, so every key costs a cache miss: one dict of 11 million ids (a market
    maker's day) stopped the engine for 1.6 s to grow, and a part of a split one stays below
    a thousandth of that. Iteration order is unspecified; callers sort.
    """

    __slots__ = ("_one", "_parts")

    def __init__(self) -> None:
        self._one: dict[ClientOrderId, Registered] = {}
        self._parts: list[dict[ClientOrderId, Registered]] | None = None

    def get(self, client_order_id: ClientOrderId) -> Registered | None:
        """The entry of an id in use, or None."""
        parts = self._parts
        if parts is None:
            return self._one.get(client_order_id)
        return _part(parts, client_order_id).get(client_order_id)

    def add(self, client_order_id: ClientOrderId, entry: Registered) -> None:
        """Register an id (replacing its entry if it has one)."""
        parts = self._parts
        if parts is not None:
            _part(parts, client_order_id)[client_order_id] = entry
            return
        one = self._one
        one[client_order_id] = entry
        if len(one) > _SPLIT:
            self._split()

    def discard(self, client_order_id: ClientOrderId, order_id: int) -> None:
        """Free an id if it still names this order."""
        parts = self._parts
        part = self._one if parts is None else _part(parts, client_order_id)
        entry = part.get(client_order_id)
        if entry is not None and entry.order_id == order_id:
            del part[client_order_id]

    def __contains__(self, client_order_id: object) -> bool:
        if not isinstance(client_order_id, str):
            return False
        return self.get(ClientOrderId(client_order_id)) is not None

    def __len__(self) -> int:
        parts = self._parts
        return len(self._one) if parts is None else sum(len(part) for part in parts)

    def __iter__(self) -> Iterator[ClientOrderId]:
        return (cid for cid, _ in self.items())

    def items(self) -> Iterator[tuple[ClientOrderId, Registered]]:
        """Every id in use with its entry, in no particular order."""
        parts = self._parts
        for part in [self._one] if parts is None else parts:
            yield from part.items()

    def _split(self) -> None:
        parts: list[dict[ClientOrderId, Registered]] = [{} for _ in range(_PARTS)]
        for cid, entry in self._one.items():
            _part(parts, cid)[cid] = entry
        self._parts = parts
        self._one = {}


def _part(parts: list[dict[ClientOrderId, Registered]],
          client_order_id: ClientOrderId) -> dict[ClientOrderId, Registered]:
    """The dict of a split register that holds (or will hold) an id."""
    h: i64 = hash(client_order_id)  # i64: `&` on a hash past 2**62 would box it
    return parts[h & (_PARTS - 1)]


class AccountState:
    """One account's engine indexes, reached with a single lookup by account.

    `balances` is the ledger's own dict of the account's balances, `open` its live orders
    (resting and stop) and `ids` its client order id register: the same dicts the engine's
    per-account maps hold, so a command looks the account up once instead of once per map.
    """

    __slots__ = ("balances", "ids", "open")

    def __init__(self, balances: dict[AssetCode, Balance], open_orders: dict[ClientOrderId, Order],
                 ids: ClientIdRegister) -> None:
        self.balances = balances
        self.open = open_orders
        self.ids = ids


class Market:
    """One symbol's engine indexes, reached with a single lookup by symbol: its instrument,
    book, stop and liquidation heaps (the objects the engine's per-symbol maps hold), its last
    trade price (0 until it trades) and its fee bucket (a cache of the ledger's)."""

    __slots__ = ("book", "fees", "inst", "last", "liquidations", "stops")

    def __init__(self, inst: Instrument, book: Book, stops: StopHeaps,
                 liquidations: LiquidationHeaps) -> None:
        self.inst = inst
        self.book = book
        self.stops = stops
        self.liquidations = liquidations
        self.last = 0
        self.fees: Balance | None = None


class OrderState(IntEnum):
    """Where a live order is. Transitions: PENDING -> RESTING or DONE; STOP -> PENDING or DONE;
    RESTING -> DONE."""

    PENDING = 0  # being matched as a taker
    RESTING = 1  # in the book
    STOP = 2  # waiting for its trigger price
    DONE = 3  # filled, canceled, expired or rejected


class Order:
    """A live order: identity, terms, what is left, and the funds held for it."""

    __slots__ = (
        "account",
        "boxed_id",
        "client_order_id",
        "command",
        "expire_ns",
        "filled",
        "held",
        "hold",
        "is_buy",
        "is_market",
        "leaves",
        "level",
        "liquidation",
        "market",
        "next",
        "no_rest",
        "order_id",
        "order_type",
        "owner",
        "post_only",
        "prev",
        "price",
        "receive",
        "reduce_only",
        "side",
        "state",
        "stop_price",
        "stp",
        "symbol",
        "time_in_force",
    )

    def __init__(self, order_id: OrderId, command: SubmitOrder, hold: Balance) -> None:
        # One C call reads every field: compiled code reads a msgspec attribute through the
        # generic lookup (~150 instructions each), and the hot path needs them all.
        (account, client_order_id, symbol, side, order_type, qty, price, stop_price,
         time_in_force, post_only, reduce_only, stp) = _astuple(command)
        self.order_id = order_id
        # The same id as a Python int object, made once: compiled code keeps `order_id` as a
        # machine integer and allocates a new int object each time it hands it to Python (an
        # event, a dict key, a tuple), about five times per order. `Any`, so mypyc stores it boxed.
        self.boxed_id: Any = order_id
        self.command = command
        self.account: AccountId = account
        self.client_order_id: ClientOrderId = client_order_id
        self.symbol: Symbol = symbol
        self.side: Side = side
        self.is_buy: bool = side is BUY
        self.order_type: OrderType = order_type
        # Flags the hot path tests instead of comparing enum members (a str comparison each).
        self.is_market: bool = order_type is MARKET
        self.no_rest: bool = time_in_force is IOC or time_in_force is FOK
        self.price: int | None = price
        self.stop_price: int | None = stop_price
        self.leaves: int = qty
        self.filled = 0
        self.time_in_force: TimeInForce = time_in_force
        self.stp: SelfTradePrevention = stp
        self.post_only: bool = post_only
        self.reduce_only: bool = reduce_only
        self.hold = hold  # balance the order's funds are held in
        self.receive: Balance | None = None  # balance fills are paid into (spot only)
        self.owner: AccountState | None = None  # set once the order's funds are held
        self.market: Market | None = None  # set once the symbol is known to exist
        self.held = 0
        self.expire_ns = 0
        self.liquidation = False  # the engine liquidates with it: liquidation fee, no taker fee
        self.state = OrderState.PENDING
        self.level: object | None = None
        self.prev: Order | None = None
        self.next: Order | None = None

    def __repr__(self) -> str:
        side = "buy" if self.is_buy else "sell"
        return (f"Order({self.order_id}, {self.account}/{self.client_order_id}, {side} "
                f"{self.leaves}@{self.price}, state={self.state.name})")
