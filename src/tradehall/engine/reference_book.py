"""The reference order book: slow, obviously correct, the oracle for `engine/book.py`.

Each side is one plain list of resting orders in the order they were added; the best price is
found by scanning that list, and a level is every order at that price, in list order (FIFO).
There are no heaps, no linked lists and no running totals: levels are computed fresh on every
call, so nothing can drift. It offers the interface the matcher uses (`best`, `add`, `remove`,
`reduce`, `levels`, and levels with `price`, `head`, `total`, `count`, `orders()`), ignores the
`prev`/`next` links the fast book threads through orders, and is meant for tests (the scenario
tables and the hypothesis streams run on both books and must produce identical events). Never
used in production: it is O(n) per query. No I/O.
"""

from __future__ import annotations

from collections.abc import Iterator

from tradehall.engine.book import Book
from tradehall.engine.orders import Order, OrderState


class ReferenceLevel:
    """A computed view of the orders at one price, in time priority."""

    __slots__ = ("_orders", "price")

    def __init__(self, price: int, orders: list[Order]) -> None:
        self.price = price
        self._orders = orders

    @property
    def head(self) -> Order:
        """Return the order with time priority."""
        return self._orders[0]

    @property
    def total(self) -> int:
        """Return the sum of the level's remaining quantities."""
        return sum(order.leaves for order in self._orders)

    @property
    def count(self) -> int:
        """Return the number of orders at this price."""
        return len(self._orders)

    def orders(self) -> Iterator[Order]:
        """Iterate the level's orders in time priority."""
        return iter(list(self._orders))


class ReferenceBook(Book):
    """Bids and asks of one symbol as two arrival-ordered lists."""

    __slots__ = ("_asks", "_bids", "symbol")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self._bids: list[Order] = []
        self._asks: list[Order] = []

    def _side(self, buy_side: bool) -> list[Order]:
        return self._bids if buy_side else self._asks

    def _level(self, buy_side: bool, price: int) -> ReferenceLevel:
        return ReferenceLevel(price, [o for o in self._side(buy_side) if o.price == price])

    def _prices(self, buy_side: bool) -> list[int]:
        prices = {o.price for o in self._side(buy_side) if o.price is not None}
        return sorted(prices, reverse=buy_side)

    def best(self, buy_side: bool) -> ReferenceLevel | None:
        """Return the best level of one side, or None."""
        prices = self._prices(buy_side)
        return self._level(buy_side, prices[0]) if prices else None

    def best_bid(self) -> ReferenceLevel | None:
        """Return the highest bid level, or None."""
        return self.best(True)

    def best_ask(self) -> ReferenceLevel | None:
        """Return the lowest ask level, or None."""
        return self.best(False)

    def best_head(self, buy_side: bool) -> Order | None:
        """Return the first order in time priority at the best price of one side, or None."""
        level = self.best(buy_side)
        return None if level is None else level.head

    def add(self, order: Order) -> None:
        """Append a priced order behind everything already resting."""
        assert order.price is not None
        assert all(o is not order for o in self._bids + self._asks), "order added twice"
        self._side(order.is_buy).append(order)
        order.level = self
        order.state = OrderState.RESTING

    def remove(self, order: Order) -> None:
        """Take a resting order out of the book."""
        side = self._side(order.is_buy)
        index = next(i for i, o in enumerate(side) if o is order)
        del side[index]
        order.level = None

    def reduce(self, order: Order, lots: int) -> None:
        """Take lots off a resting order in place (it keeps its priority)."""
        assert any(o is order for o in self._side(order.is_buy)), "order is not resting here"
        order.leaves -= lots

    def walk(self, buy_side: bool) -> Iterator[ReferenceLevel]:
        """Yield one side's levels best first (`OrderBook.walk`'s interface)."""
        yield from self.levels(buy_side)

    def levels(self, buy_side: bool) -> list[ReferenceLevel]:
        """Return one side's levels, best first."""
        return [self._level(buy_side, price) for price in self._prices(buy_side)]

    @property
    def bids(self) -> dict[int, ReferenceLevel]:
        """Return the bid levels keyed by price."""
        return {level.price: level for level in self.levels(True)}

    @property
    def asks(self) -> dict[int, ReferenceLevel]:
        """Return the ask levels keyed by price."""
        return {level.price: level for level in self.levels(False)}
