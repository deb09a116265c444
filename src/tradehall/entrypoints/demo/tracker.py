"""The demo market makers' view of their own live orders, kept from the event stream.

The makers only send commands; what became of their orders (accepted, filled by a taker,
amended, canceled) is read back from the event batches, which reach every subscriber after
their fsync and in sequence order. `wait_for(seq)` lets a maker be sure the tracker has seen
the results of the commands it just sent before it plans the next requote. The last trade price
of every symbol is kept too. No I/O beyond the subscription it is given.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tradehall.kernel.ids import AccountId, ClientOrderId, OrderId, Symbol
from tradehall.service.messages import EventBatch
from tradehall.service.ports import Subscription
from tradehall.trading import events as e
from tradehall.trading.model import Side


@dataclass(slots=True)
class LiveOrder:
    """A maker's resting order: what is left of it and what was filled."""

    order_id: OrderId
    client_order_id: ClientOrderId
    symbol: Symbol
    side: Side
    price: int
    leaves: int
    filled: int


class OrderTracker:
    """Live orders of a set of accounts, and last trade prices, from the event stream."""

    def __init__(self, accounts: set[AccountId]) -> None:
        self.accounts = accounts
        self.orders: dict[tuple[AccountId, ClientOrderId], LiveOrder] = {}
        self.last_price: dict[Symbol, int] = {}
        self.trades = 0
        self.seq = 0
        self._advanced = asyncio.Event()

    async def run(self, subscription: Subscription) -> None:
        """Apply every batch of the subscription until it closes."""
        async for batch in subscription:
            self.apply(batch)

    def apply(self, batch: EventBatch) -> None:
        """Take in one batch's events."""
        for result in batch.results:
            for event in result.events:
                self._apply(event)
        self.seq = max(self.seq, batch.last_seq)
        self._advanced.set()
        self._advanced = asyncio.Event()

    async def wait_for(self, seq: int, timeout_s: float = 2.0) -> bool:
        """Wait until the tracker has seen command `seq`; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.seq < seq:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._advanced.wait(), remaining)
            except TimeoutError:
                return False
        return True

    def live(self, account: AccountId, symbol: Symbol) -> list[LiveOrder]:
        """Return an account's live orders in one symbol."""
        return [o for (owner, _), o in self.orders.items()
                if owner == account and o.symbol == symbol]

    def _apply(self, event: e.EngineEvent) -> None:
        if isinstance(event, e.Trade):
            self.trades += 1
            if not event.off_book:
                self.last_price[event.symbol] = event.price
            self._fill(event.maker_account, event.maker_client_order_id, event.qty,
                       event.maker_leaves_qty)
            self._fill(event.taker_account, event.taker_client_order_id, event.qty,
                       event.taker_leaves_qty)
        elif isinstance(event, e.OrderAccepted):
            if event.account in self.accounts and event.price is not None:
                self.orders[(event.account, event.client_order_id)] = LiveOrder(
                    event.order_id, event.client_order_id, event.symbol, event.side,
                    event.price, event.qty, 0)
        elif isinstance(event, e.OrderAmended):
            order = self.orders.get((event.account, event.client_order_id))
            if order is not None:
                order.leaves = event.remaining_qty
                if event.price is not None:
                    order.price = event.price
        elif isinstance(event, e.OrderCanceled | e.OrderExpired):
            self.orders.pop((event.account, event.client_order_id), None)

    def _fill(self, account: AccountId, client_order_id: ClientOrderId, qty: int,
              leaves: int) -> None:
        if account not in self.accounts:
            return
        key = (account, client_order_id)
        order = self.orders.get(key)
        if order is None:
            return
        if leaves == 0:
            del self.orders[key]
            return
        order.leaves = leaves
        order.filled += qty
