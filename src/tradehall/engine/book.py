"""The fast order book of one symbol.

Price levels live in a dict keyed by price, each a doubly linked FIFO of orders (O(1) append,
unlink and head). The best price comes from a heap with lazy deletion, so finding it does not
grow with depth; stale heap entries are dropped when they surface and the heap is rebuilt when
they pile up. `engine/reference_book.py` implements the same interface the obvious way, and
every scenario runs against both. No I/O; called only from the matcher.
"""

from __future__ import annotations

from collections.abc import Iterator
from heapq import heapify, heappop, heappush
from typing import Any

from tradehall.engine.orders import Order, OrderState


class PriceLevel:
    """All resting orders at one price, in time priority."""

    __slots__ = ("count", "head", "price", "tail", "total")

    def __init__(self, price: int) -> None:
        self.price = price
        self.head: Order | None = None
        self.tail: Order | None = None
        self.total = 0
        self.count = 0

    def orders(self) -> Iterator[Order]:
        """Iterate the level's orders in time priority."""
        node = self.head
        while node is not None:
            yield node
            node = node.next


class Book:
    """What the engine calls on a book; `OrderBook` and the reference book implement it.

    A common base class rather than a Protocol: compiled, the engine then calls either book
    natively through its method table instead of looking each method up by name (about 500
    instructions per call). Levels are `Any`: the two books have their own level types.
    """

    __slots__ = ()

    def best(self, buy_side: bool) -> Any:
        """Return the best level of one side, or None."""
        raise NotImplementedError

    def best_head(self, buy_side: bool) -> Order | None:
        """Return the first order in time priority at the best price of one side, or None."""
        raise NotImplementedError

    def add(self, order: Order) -> None:
        """Append a priced order at the tail of its level."""
        raise NotImplementedError

    def remove(self, order: Order) -> None:
        """Unlink a resting order."""
        raise NotImplementedError

    def reduce(self, order: Order, lots: int) -> None:
        """Take lots off a resting order in place (it keeps its priority)."""
        raise NotImplementedError

    def walk(self, buy_side: bool) -> Iterator[Any]:
        """Yield one side's levels best first."""
        raise NotImplementedError

    def levels(self, buy_side: bool) -> list[Any]:
        """Return one side's levels best first."""
        raise NotImplementedError


class OrderBook(Book):
    """Bids and asks of one symbol with price-time priority."""

    __slots__ = ("_ask_heap", "_bid_heap", "_top_ask", "_top_bid", "asks", "bids", "symbol")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids: dict[int, PriceLevel] = {}
        self.asks: dict[int, PriceLevel] = {}
        self._bid_heap: list[int] = []  # negated prices
        self._ask_heap: list[int] = []
        # The best level of each side once found, until it empties (None: look it up again).
        # Every incoming order asks for it, and the heap's top costs a dict lookup.
        self._top_bid: PriceLevel | None = None
        self._top_ask: PriceLevel | None = None

    def best_bid(self) -> PriceLevel | None:
        """Return the highest bid level, or None."""
        level = self._top_bid
        if level is not None:
            return level
        heap, levels = self._bid_heap, self.bids
        while heap:
            level = levels.get(-heap[0])
            if level is not None:
                self._top_bid = level
                return level
            heappop(heap)
        return None

    def best_ask(self) -> PriceLevel | None:
        """Return the lowest ask level, or None."""
        level = self._top_ask
        if level is not None:
            return level
        heap, levels = self._ask_heap, self.asks
        while heap:
            level = levels.get(heap[0])
            if level is not None:
                self._top_ask = level
                return level
            heappop(heap)
        return None

    def best(self, buy_side: bool) -> PriceLevel | None:
        """Return the best level of one side."""
        return self.best_bid() if buy_side else self.best_ask()

    def best_head(self, buy_side: bool) -> Order | None:
        """Return the first order in time priority at the best price of one side, or None."""
        level = self.best_bid() if buy_side else self.best_ask()
        return None if level is None else level.head

    def add(self, order: Order) -> None:
        """Append a priced order at the tail of its level."""
        price = order.price
        assert price is not None
        if order.is_buy:
            levels, heap, key = self.bids, self._bid_heap, -price
        else:
            levels, heap, key = self.asks, self._ask_heap, price
        level = levels.get(price)
        if level is None:
            level = levels[price] = PriceLevel(price)
            heappush(heap, key)
            if len(heap) > 2 * len(levels) + 64:
                self._compact(order.is_buy)
            # A known best is beaten by a better new level; an unknown one is found later.
            if order.is_buy:
                top = self._top_bid
                if top is not None and price > top.price:
                    self._top_bid = level
            else:
                top = self._top_ask
                if top is not None and price < top.price:
                    self._top_ask = level
        tail = level.tail
        order.prev = tail
        order.next = None
        if tail is None:
            level.head = order
        else:
            tail.next = order
        level.tail = order
        level.total += order.leaves
        level.count += 1
        order.level = level
        order.state = OrderState.RESTING

    def remove(self, order: Order) -> None:
        """Unlink a resting order; drop its level when it empties."""
        level = order.level
        assert isinstance(level, PriceLevel)
        prev, nxt = order.prev, order.next
        if prev is None:
            level.head = nxt
        else:
            prev.next = nxt
        if nxt is None:
            level.tail = prev
        else:
            nxt.prev = prev
        level.total -= order.leaves
        level.count -= 1
        order.prev = order.next = None
        order.level = None
        if level.count == 0:
            if order.is_buy:
                del self.bids[level.price]
                if level is self._top_bid:
                    self._top_bid = None
            else:
                del self.asks[level.price]
                if level is self._top_ask:
                    self._top_ask = None

    def reduce(self, order: Order, lots: int) -> None:
        """Take lots off a resting order in place (it keeps its priority)."""
        order.leaves -= lots
        level = order.level
        assert isinstance(level, PriceLevel)
        level.total -= lots

    def walk(self, buy_side: bool) -> Iterator[PriceLevel]:
        """Yield one side's levels best first, lazily: a scan that stops after a few levels
        pays for a copy of the heap and those pops, not for sorting the whole side."""
        if buy_side:
            heap, levels, sign = list(self._bid_heap), self.bids, -1
        else:
            heap, levels, sign = list(self._ask_heap), self.asks, 1
        previous = None
        while heap:
            key = heappop(heap)
            if key == previous:
                continue  # a price pushed again after its level emptied: equal keys pop together
            previous = key
            level = levels.get(sign * key)
            if level is not None:
                yield level

    def levels(self, buy_side: bool) -> list[PriceLevel]:
        """Return one side's levels, best first."""
        if buy_side:
            return [self.bids[p] for p in sorted(self.bids, reverse=True)]
        return [self.asks[p] for p in sorted(self.asks)]

    def _compact(self, buy_side: bool) -> None:
        if buy_side:
            self._bid_heap = [-p for p in self.bids]
            heapify(self._bid_heap)
        else:
            self._ask_heap = list(self.asks)
            heapify(self._ask_heap)
