"""Scenario tables: refusals (duplicates, funds, status, bands, quantity limits, malformed
orders, transfers), each followed by a check that the refusal changed nothing."""

from __future__ import annotations

import pytest

from tests.kit.factories import (
    ABC,
    ALICE,
    BOB,
    CAROL,
    DAVE,
    DEFAULT_DEPOSITS,
    PERP,
    SPOT,
    USD,
    amend,
    buy,
    cancel,
    deposit,
    make_instrument,
    make_margin_instrument,
    order,
    sell,
    set_status,
    withdraw,
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
    duplicate,
    ev,
    position,
    rejected,
    run_scenario,
    scenario_params,
    trade,
    withdrawn,
)
from tradehall.engine.matcher import BookFactory
from tradehall.kernel.ids import FEE_ACCOUNT, AccountId, AssetCode
from tradehall.trading.model import InstrumentStatus, OrderType, Side

FUNDS = DEFAULT_DEPOSITS[USD]
ERIN = AccountId("erin")  # starts with nothing
HALTED, CLOSE_ONLY, TRADING = (InstrumentStatus.HALTED, InstrumentStatus.CLOSE_ONLY,
                               InstrumentStatus.TRADING)

SCENARIOS = [
    Scenario("duplicate_client_order_id_same_content_is_idempotent_other_content_rejected", [
        (buy(ALICE, "a1", 1, 99_00), [accepted("a1", order_id=1)]),
        (buy(ALICE, "a1", 1, 99_00), [duplicate("a1", order_id=1, account=ALICE)]),
        UNCHANGED,
        (buy(ALICE, "a1", 2, 99_00), [rejected("a1", "duplicate_client_order_id")]),
        UNCHANGED,
        # Client order ids are per account.
        (buy(BOB, "a1", 1, 99_00), [accepted("a1", account=BOB, order_id=2)]),
        (cancel(ALICE, "a1"), [canceled("a1", "requested")]),
        # A finished order's id stays taken.
        (buy(ALICE, "a1", 1, 99_00), [duplicate("a1", order_id=1)]),
        UNCHANGED,
        # A rejected order's id is not taken.
        (buy(ALICE, "x1", 1, 99_00, symbol="NOPE-USD"), [rejected("x1", "unknown_symbol")]),
        UNCHANGED,
        (buy(ALICE, "x1", 1, 99_00), [accepted("x1", order_id=3)]),
    ]),
    Scenario("insufficient_funds_rejections_change_nothing", [
        (deposit(ERIN, USD, 150_00), [deposited(ERIN, 150_00, available=150_00)]),
        (buy(ERIN, "e1", 2, 100_00), [rejected("e1", "insufficient_funds")]),
        UNCHANGED,
        # No ABC balance at all: the refusal must not even create an empty one.
        (sell(ERIN, "e2", 1, 100_00), [rejected("e2", "insufficient_funds")]),
        UNCHANGED,
        (buy(ERIN, "e3", 1, 100_00, symbol=PERP), [accepted("e3", held=10_00)]),
        (buy(ERIN, "e4", 15, 100_00, symbol=PERP), [rejected("e4", "insufficient_funds")]),
        UNCHANGED,
        (buy(AccountId("frank"), "f1", 1), [rejected("f1", "insufficient_funds")]),
        UNCHANGED,
        (buy(ERIN, "e5", 1, 140_00), [accepted("e5", held=140_00)]),
        BalanceIs(ERIN, USD, available=0, held=150_00),
        (buy(ERIN, "e6", 1), [rejected("e6", "insufficient_funds")]),
        UNCHANGED,
    ]),
    Scenario("withdrawals_and_deposits_are_checked", [
        (deposit(ERIN, USD, 100_00), [deposited(ERIN, 100_00)]),
        (buy(ERIN, "e1", 1, 60_00), [accepted("e1")]),
        (withdraw(ERIN, USD, 40_01), [command_rejected("withdraw", "insufficient_funds")]),
        UNCHANGED,
        (withdraw(ERIN, ABC, 1), [command_rejected("withdraw", "insufficient_funds")]),
        UNCHANGED,
        (withdraw(ERIN, USD, 40_00), [withdrawn(ERIN, 40_00, available=0)]),
        (deposit(ERIN, USD, 0), [command_rejected("deposit", "invalid_amount")]),
        UNCHANGED,
        (deposit(ERIN, AssetCode("ZZZ"), 1), [command_rejected("deposit", "unknown_asset")]),
        UNCHANGED,
        (deposit(FEE_ACCOUNT, USD, 1), [command_rejected("deposit", "invalid_account")]),
        UNCHANGED,
        (withdraw(ERIN, USD, -1), [command_rejected("withdraw", "invalid_amount")]),
        UNCHANGED,
        BalanceIs(ERIN, USD, available=0, held=60_00),
    ]),
    Scenario("halted_instrument_refuses_orders_and_repricing_but_allows_cancel", [
        (buy(ALICE, "a1", 5, 99_00), [accepted("a1")]),
        (sell(BOB, "b1", 5, 100_00), [accepted("b1")]),
        (set_status(SPOT, HALTED), [ev("instrument_status_changed", status="halted")]),
        (buy(CAROL, "c1", 1, 100_00), [rejected("c1", "instrument_halted")]),
        UNCHANGED,
        # Repricing would trade during the halt.
        (amend(ALICE, "a1", price=100_00), [
            command_rejected("amend_order", "instrument_halted")]),
        UNCHANGED,
        (amend(ALICE, "a1", qty=6), [command_rejected("amend_order", "instrument_halted")]),
        UNCHANGED,
        # Shrinking an order only takes risk away.
        (amend(ALICE, "a1", qty=4), [amended("a1", remaining_qty=4, priority_kept=True)]),
        (cancel(BOB, "b1"), [canceled("b1", "requested")]),
        (set_status(SPOT, TRADING), [ev("instrument_status_changed", status="trading")]),
        (sell(CAROL, "c2", 1, 99_00), [accepted("c2"), trade(1, 99_00, maker="a1", taker="c2")]),
    ]),
    Scenario("close_only_instrument_accepts_only_reduce_only_orders", [
        (buy(ALICE, "a1", 2, 100_00, symbol=PERP), [accepted("a1")]),
        (sell(BOB, "b1", 2, 100_00, symbol=PERP), [
            accepted("b1"), position(ALICE, 2), position(BOB, -2),
            trade(2, 100_00, maker="a1", taker="b1")]),
        (buy(CAROL, "c1", 5, 90_00, symbol=PERP), [accepted("c1")]),
        (set_status(PERP, CLOSE_ONLY), [ev("instrument_status_changed", status="close_only")]),
        (buy(ALICE, "a2", 1, 100_00, symbol=PERP), [rejected("a2", "instrument_close_only")]),
        UNCHANGED,
        (amend(CAROL, "c1", price=95_00), [
            command_rejected("amend_order", "instrument_close_only")]),
        UNCHANGED,
        (sell(ALICE, "a3", 2, 90_00, symbol=PERP, reduce_only=True), [
            accepted("a3", reduce_only=True),
            position(CAROL, 2), position(ALICE, 0),
            trade(2, 90_00, maker="c1", taker="a3"),
        ]),
        IsOpen(CAROL, "c1"),
        (sell(ALICE, "a4", 1, 100_00, reduce_only=True), [
            rejected("a4", "reduce_only_not_supported")]),
    ]),
    Scenario("stop_that_would_add_risk_is_canceled_when_it_triggers_in_close_only", [
        (buy(ALICE, "a1", 2, 100_00, symbol=PERP), [accepted("a1")]),
        (sell(BOB, "b1", 2, 100_00, symbol=PERP), [
            accepted("b1"), position(ALICE, 2), position(BOB, -2),
            trade(2, 100_00, maker="a1", taker="b1")]),
        (sell(DAVE, "d1", 1, stop=95_00, symbol=PERP), [accepted("d1")]),
        (buy(CAROL, "c1", 5, 90_00, symbol=PERP), [accepted("c1")]),
        (set_status(PERP, CLOSE_ONLY), [ev("instrument_status_changed", status="close_only")]),
        (sell(ALICE, "a2", 2, 90_00, symbol=PERP, reduce_only=True), [
            accepted("a2", reduce_only=True),
            position(CAROL, 2), position(ALICE, 0),
            trade(2, 90_00, maker="c1", taker="a2"),
            canceled("d1", "instrument_close_only"),
        ]),
        BalanceIs(DAVE, USD, held=0),
    ]),
    Scenario("price_band_limits_prices_around_the_last_trade", [
        (buy(ALICE, "a0", 1, 50_00), [accepted("a0")]),  # no last trade yet: no band
        (sell(BOB, "b0", 1, 100_00), [accepted("b0")]),
        (buy(CAROL, "c0", 1, 100_00), [accepted("c0"), trade(1, 100_00, maker="b0", taker="c0")]),
        (buy(ALICE, "a1", 1, 110_00), [accepted("a1")]),  # exactly 10% away
        (buy(ALICE, "a2", 1, 110_01), [rejected("a2", "price_out_of_band")]),
        UNCHANGED,
        (sell(ALICE, "a3", 1, 89_99), [rejected("a3", "price_out_of_band")]),
        UNCHANGED,
        (sell(ALICE, "a4", 1, 120_00, stop=95_00), [rejected("a4", "price_out_of_band")]),
        UNCHANGED,
        (amend(ALICE, "a1", price=111_00), [
            command_rejected("amend_order", "price_out_of_band")]),
        UNCHANGED,
        (amend(ALICE, "a1", price=109_00), [amended("a1", price=109_00)]),
        # Market orders carry no price to check.
        (sell(BOB, "b1", 2), [
            accepted("b1"),
            trade(1, 109_00, maker="a1", taker="b1"),
            trade(1, 50_00, maker="a0", taker="b1")]),
    ], instruments=[make_instrument(price_band="0.1")]),
    Scenario("min_and_max_quantity_apply_to_orders_and_amends", [
        (buy(ALICE, "a1", 1, 100_00), [rejected("a1", "qty_below_minimum")]),
        UNCHANGED,
        (buy(ALICE, "a2", 101, 100_00), [rejected("a2", "qty_above_maximum")]),
        UNCHANGED,
        (buy(ALICE, "a3", 2, 100_00), [accepted("a3")]),
        (buy(ALICE, "a4", 100, 99_00), [accepted("a4")]),
        (amend(ALICE, "a3", qty=101), [command_rejected("amend_order", "qty_above_maximum")]),
        UNCHANGED,
        (amend(ALICE, "a3", qty=1), [command_rejected("amend_order", "qty_below_minimum")]),
        UNCHANGED,
        (amend(ALICE, "a4", qty=3), [amended("a4", remaining_qty=3)]),
    ], instruments=[make_instrument(min_qty="2", max_qty="100")]),
    Scenario("malformed_orders_are_rejected_with_a_reason", [
        (buy(FEE_ACCOUNT, "x1", 1, 100_00), [rejected("x1", "invalid_account")]),
        (buy(ALICE, "", 1, 100_00), [rejected("", "invalid_client_order_id")]),
        (buy(ALICE, "x" * 65, 1, 100_00), [rejected("x" * 65, "invalid_client_order_id")]),
        (buy(ALICE, "x2", 1, 100_00, symbol="NOPE"), [rejected("x2", "unknown_symbol")]),
        (order(ALICE, "x3", Side.BUY, 1, order_type=OrderType.LIMIT), [
            rejected("x3", "missing_price")]),
        (order(ALICE, "x4", Side.BUY, 1, 100_00, order_type=OrderType.MARKET), [
            rejected("x4", "price_not_allowed")]),
        (order(ALICE, "x5", Side.BUY, 1, 100_00, order_type=OrderType.STOP_LIMIT), [
            rejected("x5", "missing_stop_price")]),
        (order(ALICE, "x6", Side.BUY, 1, 100_00, stop=99_00, order_type=OrderType.LIMIT), [
            rejected("x6", "stop_price_not_allowed")]),
        (buy(ALICE, "x7", 1, 0), [rejected("x7", "invalid_price")]),
        (buy(ALICE, "x8", 1, 2**53 + 1), [rejected("x8", "invalid_price")]),
        (buy(ALICE, "x9", 0, 100_00), [rejected("x9", "qty_below_minimum")]),
        (buy(ALICE, "x10", 1, 100_00, reduce_only=True), [
            rejected("x10", "reduce_only_not_supported")]),
        UNCHANGED,
        BookIs(SPOT),
        IsOpen(ALICE, "x3", is_open=False),
        BalanceIs(ALICE, USD, available=FUNDS, held=0),
    ], instruments=[make_instrument(), make_margin_instrument()]),
]


@pytest.mark.parametrize("scenario", scenario_params(SCENARIOS))
def test_validation_scenario_when_run_on_each_book_emits_table_events(
        scenario: Scenario, book_factory: BookFactory) -> None:
    run_scenario(scenario, book_factory)
