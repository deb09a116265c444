"""The read-only views the service uses: depth, balances, open orders, positions."""

from __future__ import annotations

from tests.kit.factories import (
    ALICE,
    BOB,
    PERP,
    SPOT,
    T0,
    USD,
    buy,
    make_engine,
    sell,
    set_status,
)
from tradehall.engine import queries as q
from tradehall.kernel.ids import OrderId
from tradehall.trading.model import InstrumentStatus, OrderType, Side


def test_book_depth_when_levels_rest_returns_best_first_with_totals() -> None:
    # Arrange
    engine = make_engine()
    for i, (cid, price, qty) in enumerate([("b1", 99_00, 2), ("b2", 98_00, 1), ("b3", 99_00, 3)]):
        engine.apply(buy(ALICE, cid, qty, price), T0 + i)
    engine.apply(sell(BOB, "s1", 4, 101_00), T0 + 9)
    engine.apply(sell(BOB, "s2", 1, 100_00), T0 + 10)

    # Act
    bids, asks = q.book_depth(engine, SPOT, 10)
    top_bid, _ = q.book_depth(engine, SPOT, 1)

    # Assert
    assert bids == [q.LevelView(99_00, 5, 2), q.LevelView(98_00, 1, 1)]
    assert asks == [q.LevelView(100_00, 1, 1), q.LevelView(101_00, 4, 1)]
    assert top_bid == [q.LevelView(99_00, 5, 2)]
    assert q.book_depth(engine, PERP, 5) == ([], [])


def test_open_orders_and_balances_when_an_order_rests_show_its_hold() -> None:
    engine = make_engine()
    before = {b.asset: b for b in q.balances(engine, ALICE)}
    engine.apply(buy(ALICE, "b1", 2, 99_00), T0)

    [view] = q.open_orders(engine, ALICE)
    after = {b.asset: b for b in q.balances(engine, ALICE)}

    assert (view.client_order_id, view.side, view.order_type) == ("b1", Side.BUY, OrderType.LIMIT)
    assert (view.qty, view.leaves, view.filled, view.price, view.held) == (2, 2, 0, 99_00, 198_00)
    assert after[USD].held - before[USD].held == 198_00
    assert q.open_order(engine, view.order_id) == view
    assert q.open_order(engine, OrderId(999)) is None
    assert ALICE in q.accounts(engine)


def test_positions_when_margin_trades_report_net_quantity() -> None:
    engine = make_engine()
    engine.apply(sell(BOB, "s1", 3, 50_00, symbol=PERP), T0)
    engine.apply(buy(ALICE, "b1", 2, 50_00, symbol=PERP), T0 + 1)

    [alice] = q.positions(engine, ALICE)
    [bob] = q.positions(engine, BOB)

    assert (alice.symbol, alice.net_qty, alice.cost_ticks) == (PERP, 2, 100_00)
    assert (bob.net_qty, bob.cost_ticks) == (-2, 100_00)
    assert q.last_price(engine, PERP) == 50_00
    assert q.positions(engine, ALICE)[0].margin > 0


def test_instruments_and_assets_when_listed_carry_status_and_scales() -> None:
    engine = make_engine()
    engine.apply(set_status(SPOT, InstrumentStatus.HALTED), T0)

    views = {v.spec.symbol: v for v in q.instruments(engine)}

    assert q.assets(engine) == {"ABC": 0, "USD": 2, "XYZ": 0}
    assert views[SPOT].status is InstrumentStatus.HALTED
    assert (views[SPOT].base_scale, views[SPOT].quote_scale) == (0, 2)
    assert views[PERP].spec.kind == "margin"
