"""Scenario tables: maker and taker fees, charged to `@fees`, rounded down; holds cover them;
the operator collects them by withdrawing from `@fees`."""

from __future__ import annotations

import pytest

from tests.kit.factories import (
    ABC,
    ALICE,
    BOB,
    CAROL,
    DEFAULT_DEPOSITS,
    PERP,
    USD,
    buy,
    deposit,
    make_instrument,
    make_margin_instrument,
    sell,
    withdraw,
)
from tests.kit.scenario import (
    BalanceIs,
    PositionIs,
    Scenario,
    accepted,
    command_rejected,
    position,
    run_scenario,
    scenario_params,
    trade,
    withdrawn,
)
from tradehall.engine.matcher import BookFactory
from tradehall.kernel.ids import CLEARING_ACCOUNT, CUSTODY_ACCOUNT, FEE_ACCOUNT

FUNDS = DEFAULT_DEPOSITS[USD]
BASE = DEFAULT_DEPOSITS[ABC]
MAKER, TAKER = "0.001", "0.002"

SCENARIOS = [
    Scenario("taker_buy_pays_taker_fee_maker_sell_pays_maker_fee", [
        (sell(BOB, "b1", 10, 100_00), [accepted("b1", held=10)]),
        # Hold: notional 1,000.00 plus the larger fee rate (0.2%) rounded up.
        (buy(ALICE, "a1", 10, 100_00), [
            accepted("a1", held=1_002_00),
            trade(10, 100_00, maker="b1", taker="a1", notional=1_000_00,
                  maker_fee=1_00, taker_fee=2_00),
        ]),
        BalanceIs(FEE_ACCOUNT, USD, available=3_00, held=0),
        BalanceIs(ALICE, USD, available=FUNDS - 1_002_00, held=0),
        BalanceIs(BOB, USD, available=FUNDS + 999_00, held=0),
        BalanceIs(ALICE, ABC, available=BASE + 10),
        BalanceIs(BOB, ABC, available=BASE - 10, held=0),
    ], instruments=[make_instrument(maker_fee=MAKER, taker_fee=TAKER)]),
    Scenario("taker_sell_pays_taker_fee_maker_buy_pays_maker_fee", [
        (buy(ALICE, "a1", 5, 100_00), [accepted("a1", held=501_00)]),
        (sell(BOB, "b1", 5, 99_00), [
            accepted("b1"),
            trade(5, 100_00, maker="a1", taker="b1", maker_fee=50, taker_fee=1_00),
        ]),
        BalanceIs(FEE_ACCOUNT, USD, available=1_50),
        # The maker held for the taker rate; the difference comes back.
        BalanceIs(ALICE, USD, available=FUNDS - 500_50, held=0),
        BalanceIs(BOB, USD, available=FUNDS + 499_00),
    ], instruments=[make_instrument(maker_fee=MAKER, taker_fee=TAKER)]),
    Scenario("fees_round_down_to_the_minor_unit", [
        (sell(BOB, "b1", 1, 4_99), [accepted("b1")]),
        # 4.99 * 0.2% = 0.00998, charged as 0.00; held as 0.01.
        (buy(ALICE, "a1", 1, 4_99), [
            accepted("a1", held=5_00),
            trade(1, 4_99, maker="b1", taker="a1", maker_fee=0, taker_fee=0),
        ]),
        (sell(BOB, "b2", 3, 1_00_00), [accepted("b2")]),
        (buy(CAROL, "c1", 3, 1_00_00), [
            accepted("c1"), trade(3, 1_00_00, maker="b2", taker="c1", maker_fee=30,
                                  taker_fee=60)]),
        BalanceIs(FEE_ACCOUNT, USD, available=90),
        BalanceIs(ALICE, USD, available=FUNDS - 4_99, held=0),
    ], instruments=[make_instrument(maker_fee=MAKER, taker_fee=TAKER)]),
    Scenario("margin_fees_are_paid_from_the_hold_beside_the_margin", [
        # Hold: 10% margin of 1,000.00 plus 0.2% fee.
        (buy(ALICE, "a1", 10, 100_00, symbol=PERP), [accepted("a1", held=102_00)]),
        (sell(BOB, "b1", 10, 100_00, symbol=PERP), [
            accepted("b1", held=102_00),
            position(ALICE, 10, margin=100_00),
            position(BOB, -10, margin=100_00),
            trade(10, 100_00, maker="a1", taker="b1", maker_fee=1_00, taker_fee=2_00),
        ]),
        BalanceIs(FEE_ACCOUNT, USD, available=3_00),
        BalanceIs(ALICE, USD, available=FUNDS - 101_00, held=100_00),
        BalanceIs(BOB, USD, available=FUNDS - 102_00, held=100_00),
        PositionIs(ALICE, PERP, 10, cost_ticks=1_000_00, realized_pnl=0, margin=100_00),
    ], instruments=[make_margin_instrument(maker_fee=MAKER, taker_fee=TAKER)]),
    Scenario("the_operator_collects_fees_by_withdrawing_them_never_more", [
        (sell(BOB, "b1", 10, 100_00), [accepted("b1", held=10)]),
        (buy(ALICE, "a1", 10, 100_00), [
            accepted("a1", held=1_002_00),
            trade(10, 100_00, maker="b1", taker="a1", notional=1_000_00,
                  maker_fee=1_00, taker_fee=2_00),
        ]),
        (withdraw(FEE_ACCOUNT, USD, 2_00), [withdrawn(FEE_ACCOUNT, 2_00, available=1_00)]),
        (withdraw(FEE_ACCOUNT, USD, 1_01), [command_rejected("withdraw", "insufficient_funds")]),
        (withdraw(FEE_ACCOUNT, ABC, 1), [command_rejected("withdraw", "insufficient_funds")]),
        (deposit(FEE_ACCOUNT, USD, 1), [command_rejected("deposit", "invalid_account")]),
        (withdraw(CLEARING_ACCOUNT, USD, 1), [command_rejected("withdraw", "invalid_account")]),
        (withdraw(CUSTODY_ACCOUNT, USD, 1), [command_rejected("withdraw", "invalid_account")]),
        BalanceIs(FEE_ACCOUNT, USD, available=1_00, held=0),
    ], instruments=[make_instrument(maker_fee=MAKER, taker_fee=TAKER)]),
]


@pytest.mark.parametrize("scenario", scenario_params(SCENARIOS))
def test_fee_scenario_when_run_on_each_book_emits_table_events(
        scenario: Scenario, book_factory: BookFactory) -> None:
    run_scenario(scenario, book_factory)
