"""Scenario tables: the liquidation fee and the insurance fund (`@insurance`).

PERP as in test_liquidation.py (10% initial, 5% maintenance margin, one tick-lot is one cent),
with a 1% liquidation fee: Alice's ten lots bought at 100.00 hold 100.00 of margin and are
liquidated at 94.73. To make her loss outgrow what she has, she withdraws all but 5.00 of her
free cash after opening.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from msgspec import structs

from tests.kit.factories import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
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
    UNCHANGED,
    BalanceIs,
    Expect,
    PositionIs,
    Scenario,
    Step,
    accepted,
    command_rejected,
    deposited,
    ev,
    position,
    rejected,
    run_scenario,
    scenario_params,
    trade,
    withdrawn,
)
from tradehall.engine.matcher import BookFactory
from tradehall.kernel.ids import CLEARING_ACCOUNT, FEE_ACCOUNT, INSURANCE_ACCOUNT, AccountId
from tradehall.trading import commands as c

FUNDS = DEFAULT_DEPOSITS[USD]
P = PERP
FUND = INSURANCE_ACCOUNT
WITH_FEE = [make_margin_instrument(maintenance_margin_rate="0.05", liquidation_fee_rate="0.01")]
NOT_LIQUIDATING = [make_margin_instrument()]


def liquidation(account: str, net_qty: int, price: int, last: int, **fields: object) -> Expect:
    """Expect LiquidationTriggered."""
    return ev("liquidation_triggered", account=account, net_qty=net_qty,
              liquidation_price=price, last_price=last, **fields)


def shortfall(account: AccountId, amount: int, covered: int) -> Expect:
    """Expect LossShortfall in PERP's quote asset."""
    return ev("loss_shortfall", account=account, symbol=P, asset=USD, shortfall=amount,
              covered=covered, uncovered=amount - covered)


def long_alice_short_bob() -> list[Step]:
    """Alice long 10 at 100.00 (liquidated at 94.73), Bob short 10."""
    return [
        (buy(ALICE, "a1", 10, 100_00, symbol=P), [accepted("a1", held=100_00)]),
        (sell(BOB, "b1", 10, 100_00, symbol=P), [
            accepted("b1"), position(ALICE, 10, margin=100_00), position(BOB, -10),
            trade(10, 100_00, maker="a1", taker="b1")]),
    ]


def alice_keeps_five() -> Step:
    """Alice withdraws her free cash but 5.00 (her margin stays held)."""
    return (withdraw(ALICE, USD, FUNDS - 100_00 - 5_00), [withdrawn(ALICE, FUNDS - 105_00,
                                                                    available=5_00)])


def liquidated_into(bid: int, last: int) -> list[Step]:
    """Dave bids 10 at `bid` and 1 at `last`; Carol's sale at `last` liquidates Alice into
    the bid of 10 (order ids: d1 3, d2 4, c1 5, the liquidation 6). The caller checks the
    liquidation's own events."""
    return [
        (buy(DAVE, "d1", 10, bid, symbol=P), [accepted("d1")]),
        (buy(DAVE, "d2", 1, last, symbol=P), [accepted("d2")]),
    ]


def carol_sells_at(last: int) -> list[Expect]:
    """The events of Carol's sale up to and including Alice's liquidation order."""
    return [
        accepted("c1"), position(DAVE, 1), position(CAROL, -1),
        trade(1, last, maker="d2", taker="c1"),
        liquidation(ALICE, 10, 94_73, last, margin=100_00, order_id=6),
        accepted("liquidation-6", held=0),
        position(DAVE, 11),
    ]


def shortfall_scenario(name: str, fund: int, covered: int) -> Scenario:
    """Alice, left with 5.00, is liquidated at 85.00: a loss of 150.00 against 105.00 she
    has (cash plus freed margin), so 45.00 falls short; the fund holds `fund` first."""
    funding: list[Step] = [(deposit(FUND, USD, fund), [deposited(FUND, fund, available=fund)])]
    return Scenario(name, [
        *long_alice_short_bob(),
        *(funding if fund else []),
        alice_keeps_five(),
        *liquidated_into(85_00, 89_00),
        (sell(CAROL, "c1", 1, 89_00, symbol=P), [
            *carol_sells_at(89_00),
            position(ALICE, 0, realized_pnl=-105_00, margin=0),
            shortfall(ALICE, 45_00, covered),
            # Nothing is left to pay the liquidation fee with.
            trade(10, 85_00, maker="d1", taker="liquidation-6", taker_fee=0)]),
        BalanceIs(ALICE, USD, available=0, held=0),
        BalanceIs(FUND, USD, available=fund - covered, held=0),
        # Alice paid 105.00 and the fund `covered`; the rest of the 150.00 that the open
        # positions gained is missing from clearing (the venue's loss).
        BalanceIs(CLEARING_ACCOUNT, USD, available=105_00 + covered),
    ], instruments=WITH_FEE)


SCENARIOS = [
    Scenario("the_liquidation_fee_is_charged_and_paid_into_the_insurance_fund", [
        *long_alice_short_bob(),
        (buy(DAVE, "d1", 20, 94_00, symbol=P), [accepted("d1")]),
        (sell(CAROL, "c1", 1, 94_00, symbol=P), [
            accepted("c1"), position(DAVE, 1), position(CAROL, -1),
            trade(1, 94_00, maker="d1", taker="c1"),
            liquidation(ALICE, 10, 94_73, 94_00, order_id=5),
            accepted("liquidation-5", held=0),
            position(DAVE, 11), position(ALICE, 0, realized_pnl=-60_00, margin=0),
            # 1% of the 940.00 notional, shown as the taker's fee.
            trade(10, 94_00, maker="d1", taker="liquidation-5", maker_fee=0, taker_fee=9_40),
        ]),
        BalanceIs(ALICE, USD, available=FUNDS - 60_00 - 9_40, held=0),
        BalanceIs(FUND, USD, available=9_40, held=0),
        BalanceIs(FEE_ACCOUNT, USD, available=0, held=0),
    ], instruments=WITH_FEE),
    Scenario("the_liquidation_fee_is_capped_at_what_the_fill_leaves_the_account", [
        *long_alice_short_bob(),
        alice_keeps_five(),
        *liquidated_into(90_00, 91_00),
        (sell(CAROL, "c1", 1, 91_00, symbol=P), [
            *carol_sells_at(91_00),
            # 5.00 + 100.00 freed - 100.00 lost leaves 5.00 of the 9.00 fee.
            position(ALICE, 0, realized_pnl=-100_00, margin=0),
            trade(10, 90_00, maker="d1", taker="liquidation-6", taker_fee=5_00)]),
        BalanceIs(ALICE, USD, available=0, held=0),
        BalanceIs(FUND, USD, available=5_00, held=0),
    ], instruments=WITH_FEE),
    shortfall_scenario("a_shortfall_is_covered_in_full_by_the_insurance_fund", 50_00, 45_00),
    shortfall_scenario("a_shortfall_beyond_the_fund_leaves_the_rest_on_clearing", 20_00, 20_00),
    shortfall_scenario("a_shortfall_with_an_empty_fund_stays_on_clearing", 0, 0),
    Scenario("a_capped_loss_without_liquidation_is_covered_too_on_the_maker_side", [
        *long_alice_short_bob(),
        (deposit(FUND, USD, 100_00), [deposited(FUND, 100_00)]),
        alice_keeps_five(),
        # Reduce-only: it holds only its fee (none here), so 5.00 is enough to place it.
        (sell(ALICE, "a2", 10, 80_00, symbol=P, reduce_only=True), [accepted("a2", held=0)]),
        (buy(DAVE, "d1", 10, 80_00, symbol=P), [
            accepted("d1"),
            position(ALICE, 0, realized_pnl=-105_00, margin=0),
            shortfall(ALICE, 95_00, 95_00),
            position(DAVE, 10),
            trade(10, 80_00, maker="a2", taker="d1")]),
        PositionIs(BOB, P, -10, margin=100_00),
        BalanceIs(FUND, USD, available=5_00),
        BalanceIs(CLEARING_ACCOUNT, USD, available=200_00),
    ], instruments=NOT_LIQUIDATING),
    Scenario("the_fund_takes_operator_deposits_and_withdrawals_but_never_trades", [
        (withdraw(FUND, USD, 1), [command_rejected("withdraw", "insufficient_funds")]),
        UNCHANGED,
        (deposit(FUND, USD, 10_00), [deposited(FUND, 10_00, available=10_00)]),
        (withdraw(FUND, USD, 4_00), [withdrawn(FUND, 4_00, available=6_00)]),
        (withdraw(FUND, USD, 7_00), [command_rejected("withdraw", "insufficient_funds")]),
        (buy(FUND, "f1", 1, 100_00, symbol=P), [rejected("f1", "invalid_account")]),
        (deposit(FEE_ACCOUNT, USD, 1), [command_rejected("deposit", "invalid_account")]),
        (deposit(CLEARING_ACCOUNT, USD, 1), [command_rejected("deposit", "invalid_account")]),
        UNCHANGED,
        BalanceIs(FUND, USD, available=6_00, held=0),
    ], instruments=WITH_FEE),
    Scenario("liquidation_fee_rates_are_checked", [
        (c.AddInstrument(spec=structs.replace(make_instrument("SPOT-FEE"),
                                              liquidation_fee_rate=Decimal("0.01"))), [
            command_rejected("add_instrument", "invalid_input",
                             message="liquidation_fee_rate: applies to margin instruments")]),
        (c.AddInstrument(spec=make_margin_instrument("NO-MAINT", liquidation_fee_rate="0.01")),
         [command_rejected("add_instrument", "missing",
                           message="liquidation_fee_rate: needs a maintenance_margin_rate: "
                                   "without one nothing is liquidated")]),
        (c.AddInstrument(spec=make_margin_instrument(
            "ONE", maintenance_margin_rate="0.05", liquidation_fee_rate="1")), [
            command_rejected("add_instrument", "out_of_range",
                             message="liquidation_fee_rate: must be at least 0 and below 1, "
                                     "got 1")]),
        (c.AddInstrument(spec=make_margin_instrument(
            "NEG", maintenance_margin_rate="0.05", liquidation_fee_rate="-0.001")), [
            command_rejected("add_instrument", "out_of_range",
                             message="liquidation_fee_rate: must be at least 0 and below 1, "
                                     "got -0.001")]),
        (c.AddInstrument(spec=make_margin_instrument(
            "FINE", maintenance_margin_rate="0.05", liquidation_fee_rate="0.0000001")), [
            command_rejected("add_instrument", "too_many_decimals")]),
        UNCHANGED,
        # Zero is the default, so it is accepted anywhere.
        (c.AddInstrument(spec=structs.replace(make_instrument("SPOT-ZERO"),
                                              liquidation_fee_rate=Decimal(0))), [
            ev("instrument_added")]),
        (c.AddInstrument(spec=make_margin_instrument(
            "HIGH", maintenance_margin_rate="0.05", liquidation_fee_rate="0.999999")), [
            ev("instrument_added")]),
    ], instruments=WITH_FEE),
]


@pytest.mark.parametrize("scenario", scenario_params(SCENARIOS))
def test_insurance_fund_scenario_when_run_on_each_book_emits_table_events(
        scenario: Scenario, book_factory: BookFactory) -> None:
    run_scenario(scenario, book_factory)
