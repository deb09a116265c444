"""Scenario tables: amend (priority kept or lost, crossing, refusals), cancel, cancel-all."""

from __future__ import annotations

import pytest

from tests.kit.factories import (
    ABC,
    ALICE,
    BOB,
    CAROL,
    DEFAULT_DEPOSITS,
    PERP,
    SPOT,
    USD,
    amend,
    buy,
    cancel,
    cancel_all,
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
    amended,
    canceled,
    command_rejected,
    deposited,
    run_scenario,
    scenario_params,
    trade,
)
from tradehall.engine.matcher import BookFactory
from tradehall.kernel.ids import AccountId

FUNDS = DEFAULT_DEPOSITS[USD]
ERIN = AccountId("erin")

SCENARIOS = [
    Scenario("amend_qty_decrease_keeps_priority", [
        (buy(ALICE, "a1", 5, 100_00), [accepted("a1", held=500_00)]),
        (buy(BOB, "b1", 5, 100_00), [accepted("b1")]),
        (amend(ALICE, "a1", qty=3), [
            amended("a1", price=100_00, remaining_qty=3, priority_kept=True, held=300_00)]),
        BookIs(SPOT, bids=[(100_00, [("a1", 3), ("b1", 5)])]),
        BalanceIs(ALICE, USD, available=FUNDS - 300_00, held=300_00),
        (sell(CAROL, "c1", 4, 100_00), [
            accepted("c1"),
            trade(3, 100_00, maker="a1", taker="c1"),
            trade(1, 100_00, maker="b1", taker="c1", maker_leaves_qty=4),
        ]),
    ]),
    Scenario("amend_price_change_loses_priority", [
        (buy(ALICE, "a1", 5, 100_00), [accepted("a1")]),
        (buy(BOB, "b1", 5, 100_00), [accepted("b1")]),
        (amend(ALICE, "a1", price=99_00), [
            amended("a1", price=99_00, remaining_qty=5, priority_kept=False, held=495_00)]),
        (amend(ALICE, "a1", price=100_00), [amended("a1", priority_kept=False)]),
        BookIs(SPOT, bids=[(100_00, [("b1", 5), ("a1", 5)])]),
    ]),
    Scenario("amend_qty_increase_loses_priority", [
        (buy(ALICE, "a1", 5, 100_00), [accepted("a1")]),
        (buy(BOB, "b1", 5, 100_00), [accepted("b1")]),
        (amend(ALICE, "a1", qty=7), [
            amended("a1", remaining_qty=7, priority_kept=False, held=700_00)]),
        BookIs(SPOT, bids=[(100_00, [("b1", 5), ("a1", 7)])]),
        BalanceIs(ALICE, USD, available=FUNDS - 700_00, held=700_00),
    ]),
    Scenario("amend_to_a_crossing_price_trades_as_taker", [
        (sell(BOB, "b1", 3, 101_00), [accepted("b1")]),
        (buy(ALICE, "a1", 5, 100_00), [accepted("a1")]),
        (amend(ALICE, "a1", price=101_00), [
            amended("a1", price=101_00, remaining_qty=5, priority_kept=False),
            trade(3, 101_00, maker="b1", taker="a1", taker_leaves_qty=2),
        ]),
        BookIs(SPOT, bids=[(101_00, [("a1", 2)])]),
        BalanceIs(ALICE, USD, available=FUNDS - 505_00, held=202_00),
    ]),
    Scenario("amend_of_a_partly_filled_order_sets_the_new_total", [
        (buy(ALICE, "a1", 5, 100_00), [accepted("a1")]),
        (sell(BOB, "b1", 2, 100_00), [accepted("b1"), trade(2, 100_00, maker="a1", taker="b1")]),
        (amend(ALICE, "a1", qty=2), [
            command_rejected("amend_order", "qty_not_above_filled", client_order_id="a1")]),
        UNCHANGED,
        (amend(ALICE, "a1", qty=4), [
            amended("a1", remaining_qty=2, priority_kept=True, held=200_00)]),
        BookIs(SPOT, bids=[(100_00, [("a1", 2)])]),
        BalanceIs(ALICE, USD, available=FUNDS - 400_00, held=200_00),
    ]),
    Scenario("amend_refusals_change_nothing", [
        (buy(ALICE, "a1", 5, 99_00, post_only=True), [accepted("a1")]),
        (sell(BOB, "b1", 1, 100_00), [accepted("b1")]),
        (buy(ALICE, "s1", 1, stop=120_00), [accepted("s1")]),
        (amend(ALICE, "zz", qty=1), [command_rejected("amend_order", "order_not_found")]),
        UNCHANGED,
        (amend(BOB, "a1", qty=1), [command_rejected("amend_order", "order_not_found")]),
        UNCHANGED,
        (amend(ALICE, "a1"), [command_rejected("amend_order", "nothing_to_amend")]),
        UNCHANGED,
        (amend(ALICE, "a1", price=100_00), [
            command_rejected("amend_order", "post_only_would_cross")]),
        UNCHANGED,
        (amend(ALICE, "a1", price=0), [command_rejected("amend_order", "invalid_price")]),
        UNCHANGED,
        (amend(ALICE, "s1", qty=2), [command_rejected("amend_order", "not_amendable")]),
        UNCHANGED,
        BookIs(SPOT, bids=[(99_00, [("a1", 5)])], asks=[(100_00, [("b1", 1)])]),
    ]),
    Scenario("amend_needing_more_funds_than_available_is_refused", [
        (deposit(ERIN, USD, 150_00), [deposited(ERIN, 150_00, available=150_00)]),
        (buy(ERIN, "e1", 1, 100_00), [accepted("e1", held=100_00)]),
        (amend(ERIN, "e1", qty=2), [command_rejected("amend_order", "insufficient_funds")]),
        UNCHANGED,
        (amend(ERIN, "e1", price=150_00), [amended("e1", held=150_00)]),
        BalanceIs(ERIN, USD, available=0, held=150_00),
    ]),
    Scenario("cancel_releases_the_hold_and_cannot_repeat", [
        (buy(ALICE, "a1", 5, 100_00), [accepted("a1", order_id=1)]),
        (sell(ALICE, "a2", 3, 101_00), [accepted("a2", order_id=2)]),
        (cancel(BOB, "a1"), [command_rejected("cancel_order", "order_not_found")]),
        UNCHANGED,
        (cancel(BOB, order_id=1), [command_rejected("cancel_order", "order_not_found")]),
        UNCHANGED,
        (cancel(ALICE, "a1"), [canceled("a1", "requested", remaining_qty=5, order_id=1)]),
        (cancel(ALICE, "a1"), [command_rejected("cancel_order", "order_not_found")]),
        (cancel(ALICE, order_id=2), [canceled("a2", "requested", remaining_qty=3)]),
        (cancel(ALICE), [command_rejected("cancel_order", "order_not_found")]),
        BookIs(SPOT),
        BalanceIs(ALICE, USD, available=FUNDS, held=0),
        BalanceIs(ALICE, ABC, available=1_000, held=0),
    ]),
    Scenario("cancel_all_per_symbol_then_per_account", [
        (buy(ALICE, "a1", 1, 99_00), [accepted("a1")]),
        (sell(ALICE, "a2", 1, 101_00), [accepted("a2")]),
        (buy(ALICE, "a3", 1, 99_00, symbol=PERP), [accepted("a3")]),
        (buy(ALICE, "a4", 1, stop=105_00), [accepted("a4")]),
        (buy(BOB, "b1", 1, 98_00), [accepted("b1")]),
        (cancel_all(ALICE, PERP), [canceled("a3", "cancel_all")]),
        IsOpen(ALICE, "a1"),
        (cancel_all(ALICE), [
            canceled("a1", "cancel_all"), canceled("a2", "cancel_all"),
            canceled("a4", "cancel_all")]),
        (cancel_all(ALICE), []),
        IsOpen(BOB, "b1"),
        BookIs(SPOT, bids=[(98_00, [("b1", 1)])]),
        BookIs(PERP),
        BalanceIs(ALICE, USD, available=FUNDS, held=0),
        BalanceIs(ALICE, ABC, held=0),
    ]),
]


@pytest.mark.parametrize("scenario", scenario_params(SCENARIOS))
def test_amend_cancel_scenario_when_run_on_each_book_emits_table_events(
        scenario: Scenario, book_factory: BookFactory) -> None:
    run_scenario(scenario, book_factory)
