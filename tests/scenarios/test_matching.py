"""Scenario tables: price-time priority, partial fills, market, IOC, FOK, post-only, GTC/DAY."""

from __future__ import annotations

import pytest

from tests.kit.factories import (
    ABC,
    ALICE,
    BOB,
    CAROL,
    DAVE,
    DAY_NS,
    DEFAULT_DEPOSITS,
    NEXT_DAY,
    SPOT,
    USD,
    advance_time,
    buy,
    deposit,
    sell,
)
from tests.kit.scenario import (
    UNCHANGED,
    BalanceIs,
    BookIs,
    IsOpen,
    Scenario,
    accepted,
    at,
    canceled,
    deposited,
    expired,
    rejected,
    run_scenario,
    scenario_params,
    trade,
)
from tradehall.engine.matcher import BookFactory
from tradehall.kernel.ids import AccountId
from tradehall.trading.model import TimeInForce

FUNDS = DEFAULT_DEPOSITS[USD]
ERIN = AccountId("erin")
IOC, FOK, DAY = TimeInForce.IOC, TimeInForce.FOK, TimeInForce.DAY

SCENARIOS = [
    Scenario("price_time_priority_at_one_level", [
        (sell(BOB, "b1", 3, 100_00), [accepted("b1", held=3)]),
        (sell(CAROL, "c1", 2, 100_00), [accepted("c1")]),
        (sell(DAVE, "d1", 4, 100_00), [accepted("d1")]),
        BookIs(SPOT, asks=[(100_00, [("b1", 3), ("c1", 2), ("d1", 4)])]),
        (buy(ALICE, "a1", 6, 100_00), [
            accepted("a1", held=600_00),
            trade(3, 100_00, maker="b1", taker="a1", maker_leaves_qty=0, taker_leaves_qty=3),
            trade(2, 100_00, maker="c1", taker="a1", maker_leaves_qty=0, taker_leaves_qty=1),
            trade(1, 100_00, maker="d1", taker="a1", maker_leaves_qty=3, taker_leaves_qty=0),
        ]),
        BookIs(SPOT, asks=[(100_00, [("d1", 3)])]),
        BalanceIs(ALICE, ABC, available=1_006, held=0),
        BalanceIs(ALICE, USD, available=FUNDS - 600_00, held=0),
        BalanceIs(DAVE, ABC, available=996, held=3),
    ]),
    Scenario("price_priority_across_levels_best_price_first_at_maker_prices", [
        (sell(BOB, "b1", 2, 101_00), [accepted("b1")]),
        (sell(CAROL, "c1", 2, 100_00), [accepted("c1")]),
        (sell(DAVE, "d1", 2, 102_00), [accepted("d1")]),
        (sell(BOB, "b2", 2, 100_00), [accepted("b2")]),
        BookIs(SPOT, asks=[(100_00, [("c1", 2), ("b2", 2)]), (101_00, [("b1", 2)]),
                           (102_00, [("d1", 2)])]),
        (buy(ALICE, "a1", 7, 102_00), [
            accepted("a1", held=714_00),
            trade(2, 100_00, maker="c1", taker="a1", taker_leaves_qty=5),
            trade(2, 100_00, maker="b2", taker="a1", taker_leaves_qty=3),
            trade(2, 101_00, maker="b1", taker="a1", taker_leaves_qty=1),
            trade(1, 102_00, maker="d1", taker="a1", maker_leaves_qty=1, taker_leaves_qty=0),
        ]),
        BookIs(SPOT, asks=[(102_00, [("d1", 1)])]),
        # Price improvement: the unused part of the hold is released.
        BalanceIs(ALICE, USD, available=FUNDS - 704_00, held=0),
    ]),
    Scenario("partial_fill_rests_remainder_which_then_trades_as_maker", [
        (sell(BOB, "b1", 3, 100_00), [accepted("b1")]),
        (buy(ALICE, "a1", 5, 100_00), [
            accepted("a1", held=500_00),
            trade(3, 100_00, maker="b1", taker="a1", taker_leaves_qty=2),
        ]),
        BookIs(SPOT, bids=[(100_00, [("a1", 2)])]),
        BalanceIs(ALICE, USD, available=FUNDS - 500_00, held=200_00),
        (sell(CAROL, "c1", 4, 99_00), [
            accepted("c1"),
            trade(2, 100_00, maker="a1", taker="c1", maker_leaves_qty=0, taker_leaves_qty=2),
        ]),
        BookIs(SPOT, asks=[(99_00, [("c1", 2)])]),
        BalanceIs(ALICE, USD, available=FUNDS - 500_00, held=0),
        BalanceIs(CAROL, USD, available=FUNDS + 200_00),
    ]),
    Scenario("orders_that_do_not_cross_rest_on_both_sides", [
        (buy(ALICE, "a1", 1, 99_00), [accepted("a1")]),
        (sell(BOB, "b1", 1, 100_00), [accepted("b1")]),
        (buy(ALICE, "a2", 2, 99_50), [accepted("a2")]),
        BookIs(SPOT, bids=[(99_50, [("a2", 2)]), (99_00, [("a1", 1)])],
               asks=[(100_00, [("b1", 1)])]),
    ]),
    Scenario("market_buy_sweeps_levels_then_cancels_the_rest", [
        (sell(BOB, "b1", 2, 100_00), [accepted("b1")]),
        (sell(CAROL, "c1", 3, 101_00), [accepted("c1")]),
        (buy(ALICE, "a1", 10), [
            accepted("a1", order_type="market", price=None, held=FUNDS),
            trade(2, 100_00, maker="b1", taker="a1"),
            trade(3, 101_00, maker="c1", taker="a1", taker_leaves_qty=5),
            canceled("a1", "unfilled", remaining_qty=5),
        ]),
        BookIs(SPOT),
        BalanceIs(ALICE, USD, available=FUNDS - 503_00, held=0),
        BalanceIs(ALICE, ABC, available=1_005),
    ]),
    Scenario("market_orders_without_liquidity_are_canceled", [
        (buy(ALICE, "a1", 10), [accepted("a1"), canceled("a1", "no_liquidity",
                                                          remaining_qty=10)]),
        (sell(ALICE, "a2", 10), [accepted("a2", held=10),
                                 canceled("a2", "no_liquidity", remaining_qty=10)]),
        BalanceIs(ALICE, USD, available=FUNDS, held=0),
        BalanceIs(ALICE, ABC, available=1_000, held=0),
    ]),
    Scenario("market_sell_fills_best_bids_first", [
        (buy(BOB, "b1", 2, 99_00), [accepted("b1")]),
        (buy(CAROL, "c1", 2, 100_00), [accepted("c1")]),
        (sell(ALICE, "a1", 3), [
            accepted("a1", held=3),
            trade(2, 100_00, maker="c1", taker="a1"),
            trade(1, 99_00, maker="b1", taker="a1", maker_leaves_qty=1, taker_leaves_qty=0),
        ]),
        BookIs(SPOT, bids=[(99_00, [("b1", 1)])]),
        BalanceIs(ALICE, USD, available=FUNDS + 299_00),
    ]),
    Scenario("ioc_fills_what_it_can_and_cancels_the_rest", [
        (sell(BOB, "b1", 2, 100_00), [accepted("b1")]),
        (sell(BOB, "b2", 2, 101_00), [accepted("b2")]),
        (buy(ALICE, "a1", 5, 100_00, tif=IOC), [
            accepted("a1", time_in_force="ioc"),
            trade(2, 100_00, maker="b1", taker="a1", taker_leaves_qty=3),
            canceled("a1", "unfilled", remaining_qty=3),
        ]),
        (buy(ALICE, "a2", 1, 99_00, tif=IOC), [
            accepted("a2"), canceled("a2", "no_liquidity", remaining_qty=1)]),
        BookIs(SPOT, asks=[(101_00, [("b2", 2)])]),
        BalanceIs(ALICE, USD, available=FUNDS - 200_00, held=0),
    ]),
    Scenario("fok_fills_completely_or_not_at_all", [
        (sell(BOB, "b1", 2, 100_00), [accepted("b1")]),
        (sell(CAROL, "c1", 3, 101_00), [accepted("c1")]),
        # Five lots exist, but only two within the limit.
        (buy(ALICE, "a1", 5, 100_00, tif=FOK), [
            accepted("a1"), canceled("a1", "fok_unfillable", remaining_qty=5)]),
        BookIs(SPOT, asks=[(100_00, [("b1", 2)]), (101_00, [("c1", 3)])]),
        (buy(ALICE, "a2", 6, 101_00, tif=FOK), [
            accepted("a2"), canceled("a2", "fok_unfillable", remaining_qty=6)]),
        (buy(ALICE, "a3", 5, 101_00, tif=FOK), [
            accepted("a3"),
            trade(2, 100_00, maker="b1", taker="a3"),
            trade(3, 101_00, maker="c1", taker="a3", taker_leaves_qty=0),
        ]),
        BookIs(SPOT),
        (buy(ALICE, "a4", 1, tif=FOK), [
            accepted("a4"), canceled("a4", "fok_unfillable", remaining_qty=1)]),
        BalanceIs(ALICE, USD, available=FUNDS - 503_00, held=0),
    ]),
    Scenario("fok_market_buy_that_funds_cover_only_in_part_does_not_trade", [
        (deposit(ERIN, USD, 300_00), [deposited(ERIN, 300_00)]),
        (sell(BOB, "b1", 5, 100_00), [accepted("b1")]),
        (buy(ERIN, "e1", 5, tif=FOK), [
            accepted("e1", held=300_00), canceled("e1", "fok_unfillable", remaining_qty=5)]),
        BookIs(SPOT, asks=[(100_00, [("b1", 5)])]),
        BalanceIs(ERIN, USD, available=300_00, held=0),
        (buy(ERIN, "e2", 3, tif=FOK), [
            accepted("e2"), trade(3, 100_00, maker="b1", taker="e2", taker_leaves_qty=0)]),
    ]),
    Scenario("post_only_rests_or_is_rejected_when_it_would_cross", [
        (sell(BOB, "b1", 2, 100_00), [accepted("b1")]),
        (buy(ALICE, "a1", 1, 100_00, post_only=True), [
            rejected("a1", "post_only_would_cross")]),
        UNCHANGED,
        (buy(ALICE, "a2", 1, 99_99, post_only=True), [accepted("a2", post_only=True)]),
        (sell(CAROL, "c1", 1, 99_99, post_only=True), [rejected("c1", "post_only_would_cross")]),
        UNCHANGED,
        (buy(ALICE, "a3", 1, 99_00, post_only=True, tif=IOC), [
            rejected("a3", "invalid_post_only")]),
        (buy(ALICE, "a4", 1, post_only=True), [rejected("a4", "invalid_post_only")]),
        BookIs(SPOT, bids=[(99_99, [("a2", 1)])], asks=[(100_00, [("b1", 2)])]),
    ]),
    Scenario("day_order_expires_at_utc_midnight_gtc_stays", [
        (buy(ALICE, "a1", 1, 99_00), [accepted("a1", time_in_force="gtc")]),
        (buy(ALICE, "a2", 2, 98_00, tif=DAY), [accepted("a2", time_in_force="day")]),
        (at(NEXT_DAY - 1, advance_time()), []),
        IsOpen(ALICE, "a2"),
        (at(NEXT_DAY, advance_time()), [expired("a2", remaining_qty=2)]),
        IsOpen(ALICE, "a2", is_open=False),
        IsOpen(ALICE, "a1"),
        BookIs(SPOT, bids=[(99_00, [("a1", 1)])]),
        BalanceIs(ALICE, USD, available=FUNDS - 99_00, held=99_00),
    ]),
    Scenario("day_order_expires_before_the_first_command_after_midnight", [
        (buy(ALICE, "a1", 3, 100_00, tif=DAY), [accepted("a1")]),
        (sell(BOB, "b1", 1, 100_00), [accepted("b1"), trade(1, 100_00, maker="a1", taker="b1")]),
        # The expired bid is gone before the sell arrives, so the sell rests.
        (at(NEXT_DAY + 5, sell(BOB, "b2", 1, 100_00)), [
            expired("a1", remaining_qty=2), accepted("b2")]),
        BookIs(SPOT, asks=[(100_00, [("b2", 1)])]),
        # A DAY order accepted on the next day lives until the midnight after.
        (buy(CAROL, "c1", 1, 99_00, tif=DAY), [accepted("c1")]),
        (at(NEXT_DAY + DAY_NS - 1, advance_time()), []),
        IsOpen(CAROL, "c1"),
        (at(NEXT_DAY + DAY_NS, advance_time()), [expired("c1", remaining_qty=1)]),
        BalanceIs(ALICE, USD, available=FUNDS - 100_00, held=0),
    ]),
]


@pytest.mark.parametrize("scenario", scenario_params(SCENARIOS))
def test_matching_scenario_when_run_on_each_book_emits_table_events(
        scenario: Scenario, book_factory: BookFactory) -> None:
    run_scenario(scenario, book_factory)
