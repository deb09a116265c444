"""Whole-engine invariant checks, run after every command by the scenarios and the streams.

`check_engine` asserts: the ledger balances (every asset sums to zero) and no user bucket,
nor the insurance fund, is negative; every live order
is in exactly the indexes its state says and is neither empty nor overfilled; each balance's
`held` is exactly what its live orders hold plus the margin of its positions; every book is
sane (strictly ordered levels, no empty level, bids below asks, level totals equal to the sum
of their orders); every position that can be liquidated is queued under its current
liquidation price. Reads the engine, never changes it.
"""

from __future__ import annotations

from typing import Any

from tradehall.engine.liquidation import liquidation_key
from tradehall.engine.matcher import MatchingEngine
from tradehall.engine.orders import OrderState
from tradehall.kernel.ids import (
    CONTRA_ACCOUNTS,
    INSURANCE_ACCOUNT,
    SYSTEM_ACCOUNTS,
    AccountId,
    AssetCode,
    OrderId,
)


def check_engine(engine: MatchingEngine) -> None:
    """Assert every invariant of the engine's state."""
    engine.ledger.check_invariants()
    _check_system_accounts(engine)
    resting: set[OrderId] = set()
    for symbol, book in engine.books.items():
        resting |= check_book(book, symbol)
    _check_orders(engine, resting)
    _check_holds(engine)
    _check_positions(engine)


def check_book(book: Any, symbol: str) -> set[OrderId]:
    """Assert one book is sane; return the ids of its resting orders."""
    ids: set[OrderId] = set()
    best: dict[bool, int | None] = {}
    for buy_side in (True, False):
        levels = book.levels(buy_side)
        prices = [level.price for level in levels]
        expected = sorted(set(prices), reverse=buy_side)
        assert prices == expected, f"{symbol} levels out of order: {prices}"
        top = book.best(buy_side)
        best[buy_side] = None if top is None else top.price
        assert best[buy_side] == (prices[0] if prices else None), f"{symbol} best is stale"
        for level in levels:
            orders = list(level.orders())
            assert orders, f"{symbol} has an empty level at {level.price}"
            assert level.head is orders[0]
            assert level.count == len(orders), f"{symbol} level {level.price} count drifted"
            assert level.total == sum(o.leaves for o in orders), (
                f"{symbol} level {level.price} total {level.total} != sum of leaves")
            for o in orders:
                assert o.price == level.price, o
                assert o.is_buy == buy_side, o
                assert o.command.symbol == symbol, o
                assert o.state is OrderState.RESTING, o
                assert o.level is not None, o
                assert o.leaves > 0, f"empty order resting: {o}"
                assert o.order_id not in ids, f"order rests twice: {o}"
                ids.add(o.order_id)
    bid, ask = best[True], best[False]
    assert bid is None or ask is None or bid < ask, f"{symbol} crossed: bid {bid} ask {ask}"
    return ids


def _check_orders(engine: MatchingEngine, resting: set[OrderId]) -> None:
    live_in_book: set[OrderId] = set()
    open_count = 0
    for order_id, o in engine.orders_by_id.items():
        assert o.order_id == order_id
        assert o.state in (OrderState.RESTING, OrderState.STOP), f"live order left as {o}"
        assert engine.open_orders[o.account][o.client_order_id] is o, f"not indexed: {o}"
        assert o.leaves > 0, o
        assert o.filled >= 0, o
        assert o.held >= 0, o
        if o.state is OrderState.RESTING:
            live_in_book.add(order_id)
        else:
            assert o.level is None, f"stop order linked to a level: {o}"
    for mine in engine.open_orders.values():
        for o in mine.values():
            open_count += 1
            assert engine.orders_by_id.get(o.order_id) is o, f"stale open order: {o}"
    assert open_count == len(engine.orders_by_id)
    assert live_in_book == resting, "books and order index disagree"


def _check_holds(engine: MatchingEngine) -> None:
    expected: dict[tuple[AccountId, AssetCode], int] = {}
    for o in engine.orders_by_id.values():
        bal = o.hold
        assert engine.ledger.peek(bal.account, bal.asset) is bal, f"foreign hold: {o}"
        key = (bal.account, bal.asset)
        expected[key] = expected.get(key, 0) + o.held
    for (account, symbol), pos in engine.positions.items():
        key = (account, engine.instruments[symbol].quote)
        expected[key] = expected.get(key, 0) + pos.margin
    for bal in engine.ledger:
        want = expected.pop((bal.account, bal.asset), 0)
        assert bal.held == want, (
            f"{bal.account}/{bal.asset} held {bal.held}, orders and margin account for {want}")
        if bal.account in SYSTEM_ACCOUNTS:
            assert bal.held == 0, f"system account holds funds: {bal.account}/{bal.asset}"
    assert not any(expected.values()), f"holds without a balance: {expected}"


def _check_system_accounts(engine: MatchingEngine) -> None:
    # Said outright, though the ledger's own check covers it: only @custody and @clearing may
    # go negative, and @insurance, which pays shortfalls, above all must not.
    assert not any(engine.ledger.totals().values()), engine.ledger.totals()
    for bal in engine.ledger:
        if bal.account == INSURANCE_ACCOUNT:
            assert bal.available >= 0, f"insurance fund negative: {bal.asset} {bal.available}"
        elif bal.account not in CONTRA_ACCOUNTS:
            assert bal.available >= 0, f"negative: {bal.account}/{bal.asset}"


def _check_positions(engine: MatchingEngine) -> None:
    for pos in engine.positions.values():
        assert pos.margin >= 0, vars_of(pos)
        assert pos.cost_ticks >= 0, vars_of(pos)
        if pos.net_qty == 0:
            assert pos.cost_ticks == 0, vars_of(pos)
            assert pos.margin == 0, vars_of(pos)
        # Every position that can be liquidated is queued under its current price.
        inst = engine.instruments[pos.symbol]
        key = liquidation_key(inst, pos) if inst.maint_ppm else 0
        assert pos.liquidation_key == key, (vars_of(pos), key)
        if key:
            longs, shorts = engine.liquidations[pos.symbol]
            assert (key, pos.account) in (longs if key < 0 else shorts), vars_of(pos)


def vars_of(obj: object) -> dict[str, object]:
    """Return the slot values of an engine object, for assertion messages."""
    return {name: getattr(obj, name) for name in getattr(obj, "__slots__", ())}

