"""The fast book against the reference book, operation by operation.

Long random sequences of add, remove and reduce over a wide price range (so the fast book's
lazy heap fills with stale prices and compacts) must leave both books with the same levels,
the same queues in the same order, the same totals and the same best prices.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tradehall.engine.book import OrderBook
from tradehall.engine.orders import Order, OrderState
from tradehall.engine.reference_book import ReferenceBook
from tradehall.kernel.ids import AccountId, AssetCode, ClientOrderId, OrderId, Symbol
from tradehall.ledger.model import Balance
from tradehall.trading import commands as c
from tradehall.trading.model import Side

SYMBOL = Symbol("ABC-USD")
HOLD = Balance(AccountId("alice"), AssetCode("USD"))

# (kind, side is buy, price, qty, pick): pick chooses a resting order for remove/reduce.
operations = st.lists(
    st.tuples(st.sampled_from(["add", "add", "remove", "reduce"]), st.booleans(),
              st.integers(min_value=1, max_value=400), st.integers(min_value=1, max_value=9),
              st.integers(min_value=0, max_value=10_000)),
    min_size=300, max_size=700)


def _order(order_id: int, is_buy: bool, price: int, qty: int) -> Order:
    command = c.SubmitOrder(account=AccountId("alice"),
                            client_order_id=ClientOrderId(f"o{order_id}"), symbol=SYMBOL,
                            side=Side.BUY if is_buy else Side.SELL, qty=qty, price=price)
    return Order(OrderId(order_id), command, HOLD)


def _shape(book: Any) -> list[object]:
    sides = [[(level.price, level.total, level.count,
               [(o.order_id, o.leaves) for o in level.orders()])
              for level in book.levels(buy_side)] for buy_side in (True, False)]
    best = [None if (level := book.best(buy_side)) is None
            else (level.price, level.head.order_id, level.total)
            for buy_side in (True, False)]
    # The lazy walk the fill-or-kill check uses, with the heap's stale and repeated prices.
    walks = [[level.price for level in book.walk(buy_side)] for buy_side in (True, False)]
    return [sides, best, walks]


@settings(max_examples=25)
@given(operations)
def test_fast_book_when_given_any_operations_matches_the_reference_book(
        ops: list[tuple[str, bool, int, int, int]]) -> None:
    fast, reference = OrderBook(SYMBOL), ReferenceBook(SYMBOL)
    resting: list[tuple[Order, Order]] = []
    for order_id, (kind, is_buy, price, qty, pick) in enumerate(ops, start=1):
        if kind == "add" or not resting:
            pair = (_order(order_id, is_buy, price, qty), _order(order_id, is_buy, price, qty))
            fast.add(pair[0])
            reference.add(pair[1])
            resting.append(pair)
        else:
            index = pick % len(resting)
            mine, theirs = resting[index]
            lots = min(pick % 9 + 1, mine.leaves)
            if kind == "remove" or lots == mine.leaves:
                fast.remove(mine)
                reference.remove(theirs)
                del resting[index]
                assert mine.level is None
                assert theirs.level is None
            else:
                fast.reduce(mine, lots)
                reference.reduce(theirs, lots)
        assert _shape(fast) == _shape(reference)
    for mine, theirs in resting:
        assert mine.state is OrderState.RESTING
        assert theirs.state is OrderState.RESTING
        assert theirs.level is not None
        assert (mine.leaves, mine.price) == (theirs.leaves, theirs.price)


def test_fast_book_when_many_prices_come_and_go_compacts_its_heap() -> None:
    # Arrange
    book = OrderBook(SYMBOL)
    orders = [_order(i, True, 1_000 - i, 1) for i in range(1, 200)]
    # Act
    for order in orders:
        book.add(order)
    for order in orders[:-1]:
        book.remove(order)
    for i in range(200, 300):
        book.add(_order(i, True, 1, 1))
    # Assert
    survivor = orders[-1]
    level = book.best_bid()
    assert level is not None
    assert level.price == survivor.price
    assert [level.price for level in book.levels(True)] == [survivor.price, 1]
    assert len(book._bid_heap) <= 2 * len(book.bids) + 64
