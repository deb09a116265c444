"""Scenario tables: liquidation of margin positions at their liquidation price.

PERP here: 10% initial and 5% maintenance margin, tick 0.01 USD, 1 lot = 1 XYZ, so one tick-lot
is one cent. Ten lots bought at 100.00 hold 100.00 of margin and are liquidated at 94.73, the
highest price where 100.00 + (P - 100.00) * 10 < 5% of P * 10; ten sold at 100.00 at 104.77.
"""

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
    buy,
    make_margin_instrument,
    sell,
)
from tests.kit.scenario import (
    UNCHANGED,
    BalanceIs,
    BookIs,
    Expect,
    IsOpen,
    PositionIs,
    Scenario,
    Step,
    accepted,
    canceled,
    command_rejected,
    ev,
    position,
    rejected,
    run_scenario,
    scenario_params,
    trade,
    triggered,
)
from tradehall.engine.matcher import BookFactory
from tradehall.trading import commands as c

FUNDS = DEFAULT_DEPOSITS[USD]
P = PERP
LIQUIDATING = [make_margin_instrument(maintenance_margin_rate="0.05")]
WITH_FEES = [make_margin_instrument(maintenance_margin_rate="0.05", maker_fee="0.001",
                                    taker_fee="0.002")]


def liquidation(account: str, net_qty: int, price: int, last: int, **fields: object) -> Expect:
    """Expect LiquidationTriggered."""
    return ev("liquidation_triggered", account=account, net_qty=net_qty,
              liquidation_price=price, last_price=last, **fields)


def long_alice_short_bob() -> list[Step]:
    """Alice long 10 at 100.00 (liquidated at 94.73), Bob short 10 (at 104.77)."""
    return [
        (buy(ALICE, "a1", 10, 100_00, symbol=P), [accepted("a1", held=100_00)]),
        (sell(BOB, "b1", 10, 100_00, symbol=P), [
            accepted("b1"), position(ALICE, 10, margin=100_00), position(BOB, -10),
            trade(10, 100_00, maker="a1", taker="b1")]),
    ]


SCENARIOS = [
    Scenario("long_is_liquidated_when_a_trade_reaches_its_price_and_its_orders_go_first", [
        *long_alice_short_bob(),
        # Alice also has a sell resting far away; it is canceled before the liquidation.
        (sell(ALICE, "a2", 5, 120_00, symbol=P), [accepted("a2")]),
        (buy(DAVE, "d1", 10, 94_00, symbol=P), [accepted("d1")]),
        (buy(DAVE, "d2", 1, 94_74, symbol=P), [accepted("d2")]),
        # One cent above the liquidation price: nothing happens.
        (sell(CAROL, "c1", 1, 94_74, symbol=P), [
            accepted("c1"), position(DAVE, 1), position(CAROL, -1),
            trade(1, 94_74, maker="d2", taker="c1")]),
        PositionIs(ALICE, P, 10, margin=100_00),
        (buy(DAVE, "d3", 1, 94_73, symbol=P), [accepted("d3")]),
        (sell(CAROL, "c2", 1, 94_73, symbol=P), [
            accepted("c2"), position(DAVE, 2), position(CAROL, -2),
            trade(1, 94_73, maker="d3", taker="c2"),
            canceled("a2", "liquidation"),
            liquidation(ALICE, 10, 94_73, 94_73, margin=100_00, order_id=9),
            accepted("liquidation-9", order_type="market", qty=10, reduce_only=True,
                     time_in_force="ioc", price=None, held=0),
            position(DAVE, 12),
            position(ALICE, 0, cost_ticks=0, realized_pnl=-60_00, margin=0),
            trade(10, 94_00, maker="d1", taker="liquidation-9", taker_fee=0,
                  taker_leaves_qty=0),
        ]),
        PositionIs(ALICE, P, 0, realized_pnl=-60_00, margin=0),
        BalanceIs(ALICE, USD, available=FUNDS - 60_00, held=0),
        IsOpen(ALICE, "a2", is_open=False),
        BookIs(P),
        PositionIs(BOB, P, -10, margin=100_00),
    ], instruments=LIQUIDATING),
    Scenario("short_without_liquidity_waits_silently_and_takes_offers_as_they_come", [
        *long_alice_short_bob(),
        (sell(CAROL, "c1", 1, 104_77, symbol=P), [accepted("c1")]),
        # Bob's short is due at 104.77, but nothing is offered: no liquidation yet, no events.
        (buy(DAVE, "d1", 1, 104_77, symbol=P), [
            accepted("d1"), position(CAROL, -1), position(DAVE, 1),
            trade(1, 104_77, maker="c1", taker="d1")]),
        PositionIs(BOB, P, -10, margin=100_00),
        # An offer inside the collar (104.77 + 5%) is taken at once; the rest waits again.
        (sell(CAROL, "c2", 4, 105_00, symbol=P), [
            accepted("c2"),
            liquidation(BOB, -10, 104_77, 104_77, margin=100_00, order_id=6),
            accepted("liquidation-6", side="buy", qty=10, held=0),
            position(CAROL, -5), position(BOB, -6, realized_pnl=-20_00, margin=60_00),
            trade(4, 105_00, maker="c2", taker="liquidation-6", taker_leaves_qty=6),
            canceled("liquidation-6", "unfilled", remaining_qty=6),
        ]),
        # A bid brings nothing to buy from: still no events for Bob.
        (buy(DAVE, "d2", 1, 104_00, symbol=P), [accepted("d2")]),
        PositionIs(BOB, P, -6, realized_pnl=-20_00, margin=60_00),
        (sell(CAROL, "c3", 10, 105_10, symbol=P), [
            accepted("c3"),
            liquidation(BOB, -6, 104_77, 105_00, margin=60_00, order_id=9),
            accepted("liquidation-9", qty=6),
            position(CAROL, -11), position(BOB, 0, realized_pnl=-50_60, margin=0),
            trade(6, 105_10, maker="c3", taker="liquidation-9", taker_leaves_qty=0),
        ]),
        BalanceIs(BOB, USD, available=FUNDS - 50_60, held=0),
        BookIs(P, bids=[(104_00, [("d2", 1)])], asks=[(105_10, [("c3", 4)])]),
    ], instruments=LIQUIDATING),
    Scenario("the_liquidation_pays_no_taker_fee_and_the_maker_pays_its_own", [
        (buy(ALICE, "a1", 10, 100_00, symbol=P), [accepted("a1")]),
        (sell(BOB, "b1", 10, 100_00, symbol=P), [
            accepted("b1"), position(ALICE, 10, margin=100_00), position(BOB, -10),
            trade(10, 100_00, maker="a1", taker="b1", maker_fee=1_00, taker_fee=2_00)]),
        (buy(DAVE, "d1", 20, 94_00, symbol=P), [accepted("d1")]),
        (sell(CAROL, "c1", 1, 94_00, symbol=P), [
            accepted("c1"), position(DAVE, 1), position(CAROL, -1),
            trade(1, 94_00, maker="d1", taker="c1"),
            liquidation(ALICE, 10, 94_73, 94_00, order_id=5),
            accepted("liquidation-5"),
            position(DAVE, 11), position(ALICE, 0, realized_pnl=-60_00),
            trade(10, 94_00, maker="d1", taker="liquidation-5", maker_fee=94, taker_fee=0),
        ]),
        # Alice paid her opening fee (1.00) and the loss; the liquidation cost her nothing more.
        BalanceIs(ALICE, USD, available=FUNDS - 1_00 - 60_00, held=0),
    ], instruments=WITH_FEES),
    Scenario("a_stop_loss_that_fills_first_spares_the_position", [
        *long_alice_short_bob(),
        (sell(ALICE, "a2", 10, None, stop=95_00, symbol=P, reduce_only=True), [
            accepted("a2", order_type="stop")]),
        (buy(DAVE, "d1", 10, 94_90, symbol=P), [accepted("d1")]),
        (buy(DAVE, "d2", 1, 95_00, symbol=P), [accepted("d2")]),
        (sell(CAROL, "c1", 1, 95_00, symbol=P), [
            accepted("c1"), position(DAVE, 1), position(CAROL, -1),
            trade(1, 95_00, maker="d2", taker="c1"),
            triggered("a2", last_price=95_00),
            position(DAVE, 11), position(ALICE, 0, realized_pnl=-51_00, margin=0),
            trade(10, 94_90, maker="d1", taker="a2", taker_leaves_qty=0)]),
        BalanceIs(ALICE, USD, available=FUNDS - 51_00, held=0),
    ], instruments=LIQUIDATING),
    Scenario("liquidation_client_order_ids_are_reserved_and_rates_are_checked", [
        (buy(ALICE, "liquidation-1", 1, 100_00, symbol=P), [
            rejected("liquidation-1", "invalid_client_order_id")]),
        UNCHANGED,
        (c.AddInstrument(spec=make_margin_instrument(
            "HIGH", maintenance_margin_rate="0.2")), [
            command_rejected("add_instrument", "out_of_range")]),
        (c.AddInstrument(spec=make_margin_instrument(
            "FULL", margin_rate="1", maintenance_margin_rate="1")), [
            command_rejected("add_instrument", "out_of_range")]),
        UNCHANGED,
    ], instruments=LIQUIDATING),
]


@pytest.mark.parametrize("scenario", scenario_params(SCENARIOS))
def test_liquidation_scenario_when_run_on_each_book_emits_table_events(
        scenario: Scenario, book_factory: BookFactory) -> None:
    run_scenario(scenario, book_factory)
