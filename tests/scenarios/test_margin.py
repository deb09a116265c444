"""Scenario tables: margin positions (open, average entry, partial close with realized P&L,
flip), reduce-only, margin held and released, sells filling above their limit."""

from __future__ import annotations

import pytest

from tests.kit.factories import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    DEFAULT_DEPOSITS,
    PERP,
    USD,
    XYZ,
    amend,
    buy,
    cancel,
    deposit,
    make_margin_instrument,
    sell,
)
from tests.kit.scenario import (
    UNCHANGED,
    BalanceIs,
    BookIs,
    PositionIs,
    Scenario,
    accepted,
    amended,
    canceled,
    command_rejected,
    deposited,
    position,
    rejected,
    run_scenario,
    scenario_params,
    trade,
    triggered,
)
from tradehall.engine.matcher import BookFactory
from tradehall.kernel.ids import CLEARING_ACCOUNT, AccountId, ClientOrderId
from tradehall.trading import commands as c
from tradehall.trading.model import TimeInForce

FUNDS = DEFAULT_DEPOSITS[USD]
ERIN = AccountId("erin")
WITH_FEES = [make_margin_instrument(maker_fee="0.001", taker_fee="0.002")]
P = PERP
FOK = TimeInForce.FOK

SCENARIOS = [
    Scenario("position_opens_averages_closes_partly_with_pnl_then_flips", [
        # 10% margin: 10 lots at 100.00 hold 100.00.
        (buy(ALICE, "a1", 10, 100_00, symbol=P), [accepted("a1", held=100_00)]),
        (sell(BOB, "b1", 10, 100_00, symbol=P), [
            accepted("b1", held=100_00),
            position(ALICE, 10, cost_ticks=100_000, realized_pnl=0, margin=100_00),
            position(BOB, -10, cost_ticks=100_000, margin=100_00),
            trade(10, 100_00, maker="a1", taker="b1"),
        ]),
        BalanceIs(ALICE, USD, available=FUNDS - 100_00, held=100_00),
        # Average entry: 10 at 100.00 and 10 at 102.00 cost 202,000 tick-lots (101.00 each).
        (buy(ALICE, "a2", 10, 102_00, symbol=P), [accepted("a2", held=102_00)]),
        (sell(CAROL, "c1", 10, 102_00, symbol=P), [
            accepted("c1"),
            position(ALICE, 20, cost_ticks=202_000, margin=202_00),
            position(CAROL, -10),
            trade(10, 102_00, maker="a2", taker="c1"),
        ]),
        # Partial close: 5 of 20 at 110.00 realize 5 * (110.00 - 101.00) and free a quarter of
        # the margin.
        (buy(DAVE, "d1", 5, 110_00, symbol=P), [accepted("d1")]),
        (sell(ALICE, "a3", 5, 110_00, symbol=P), [
            accepted("a3", held=55_00),
            position(DAVE, 5, cost_ticks=55_000, margin=55_00),
            position(ALICE, 15, cost_ticks=151_500, realized_pnl=45_00, margin=151_50),
            trade(5, 110_00, maker="d1", taker="a3"),
        ]),
        BalanceIs(ALICE, USD, available=FUNDS - 106_50, held=151_50),
        BalanceIs(CLEARING_ACCOUNT, USD, available=-45_00),
        # Flip: selling 20 closes 15 at a loss of 15 * 1.00 and opens 5 short at 100.00.
        (buy(DAVE, "d2", 20, 100_00, symbol=P), [accepted("d2")]),
        (sell(ALICE, "a4", 20, 100_00, symbol=P), [
            accepted("a4", held=200_00),
            position(DAVE, 25, cost_ticks=255_000),
            position(ALICE, -5, cost_ticks=50_000, realized_pnl=30_00, margin=50_00),
            trade(20, 100_00, maker="d2", taker="a4"),
        ]),
        PositionIs(ALICE, P, -5, cost_ticks=50_000, realized_pnl=30_00, margin=50_00),
        BalanceIs(ALICE, USD, available=FUNDS - 20_00, held=50_00),
        BalanceIs(CLEARING_ACCOUNT, USD, available=-30_00),
    ]),
    Scenario("reduce_only_is_refused_when_it_would_increase_and_closes_otherwise", [
        (sell(ALICE, "a1", 5, 100_00, symbol=P), [accepted("a1")]),
        (buy(BOB, "b1", 5, 100_00, symbol=P), [
            accepted("b1"), position(ALICE, -5), position(BOB, 5),
            trade(5, 100_00, maker="a1", taker="b1")]),
        (sell(ALICE, "r1", 1, 100_00, symbol=P, reduce_only=True), [
            rejected("r1", "reduce_only_would_increase")]),
        UNCHANGED,
        (buy(ALICE, "r2", 6, 99_00, symbol=P, reduce_only=True), [
            rejected("r2", "reduce_only_would_increase")]),
        UNCHANGED,
        (buy(CAROL, "r3", 1, 99_00, symbol=P, reduce_only=True), [
            rejected("r3", "reduce_only_would_increase")]),
        UNCHANGED,
        # Without fees a reduce-only order needs no funds at all.
        (buy(ALICE, "r4", 5, 99_00, symbol=P, reduce_only=True), [
            accepted("r4", held=0, reduce_only=True)]),
        (sell(CAROL, "c1", 5, 99_00, symbol=P), [
            accepted("c1"),
            position(ALICE, 0, cost_ticks=0, realized_pnl=5_00, margin=0),
            position(CAROL, -5),
            trade(5, 99_00, maker="r4", taker="c1"),
        ]),
        BalanceIs(ALICE, USD, available=FUNDS + 5_00, held=0),
    ]),
    Scenario("reduce_only_taker_closes_paying_only_its_fee", [
        (buy(ALICE, "a1", 10, 100_00, symbol=P), [accepted("a1", held=102_00)]),
        (sell(BOB, "b1", 10, 100_00, symbol=P), [
            accepted("b1"), position(ALICE, 10), position(BOB, -10),
            trade(10, 100_00, maker="a1", taker="b1")]),
        (buy(CAROL, "c1", 10, 100_00, symbol=P), [accepted("c1")]),
        (sell(ALICE, "a2", 10, 100_00, symbol=P, reduce_only=True), [
            accepted("a2", held=2_00),
            position(CAROL, 10),
            position(ALICE, 0, realized_pnl=0, margin=0),
            trade(10, 100_00, maker="c1", taker="a2", taker_fee=2_00, taker_leaves_qty=0),
        ]),
        BalanceIs(ALICE, USD, available=FUNDS - 3_00, held=0),
    ], instruments=WITH_FEES),
    Scenario("market_reduce_only_closes_when_all_cash_is_margin", [
        (buy(ALICE, "a1", 10, 100_00, symbol=P), [accepted("a1", held=100_00)]),
        (sell(BOB, "b1", 10, 100_00, symbol=P), [
            accepted("b1"), position(ALICE, 10), position(BOB, -10),
            trade(10, 100_00, maker="a1", taker="b1")]),
        BalanceIs(ALICE, USD, available=0, held=100_00),
        (buy(CAROL, "c1", 10, 100_00, symbol=P), [accepted("c1")]),
        (sell(ALICE, "a2", 10, symbol=P, reduce_only=True), [
            accepted("a2", held=0),
            position(CAROL, 10),
            position(ALICE, 0, margin=0),
            trade(10, 100_00, maker="c1", taker="a2"),
        ]),
        BalanceIs(ALICE, USD, available=100_00, held=0),
    ], deposits={USD: 100_00}),
    Scenario("resting_reduce_only_is_canceled_once_its_position_is_gone", [
        (buy(ALICE, "a1", 5, 100_00, symbol=P), [accepted("a1")]),
        (sell(BOB, "b1", 5, 100_00, symbol=P), [
            accepted("b1"), position(ALICE, 5), position(BOB, -5),
            trade(5, 100_00, maker="a1", taker="b1")]),
        (sell(ALICE, "r1", 5, 105_00, symbol=P, reduce_only=True), [
            accepted("r1", held=1_05)]),
        (buy(CAROL, "c1", 5, 100_00, symbol=P), [accepted("c1")]),
        (sell(ALICE, "a2", 5, 100_00, symbol=P), [
            accepted("a2"), position(CAROL, 5), position(ALICE, 0),
            trade(5, 100_00, maker="c1", taker="a2")]),
        (buy(DAVE, "d1", 5, 105_00, symbol=P), [
            accepted("d1"),
            canceled("r1", "reduce_only_position_closed", remaining_qty=5),
        ]),
        BookIs(P, bids=[(105_00, [("d1", 5)])]),
        BalanceIs(ALICE, USD, held=0),
    ], instruments=WITH_FEES),
    Scenario("fok_margin_buy_that_funds_cover_only_in_part_does_not_trade", [
        (deposit(ERIN, USD, 30_00), [deposited(ERIN, 30_00)]),
        (sell(BOB, "b1", 5, 100_00, symbol=P), [accepted("b1")]),
        # Five lots need 50.00 of margin.
        (buy(ERIN, "e1", 5, symbol=P, tif=FOK), [
            accepted("e1", held=30_00), canceled("e1", "fok_unfillable", remaining_qty=5)]),
        BalanceIs(ERIN, USD, available=30_00, held=0),
        (buy(ERIN, "e2", 3, symbol=P, tif=FOK), [
            accepted("e2"), position(BOB, -3), position(ERIN, 3),
            trade(3, 100_00, maker="b1", taker="e2")]),
    ]),
    Scenario("fok_does_not_count_a_reduce_only_maker_whose_position_is_gone", [
        (buy(ALICE, "a1", 2, 100_00, symbol=P), [accepted("a1")]),
        (sell(BOB, "b1", 2, 100_00, symbol=P), [
            accepted("b1"), position(ALICE, 2), position(BOB, -2),
            trade(2, 100_00, maker="a1", taker="b1")]),
        (sell(ALICE, "r1", 2, 101_00, symbol=P, reduce_only=True), [accepted("r1")]),
        (sell(DAVE, "d1", 1, 101_00, symbol=P), [accepted("d1")]),
        (buy(CAROL, "c1", 2, 100_00, symbol=P), [accepted("c1")]),
        (sell(ALICE, "a2", 2, 100_00, symbol=P), [
            accepted("a2"), position(CAROL, 2), position(ALICE, 0),
            trade(2, 100_00, maker="c1", taker="a2")]),
        # Three lots rest at 101.00, but two belong to a reduce-only order with nothing left
        # to reduce.
        (buy(CAROL, "c2", 3, 101_00, symbol=P, tif=FOK), [
            accepted("c2"), canceled("c2", "fok_unfillable", remaining_qty=3)]),
        BookIs(P, asks=[(101_00, [("r1", 2), ("d1", 1)])]),
    ]),
    Scenario("margin_is_held_while_resting_moved_to_the_position_on_fill_released_on_cancel", [
        (buy(ALICE, "a1", 10, 100_00, symbol=P), [accepted("a1", held=100_00)]),
        BalanceIs(ALICE, USD, available=FUNDS - 100_00, held=100_00),
        (sell(BOB, "b1", 4, 100_00, symbol=P), [
            accepted("b1"), position(ALICE, 4, margin=40_00), position(BOB, -4),
            trade(4, 100_00, maker="a1", taker="b1", maker_leaves_qty=6)]),
        BalanceIs(ALICE, USD, available=FUNDS - 100_00, held=100_00),
        (cancel(ALICE, "a1"), [canceled("a1", "requested", remaining_qty=6)]),
        BalanceIs(ALICE, USD, available=FUNDS - 40_00, held=40_00),
        BalanceIs(ALICE, XYZ, available=DEFAULT_DEPOSITS[XYZ], held=0),
    ]),
    Scenario("margin_sell_filling_above_its_limit_holds_at_the_best_bid", [
        (buy(BOB, "b1", 5, 120_00, symbol=P), [accepted("b1")]),
        (sell(ALICE, "a1", 5, 100_00, symbol=P), [
            accepted("a1", held=60_00),
            position(BOB, 5),
            position(ALICE, -5, cost_ticks=60_000, margin=60_00),
            trade(5, 120_00, maker="b1", taker="a1"),
        ]),
        BalanceIs(ALICE, USD, available=FUNDS - 60_00, held=60_00),
        (sell(CAROL, "c1", 5, 130_00, symbol=P), [accepted("c1", held=65_00)]),
        (buy(DAVE, "d1", 5, 120_00, symbol=P), [accepted("d1")]),
        (amend(CAROL, "c1", price=100_00), [
            amended("c1", price=100_00, held=60_00),
            position(DAVE, 5),
            position(CAROL, -5, margin=60_00),
            trade(5, 120_00, maker="d1", taker="c1"),
        ]),
    ]),
    Scenario("triggered_margin_stop_sell_filling_above_its_hold_price_fills_in_full", [
        # No bid yet: the stop holds at its stop less the collar, 4 * 95.00 * 10%.
        (sell(ALICE, "s1", 4, stop=100_00, symbol=P), [accepted("s1", held=38_00)]),
        (buy(BOB, "b1", 4, 99_50, symbol=P), [accepted("b1")]),
        (buy(CAROL, "c1", 1, 100_00, symbol=P), [accepted("c1")]),
        (sell(DAVE, "d1", 1, 100_00, symbol=P), [
            accepted("d1"),
            position(CAROL, 1), position(DAVE, -1),
            trade(1, 100_00, maker="c1", taker="d1"),
            triggered("s1", last_price=100_00),
            position(BOB, 4),
            position(ALICE, -4, cost_ticks=39_800, margin=39_80),
            trade(4, 99_50, maker="b1", taker="s1", taker_leaves_qty=0),
        ]),
        BalanceIs(ALICE, USD, available=FUNDS - 39_80, held=39_80),
    ]),
    Scenario("close_position_sends_a_reduce_only_market_order_for_the_full_size", [
        (c.ClosePosition(account=ALICE, symbol=P, client_order_id=ClientOrderId("x0")), [
            command_rejected("close_position", "no_position")]),
        UNCHANGED,
        (sell(ALICE, "a1", 5, 100_00, symbol=P), [accepted("a1")]),
        (buy(BOB, "b1", 5, 100_00, symbol=P), [
            accepted("b1"), position(ALICE, -5), position(BOB, 5),
            trade(5, 100_00, maker="a1", taker="b1")]),
        (sell(CAROL, "c1", 8, 101_00, symbol=P), [accepted("c1")]),
        (c.ClosePosition(account=ALICE, symbol=P, client_order_id=ClientOrderId("x1")), [
            accepted("x1", order_type="market", qty=5, reduce_only=True, time_in_force="ioc"),
            position(CAROL, -5),
            position(ALICE, 0, cost_ticks=0, realized_pnl=-5_00, margin=0),
            trade(5, 101_00, maker="c1", taker="x1", taker_leaves_qty=0),
        ]),
        PositionIs(ALICE, P, 0, cost_ticks=0, realized_pnl=-5_00, margin=0),
        BalanceIs(ALICE, USD, available=FUNDS - 5_00, held=0),
    ]),
]


@pytest.mark.parametrize("scenario", scenario_params(SCENARIOS))
def test_margin_scenario_when_run_on_each_book_emits_table_events(
        scenario: Scenario, book_factory: BookFactory) -> None:
    run_scenario(scenario, book_factory)
