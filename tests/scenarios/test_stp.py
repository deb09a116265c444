"""Scenario tables: every self-trade prevention mode, for limit and FOK takers."""

from __future__ import annotations

import pytest

from tests.kit.factories import ABC, ALICE, BOB, DEFAULT_DEPOSITS, SPOT, USD, buy, sell
from tests.kit.scenario import (
    BalanceIs,
    BookIs,
    Scenario,
    Step,
    accepted,
    canceled,
    run_scenario,
    scenario_params,
    trade,
)
from tradehall.engine.matcher import BookFactory
from tradehall.trading.model import SelfTradePrevention, TimeInForce

FUNDS = DEFAULT_DEPOSITS[USD]
STP = SelfTradePrevention
FOK = TimeInForce.FOK

# Alice's own ask is first in the queue at 100.00, Bob's behind it.
OWN_FIRST: list[Step] = [
    (sell(ALICE, "a1", 3, 100_00), [accepted("a1")]),
    (sell(BOB, "b1", 2, 100_00), [accepted("b1")]),
]

SCENARIOS = [
    Scenario("cancel_newest_is_the_default_and_cancels_the_taker", [
        *OWN_FIRST,
        (buy(ALICE, "a2", 5, 100_00), [
            accepted("a2", stp="cancel_newest"),
            canceled("a2", "self_trade_prevention", remaining_qty=5),
        ]),
        BookIs(SPOT, asks=[(100_00, [("a1", 3), ("b1", 2)])]),
        BalanceIs(ALICE, USD, available=FUNDS, held=0),
    ]),
    Scenario("cancel_newest_trades_with_others_until_it_meets_its_own_order", [
        (sell(BOB, "b1", 2, 100_00), [accepted("b1")]),
        (sell(ALICE, "a1", 3, 100_00), [accepted("a1")]),
        (buy(ALICE, "a2", 5, 100_00, stp=STP.CANCEL_NEWEST), [
            accepted("a2"),
            trade(2, 100_00, maker="b1", taker="a2", taker_leaves_qty=3),
            canceled("a2", "self_trade_prevention", remaining_qty=3),
        ]),
        BookIs(SPOT, asks=[(100_00, [("a1", 3)])]),
    ]),
    Scenario("cancel_oldest_cancels_the_resting_order_and_keeps_matching", [
        *OWN_FIRST,
        (buy(ALICE, "a2", 5, 100_00, stp=STP.CANCEL_OLDEST), [
            accepted("a2", stp="cancel_oldest"),
            canceled("a1", "self_trade_prevention", remaining_qty=3),
            trade(2, 100_00, maker="b1", taker="a2", taker_leaves_qty=3),
        ]),
        BookIs(SPOT, bids=[(100_00, [("a2", 3)])]),
        BalanceIs(ALICE, ABC, available=1_002, held=0),
    ]),
    Scenario("cancel_both_cancels_resting_and_incoming", [
        *OWN_FIRST,
        (buy(ALICE, "a2", 5, 100_00, stp=STP.CANCEL_BOTH), [
            accepted("a2", stp="cancel_both"),
            canceled("a1", "self_trade_prevention", remaining_qty=3),
            canceled("a2", "self_trade_prevention", remaining_qty=5),
        ]),
        BookIs(SPOT, asks=[(100_00, [("b1", 2)])]),
        BalanceIs(ALICE, USD, available=FUNDS, held=0),
        BalanceIs(ALICE, ABC, available=1_000, held=0),
    ]),
    Scenario("none_lets_the_account_trade_with_itself", [
        *OWN_FIRST,
        (buy(ALICE, "a2", 5, 100_00, stp=STP.NONE), [
            accepted("a2", stp="none"),
            trade(3, 100_00, maker="a1", taker="a2", maker_account=ALICE, taker_account=ALICE),
            trade(2, 100_00, maker="b1", taker="a2", taker_leaves_qty=0),
        ]),
        BookIs(SPOT),
        BalanceIs(ALICE, ABC, available=1_002, held=0),
        BalanceIs(ALICE, USD, available=FUNDS - 200_00, held=0),
    ]),
    Scenario("fok_counts_own_orders_per_its_stp_mode", [
        *OWN_FIRST,
        (buy(ALICE, "f1", 2, 100_00, tif=FOK), [
            accepted("f1"), canceled("f1", "fok_unfillable", remaining_qty=2)]),
        (buy(ALICE, "f2", 3, 100_00, tif=FOK, stp=STP.CANCEL_OLDEST), [
            accepted("f2"), canceled("f2", "fok_unfillable", remaining_qty=3)]),
        BookIs(SPOT, asks=[(100_00, [("a1", 3), ("b1", 2)])]),
        (buy(ALICE, "f3", 2, 100_00, tif=FOK, stp=STP.CANCEL_OLDEST), [
            accepted("f3"),
            canceled("a1", "self_trade_prevention", remaining_qty=3),
            trade(2, 100_00, maker="b1", taker="f3"),
        ]),
        BookIs(SPOT),
    ]),
    Scenario("fok_with_stp_none_fills_against_its_own_orders", [
        *OWN_FIRST,
        (buy(ALICE, "f1", 5, 100_00, tif=FOK, stp=STP.NONE), [
            accepted("f1"),
            trade(3, 100_00, maker="a1", taker="f1"),
            trade(2, 100_00, maker="b1", taker="f1"),
        ]),
    ]),
    Scenario("stp_applies_to_a_seller_meeting_its_own_bid", [
        (buy(ALICE, "a1", 1, 101_00), [accepted("a1")]),
        (buy(BOB, "b1", 1, 100_00), [accepted("b1")]),
        (sell(ALICE, "a2", 2, 100_00, stp=STP.CANCEL_OLDEST), [
            accepted("a2"),
            canceled("a1", "self_trade_prevention", remaining_qty=1),
            trade(1, 100_00, maker="b1", taker="a2", taker_leaves_qty=1),
        ]),
        BookIs(SPOT, asks=[(100_00, [("a2", 1)])]),
    ]),
]


@pytest.mark.parametrize("scenario", scenario_params(SCENARIOS))
def test_stp_scenario_when_run_on_each_book_emits_table_events(
        scenario: Scenario, book_factory: BookFactory) -> None:
    run_scenario(scenario, book_factory)
