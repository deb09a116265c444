"""Scenario tables: a desk's manual fill (`ManualFill`) is off the book.

The dealer's price was agreed away from the book, maybe hours earlier, so the fill settles the
two accounts but leaves the book's last price alone: it triggers no stop or liquidation, and
price bands and the stop collar keep measuring from the book's own last trade. PERP here:
10% initial and 5% maintenance margin (Alice's long of 10 at 100.00 is liquidated at 94.73),
a 10% price band.
"""

from __future__ import annotations

import pytest

from tests.kit.factories import ALICE, BOB, CAROL, DAVE, PERP, buy, make_margin_instrument, sell
from tests.kit.scenario import (
    IsOpen,
    LastPriceIs,
    PositionIs,
    Scenario,
    accepted,
    position,
    rejected,
    run_scenario,
    scenario_params,
    trade,
    triggered,
)
from tradehall.engine.matcher import BookFactory
from tradehall.kernel.ids import AccountId, ClientOrderId, Symbol
from tradehall.trading import commands as c
from tradehall.trading.model import Side

P = PERP
HOUSE = AccountId("house")
BANDED = [make_margin_instrument(maintenance_margin_rate="0.05", price_band="0.1")]


def manual_fill(account: AccountId, side: Side, qty: int, price: int) -> c.ManualFill:
    """The desk's fill of `account` with the house, at the dealer's price."""
    return c.ManualFill(account=account, client_order_id=ClientOrderId("fb-1"),
                        symbol=Symbol(P), side=side, qty=qty, price=price, counterparty=HOUSE)


SCENARIOS = [
    Scenario("a_manual_fill_far_from_the_book_moves_no_last_price_and_triggers_nothing", [
        (buy(ALICE, "a1", 10, 100_00, symbol=P), [accepted("a1")]),
        (sell(BOB, "b1", 10, 100_00, symbol=P), [
            accepted("b1"), position(ALICE, 10), position(BOB, -10),
            trade(10, 100_00, maker="a1", taker="b1", off_book=False)]),
        # A stop and a liquidation both due at 89.00, and a bid to liquidate into.
        (sell(CAROL, "c1", 1, None, stop=96_00, symbol=P), [accepted("c1")]),
        (buy(DAVE, "d1", 10, 95_00, symbol=P), [accepted("d1")]),
        # The desk books Bob's buy of 1 at 89.00, 11% below the book, with the house.
        (manual_fill(BOB, Side.BUY, 1, 89_00), [
            accepted("fb-1"), accepted("fb-1~h"),
            position(HOUSE, -1), position(BOB, -9, realized_pnl=11_00),
            trade(1, 89_00, maker="fb-1~h", taker="fb-1", off_book=True)]),
        LastPriceIs(P, 100_00),
        # The next order in the symbol finds nothing due: the stop waits, Alice keeps her long.
        (buy(CAROL, "c2", 1, 91_00, symbol=P), [accepted("c2")]),
        IsOpen(CAROL, "c1"),
        PositionIs(ALICE, P, 10, margin=100_00),
        # The band still measures from 100.00: 89.50 is more than 10% away from it.
        (buy(CAROL, "c3", 1, 89_50, symbol=P), [rejected("c3", "price_out_of_band")]),
        # A book trade moves the last price as ever, and the stop it reaches triggers.
        (sell(BOB, "b2", 1, 95_00, symbol=P), [
            accepted("b2"), position(DAVE, 1), position(BOB, -10),
            trade(1, 95_00, maker="d1", taker="b2", off_book=False),
            triggered("c1", last_price=95_00), position(DAVE, 2), position(CAROL, -1),
            trade(1, 95_00, maker="d1", taker="c1")]),
        LastPriceIs(P, 95_00),
        IsOpen(CAROL, "c1", is_open=False),
    ], instruments=BANDED, accounts=(ALICE, BOB, CAROL, DAVE, HOUSE)),
]


@pytest.mark.parametrize("scenario", scenario_params(SCENARIOS))
def test_off_book_scenario_when_run_on_each_book_emits_table_events(
        scenario: Scenario, book_factory: BookFactory) -> None:
    run_scenario(scenario, book_factory)
