"""Live orders as the engine keeps them while they rest or wait for a trigger.

An `Order` is mutable engine state with `__slots__` (the hot path touches it per fill). It is
dropped from every index as soon as it is done, so finished orders cost no memory. No I/O.
"""

from __future__ import annotations

from enum import IntEnum

from tradehall.kernel.ids import AccountId, ClientOrderId, OrderId
from tradehall.ledger.model import Balance
from tradehall.trading.commands import SubmitOrder
from tradehall.trading.model import (
    InstrumentKind,
    InstrumentStatus,
    OrderType,
    SelfTradePrevention,
    TimeInForce,
)

# Enum members bound to module names: on Python 3.11 `OrderType.MARKET` is an attribute lookup
# through the enum's metaclass (~70 ns), a module global ~15 ns; the hot path does dozens.
MARGIN = InstrumentKind.MARGIN
LIMIT = OrderType.LIMIT
MARKET = OrderType.MARKET
STOP = OrderType.STOP
STOP_LIMIT = OrderType.STOP_LIMIT
IOC = TimeInForce.IOC
FOK = TimeInForce.FOK
DAY = TimeInForce.DAY
STP_NONE = SelfTradePrevention.NONE
CANCEL_NEWEST = SelfTradePrevention.CANCEL_NEWEST
CANCEL_OLDEST = SelfTradePrevention.CANCEL_OLDEST
HALTED = InstrumentStatus.HALTED
CLOSE_ONLY = InstrumentStatus.CLOSE_ONLY
TRADING = InstrumentStatus.TRADING


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
        "client_order_id",
        "command",
        "expire_ns",
        "filled",
        "held",
        "hold",
        "is_buy",
        "leaves",
        "level",
        "next",
        "order_id",
        "order_type",
        "post_only",
        "prev",
        "price",
        "receive",
        "reduce_only",
        "state",
        "stop_price",
        "stp",
        "time_in_force",
    )

    def __init__(self, order_id: OrderId, command: SubmitOrder, hold: Balance) -> None:
        self.order_id = order_id
        self.command = command
        self.account: AccountId = command.account
        self.client_order_id: ClientOrderId = command.client_order_id
        self.is_buy = command.side == "buy"
        self.order_type: OrderType = command.order_type
        self.price: int | None = command.price
        self.stop_price: int | None = command.stop_price
        self.leaves = command.qty
        self.filled = 0
        self.time_in_force: TimeInForce = command.time_in_force
        self.stp: SelfTradePrevention = command.stp
        self.post_only = command.post_only
        self.reduce_only = command.reduce_only
        self.hold = hold  # balance the order's funds are held in
        self.receive: Balance | None = None  # balance fills are paid into (spot only)
        self.held = 0
        self.expire_ns = 0
        self.state = OrderState.PENDING
        self.level: object | None = None
        self.prev: Order | None = None
        self.next: Order | None = None

    def __repr__(self) -> str:
        side = "buy" if self.is_buy else "sell"
        return (f"Order({self.order_id}, {self.account}/{self.client_order_id}, {side} "
                f"{self.leaves}@{self.price}, state={self.state.name})")
