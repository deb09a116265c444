"""Scenario tables: stop and stop-limit orders, triggering, cascades, collar, cancel, expiry."""

from __future__ import annotations

import pytest

from tests.kit.factories import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    DEFAULT_DEPOSITS,
    NEXT_DAY,
    SPOT,
    USD,
    advance_time,
    buy,
    cancel,
    sell,
)
from tests.kit.scenario import (
    BalanceIs,
    BookIs,
    IsOpen,
    Scenario,
    accepted,
    at,
    canceled,
    expired,
    run_scenario,
    scenario_params,
    trade,
    triggered,
)
from tradehall.engine.matcher import BookFactory
from tradehall.trading.model import TimeInForce

FUNDS = DEFAULT_DEPOSITS[USD]

SCENARIOS = [
    Scenario("stop_buy_triggers_when_the_last_trade_reaches_its_stop", [
        (sell(BOB, "b1", 2, 100_00), [accepted("b1")]),
        (sell(BOB, "b2", 5, 101_00), [accepted("b2")]),
        # A stop-market buy holds at its stop plus the 5% collar: 100.50 + 5.03 = 105.53.
        (buy(ALICE, "s1", 3, stop=100_50), [
            accepted("s1", order_type="stop", stop_price=100_50, held=3 * 105_53)]),
        IsOpen(ALICE, "s1"),
        (buy(CAROL, "c1", 2, 100_00), [accepted("c1"), trade(2, 100_00, maker="b1", taker="c1")]),
        IsOpen(ALICE, "s1"),
        (buy(CAROL, "c2", 1, 101_00), [
            accepted("c2"),
            trade(1, 101_00, maker="b2", taker="c2"),
            triggered("s1", last_price=101_00),
            trade(3, 101_00, maker="b2", taker="s1", maker_leaves_qty=1, taker_leaves_qty=0),
        ]),
        IsOpen(ALICE, "s1", is_open=False),
        BalanceIs(ALICE, USD, available=FUNDS - 303_00, held=0),
    ]),
    Scenario("stop_limit_sell_triggers_and_rests_at_its_limit", [
        (buy(BOB, "b1", 1, 99_00), [accepted("b1")]),
        (sell(ALICE, "s1", 2, 98_00, stop=99_00), [
            accepted("s1", order_type="stop_limit", price=98_00, stop_price=99_00, held=2)]),
        BookIs(SPOT, bids=[(99_00, [("b1", 1)])]),
        (sell(CAROL, "c1", 1, 99_00), [
            accepted("c1"),
            trade(1, 99_00, maker="b1", taker="c1"),
            triggered("s1", last_price=99_00),
        ]),
        BookIs(SPOT, asks=[(98_00, [("s1", 2)])]),
        (buy(DAVE, "d1", 1, 98_00), [accepted("d1"), trade(1, 98_00, maker="s1", taker="d1")]),
    ]),
    Scenario("stop_cascade_each_trigger_trades_and_triggers_the_next", [
        (buy(BOB, "b1", 1, 99_00), [accepted("b1")]),
        (buy(BOB, "b2", 1, 98_00), [accepted("b2")]),
        (buy(BOB, "b3", 10, 97_00), [accepted("b3")]),
        (sell(ALICE, "s1", 1, stop=99_00), [accepted("s1")]),
        (sell(CAROL, "s2", 2, stop=98_00), [accepted("s2")]),
        (sell(DAVE, "d1", 1, 99_00), [
            accepted("d1"),
            trade(1, 99_00, maker="b1", taker="d1"),
            triggered("s1", last_price=99_00),
            trade(1, 98_00, maker="b2", taker="s1"),
            triggered("s2", last_price=98_00),
            trade(2, 97_00, maker="b3", taker="s2", maker_leaves_qty=8, taker_leaves_qty=0),
        ]),
        BookIs(SPOT, bids=[(97_00, [("b3", 8)])]),
    ]),
    Scenario("stop_triggers_on_acceptance_when_the_last_price_is_already_past_it", [
        (sell(BOB, "b0", 1, 100_00), [accepted("b0")]),
        (buy(CAROL, "c0", 1, 100_00), [accepted("c0"), trade(1, 100_00, maker="b0", taker="c0")]),
        (sell(BOB, "b1", 5, 101_00), [accepted("b1")]),
        (buy(ALICE, "s1", 1, stop=99_00), [
            accepted("s1"),
            triggered("s1", last_price=100_00),
            trade(1, 101_00, maker="b1", taker="s1"),
        ]),
    ]),
    Scenario("triggered_stop_market_without_liquidity_is_canceled", [
        (sell(BOB, "b0", 1, 100_00), [accepted("b0")]),
        (buy(CAROL, "c0", 1, 100_00), [accepted("c0"), trade(1, 100_00, maker="b0", taker="c0")]),
        (sell(ALICE, "s1", 4, stop=100_00), [
            accepted("s1", held=4),
            triggered("s1", last_price=100_00),
            canceled("s1", "no_liquidity", remaining_qty=4),
        ]),
        BalanceIs(ALICE, USD, held=0),
    ]),
    Scenario("triggered_stop_market_trades_only_within_its_collar", [
        (sell(BOB, "b0", 1, 100_00), [accepted("b0")]),
        (sell(BOB, "b1", 1, 101_00), [accepted("b1")]),
        (sell(BOB, "b2", 5, 110_00), [accepted("b2")]),
        (buy(ALICE, "s1", 3, stop=100_00), [accepted("s1", held=3 * 105_00)]),
        (buy(CAROL, "c0", 1, 100_00), [
            accepted("c0"),
            trade(1, 100_00, maker="b0", taker="c0"),
            triggered("s1", last_price=100_00),
            trade(1, 101_00, maker="b1", taker="s1", taker_leaves_qty=2),
            # 110.00 is beyond 105.00, the stop plus the 5% collar.
            canceled("s1", "unfilled", remaining_qty=2),
        ]),
        BookIs(SPOT, asks=[(110_00, [("b2", 5)])]),
        BalanceIs(ALICE, USD, available=FUNDS - 101_00, held=0),
    ]),
    Scenario("canceled_stop_never_triggers", [
        (sell(BOB, "b1", 2, 100_00), [accepted("b1")]),
        (buy(ALICE, "s1", 1, stop=100_00), [accepted("s1")]),
        (cancel(ALICE, "s1"), [canceled("s1", "requested", remaining_qty=1)]),
        BalanceIs(ALICE, USD, available=FUNDS, held=0),
        (buy(CAROL, "c1", 1, 100_00), [accepted("c1"), trade(1, 100_00, maker="b1", taker="c1")]),
        BookIs(SPOT, asks=[(100_00, [("b1", 1)])]),
    ]),
    Scenario("day_stop_expires_untriggered_at_midnight", [
        (buy(ALICE, "s1", 1, 101_00, stop=100_00, tif=TimeInForce.DAY), [accepted("s1")]),
        (at(NEXT_DAY, advance_time()), [expired("s1", remaining_qty=1)]),
        BalanceIs(ALICE, USD, available=FUNDS, held=0),
    ]),
    Scenario("triggered_day_stop_limit_rests_and_keeps_its_expiry", [
        (sell(BOB, "b0", 1, 100_00), [accepted("b0")]),
        (buy(ALICE, "s1", 2, 99_00, stop=100_00, tif=TimeInForce.DAY), [accepted("s1")]),
        (buy(CAROL, "c0", 1, 100_00), [
            accepted("c0"), trade(1, 100_00, maker="b0", taker="c0"), triggered("s1")]),
        BookIs(SPOT, bids=[(99_00, [("s1", 2)])]),
        (at(NEXT_DAY, advance_time()), [expired("s1", remaining_qty=2)]),
        BookIs(SPOT),
    ]),
]


@pytest.mark.parametrize("scenario", scenario_params(SCENARIOS))
def test_stop_scenario_when_run_on_each_book_emits_table_events(
        scenario: Scenario, book_factory: BookFactory) -> None:
    run_scenario(scenario, book_factory)
