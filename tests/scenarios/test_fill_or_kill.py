"""Scenario tables: a FOK order fills completely or not at all, whatever its fills change.

The first three tables are cases the property tests of `tests/unit/engine/test_fill_or_kill.py`
found where the old check let a FOK fill in part: a reduce-only stop whose position shrank
while it waited, a stop sell that closes a position at a loss before it opens the other way
(the loss eats the cash the opening needs), and the same loss taken by the taker's own
reduce-only maker in a self-trade. The last two are cases it found where the old check killed
a FOK the match would have filled: margin freed by the closing part of the fill, and the
taker's own reduce-only order that its first fill gives something to reduce.
"""

from __future__ import annotations

import pytest

from tests.kit.factories import ALICE, BOB, CAROL, DAVE, PERP, USD, buy, deposit, sell
from tests.kit.factories import make_margin_instrument as margin_instrument
from tests.kit.scenario import (
    BalanceIs,
    BookIs,
    IsOpen,
    PositionIs,
    Scenario,
    accepted,
    canceled,
    deposited,
    position,
    run_scenario,
    scenario_params,
    trade,
    triggered,
)
from tradehall.engine.matcher import BookFactory
from tradehall.kernel.ids import AccountId
from tradehall.trading.model import SelfTradePrevention, TimeInForce

ERIN = AccountId("erin")
P = PERP
FOK = TimeInForce.FOK
STP_NONE = SelfTradePrevention.NONE
# A stop sell holds margin at its stop less the collar: half the stop here, so one that
# triggers at its stop needs twice the margin it holds for the lots it opens.
WIDE_COLLAR = [margin_instrument(stop_collar="0.5")]

SCENARIOS = [
    Scenario("fok_reduce_only_stop_whose_position_shrank_while_waiting_does_not_trade", [
        (buy(ALICE, "a1", 5, 100_00, symbol=P), [accepted("a1")]),
        (sell(BOB, "b1", 5, 100_00, symbol=P), [
            accepted("b1"), position(ALICE, 5), position(BOB, -5),
            trade(5, 100_00, maker="a1", taker="b1")]),
        (sell(ALICE, "s1", 5, stop=95_00, symbol=P, tif=FOK, reduce_only=True), [
            accepted("s1", reduce_only=True)]),
        # Three of the five lots are sold before the stop triggers.
        (buy(CAROL, "c1", 3, 100_00, symbol=P), [accepted("c1")]),
        (sell(ALICE, "a2", 3, 100_00, symbol=P), [
            accepted("a2"), position(CAROL, 3), position(ALICE, 2),
            trade(3, 100_00, maker="c1", taker="a2")]),
        (buy(DAVE, "d1", 10, 95_00, symbol=P), [accepted("d1")]),
        # Ten lots are bid, but the stop may reduce only two: it is killed, not filled in part.
        (sell(BOB, "b2", 1, 95_00, symbol=P), [
            accepted("b2"), position(DAVE, 1), position(BOB, -6),
            trade(1, 95_00, maker="d1", taker="b2"),
            triggered("s1", last_price=95_00),
            canceled("s1", "fok_unfillable", remaining_qty=5),
        ]),
        PositionIs(ALICE, P, 2),
        BookIs(P, bids=[(95_00, [("d1", 9)])]),
    ]),
    Scenario("fok_stop_sell_that_closes_at_a_loss_then_opens_counts_the_loss", [
        # 13.00 of margin for the position, 30.00 held by the stop, 20.00 spare.
        (deposit(ERIN, USD, 63_00), [deposited(ERIN, 63_00)]),
        (buy(ERIN, "e1", 1, 130_00, symbol=P), [accepted("e1", held=13_00)]),
        (sell(BOB, "b1", 1, 130_00, symbol=P), [
            accepted("b1"), position(ERIN, 1, margin=13_00), position(BOB, -1),
            trade(1, 130_00, maker="e1", taker="b1")]),
        # No bid yet: six lots hold margin at 50.00 each.
        (sell(ERIN, "e2", 6, stop=100_00, symbol=P, tif=FOK), [accepted("e2", held=30_00)]),
        BalanceIs(ERIN, USD, available=20_00, held=43_00),
        (buy(BOB, "b2", 1, 100_00, symbol=P), [accepted("b2")]),
        (buy(CAROL, "c1", 1, 100_00, symbol=P), [accepted("c1")]),
        (buy(DAVE, "d1", 10, 100_00, symbol=P), [accepted("d1")]),
        # Closing the long at 100.00 frees 13.00 but loses 30.00, which leaves 3.00 of the
        # 20.00 spare: the five lots it opens need 50.00, it holds 30.00. It would fill four
        # lots of six; it is killed instead.
        (sell(ALICE, "a1", 1, 100_00, symbol=P), [
            accepted("a1"), position(BOB, 0), position(ALICE, -1),
            trade(1, 100_00, maker="b2", taker="a1"),
            triggered("e2", last_price=100_00),
            canceled("e2", "fok_unfillable", remaining_qty=6),
        ]),
        PositionIs(ERIN, P, 1, margin=13_00),
        BalanceIs(ERIN, USD, available=50_00, held=13_00),
        BookIs(P, bids=[(100_00, [("c1", 1), ("d1", 10)])]),
    ], instruments=WIDE_COLLAR),
    Scenario("fok_stop_sell_meeting_its_own_reduce_only_bid_counts_the_loss_of_that_fill", [
        # 7.00 of margin for the position, 10.00 held by the stop, 10.00 spare.
        (deposit(ERIN, USD, 27_00), [deposited(ERIN, 27_00)]),
        (sell(ERIN, "e1", 1, 70_00, symbol=P), [accepted("e1")]),
        (buy(BOB, "b1", 1, 70_00, symbol=P), [
            accepted("b1"), position(ERIN, -1, margin=7_00), position(BOB, 1),
            trade(1, 70_00, maker="e1", taker="b1")]),
        (sell(CAROL, "c1", 1, 110_00, symbol=P), [accepted("c1")]),
        (buy(DAVE, "d1", 1, 110_00, symbol=P), [
            accepted("d1"), position(CAROL, -1), position(DAVE, 1),
            trade(1, 110_00, maker="c1", taker="d1")]),
        (sell(ERIN, "e2", 2, stop=100_00, symbol=P, tif=FOK, stp=STP_NONE), [
            accepted("e2", held=10_00)]),
        (buy(BOB, "b2", 1, 100_00, symbol=P), [accepted("b2")]),
        (buy(ERIN, "e3", 1, 100_00, symbol=P, reduce_only=True), [accepted("e3", held=0)]),
        (buy(DAVE, "d2", 1, 100_00, symbol=P), [accepted("d2")]),
        # The stop first trades with Erin's own bid: the bid closes the short at a loss of
        # 30.00 (7.00 of margin freed, all 10.00 spare gone), the stop opens it again with
        # all it holds; Dave's lot then finds no cash. It is killed instead of filling half.
        (sell(CAROL, "c2", 1, 100_00, symbol=P), [
            accepted("c2"), position(BOB, 2), position(CAROL, -2),
            trade(1, 100_00, maker="b2", taker="c2"),
            triggered("e2", last_price=100_00),
            canceled("e2", "fok_unfillable", remaining_qty=2),
        ]),
        PositionIs(ERIN, P, -1, margin=7_00),
        BalanceIs(ERIN, USD, available=20_00, held=7_00),
        BookIs(P, bids=[(100_00, [("e3", 1), ("d2", 1)])]),
    ], instruments=WIDE_COLLAR),
    Scenario("fok_margin_buy_pays_its_opening_lots_with_margin_its_closing_lots_free", [
        (deposit(ERIN, USD, 11_00), [deposited(ERIN, 11_00)]),
        (sell(ERIN, "e1", 1, 100_00, symbol=P), [accepted("e1")]),
        (buy(BOB, "b1", 1, 100_00, symbol=P), [
            accepted("b1"), position(ERIN, -1, margin=10_00), position(BOB, 1),
            trade(1, 100_00, maker="e1", taker="b1")]),
        (sell(CAROL, "c1", 2, 100_00, symbol=P), [accepted("c1")]),
        # 1.00 available: the first lot closes the short and frees 10.00, which pays the
        # second lot's margin.
        (buy(ERIN, "e2", 2, symbol=P, tif=FOK), [
            accepted("e2", held=1_00),
            position(CAROL, -1), position(ERIN, 0, margin=0),
            trade(1, 100_00, maker="c1", taker="e2", taker_leaves_qty=1),
            position(CAROL, -2), position(ERIN, 1, margin=10_00),
            trade(1, 100_00, maker="c1", taker="e2", taker_leaves_qty=0),
        ]),
        BalanceIs(ERIN, USD, available=1_00, held=10_00),
    ]),
    Scenario("fok_with_stp_none_counts_its_own_reduce_only_order_its_first_fill_feeds", [
        (buy(ALICE, "a1", 1, 100_00, symbol=P), [accepted("a1")]),
        (sell(BOB, "b1", 1, 100_00, symbol=P), [
            accepted("b1"), position(ALICE, 1), position(BOB, -1),
            trade(1, 100_00, maker="a1", taker="b1")]),
        (sell(ALICE, "r1", 1, 101_00, symbol=P, reduce_only=True), [accepted("r1")]),
        (buy(CAROL, "c1", 1, 100_00, symbol=P), [accepted("c1")]),
        (sell(ALICE, "a2", 1, 100_00, symbol=P), [
            accepted("a2"), position(CAROL, 1), position(ALICE, 0),
            trade(1, 100_00, maker="c1", taker="a2")]),
        (sell(DAVE, "d1", 1, 100_00, symbol=P), [accepted("d1")]),
        # r1 has nothing to reduce now, but the FOK's fill with Dave gives it a lot.
        (buy(ALICE, "f1", 2, 101_00, symbol=P, tif=FOK, stp=STP_NONE), [
            accepted("f1"),
            position(DAVE, -1), position(ALICE, 1),
            trade(1, 100_00, maker="d1", taker="f1", taker_leaves_qty=1),
            position(ALICE, 0), position(ALICE, 1),
            trade(1, 101_00, maker="r1", taker="f1", maker_account=ALICE,
                  taker_leaves_qty=0),
        ]),
        IsOpen(ALICE, "r1", is_open=False),
        PositionIs(ALICE, P, 1),
    ]),
]


@pytest.mark.parametrize("scenario", scenario_params(SCENARIOS))
def test_fok_scenario_when_run_on_each_book_emits_table_events(
        scenario: Scenario, book_factory: BookFactory) -> None:
    run_scenario(scenario, book_factory)
