"""A margin sell that fills above its limit and then rests keeps enough margin held.

Found by the market-data hub's property test: a stop-limit sell held margin at its limit (no
bid yet), triggered into a higher bid, filled most of its size there (more margin per lot),
and its rest went into the book short of its hold; the rest's later fill broke the hold
invariant. The rest is now topped up from available funds, or canceled when they fall short.
"""

from __future__ import annotations

from tests.kit.factories import (
    ALICE,
    BOB,
    CAROL,
    PERP,
    T0,
    USD,
    buy,
    make_engine,
    make_instrument,
    make_margin_instrument,
    sell,
)
from tests.kit.invariants import check_engine
from tradehall.engine.matcher import MatchingEngine
from tradehall.trading import commands as c
from tradehall.trading import events as e

INSTRUMENTS = [make_instrument(), make_margin_instrument(maker_fee="0.001", taker_fee="0.002")]


def _trigger_into_higher_bid(engine: MatchingEngine) -> list[e.EngineEvent]:
    steps: list[c.EngineCommand] = [
        sell(BOB, "stop", 8, 99_00, stop=99_00, symbol=PERP),  # holds margin at 99.00
        buy(ALICE, "a1", 1, 101_00, symbol=PERP),
        sell(BOB, "b1", 1, 99_00, symbol=PERP),  # trades at 101.00: no trigger
        sell(ALICE, "a2", 1, 99_00, symbol=PERP),  # rests as the only ask
    ]
    for i, cmd in enumerate(steps):
        engine.apply(cmd, T0 + i)
        check_engine(engine)
    # Carol lifts the 99.00 ask (last 99.00 triggers Bob's stop), and Bob's stop sells 7 into
    # the rest of her bid at 100.75 before resting 1 at 99.00.
    events = engine.apply(buy(CAROL, "c1", 8, 100_75, symbol=PERP), T0 + 10)
    check_engine(engine)
    return events


def test_stop_limit_sell_when_it_fills_above_its_limit_tops_up_the_rest() -> None:
    engine = make_engine(instruments=INSTRUMENTS)
    events = _trigger_into_higher_bid(engine)
    assert any(isinstance(ev, e.StopTriggered) for ev in events)

    fill = engine.apply(buy(ALICE, "a3", 1, 101_00, symbol=PERP), T0 + 11)

    check_engine(engine)
    [trade] = [ev for ev in fill if isinstance(ev, e.Trade)]
    assert (trade.maker_client_order_id, trade.price, trade.qty) == ("stop", 99_00, 1)


def test_rest_when_the_top_up_is_unaffordable_is_canceled_for_insufficient_funds() -> None:
    # Bob has just what the stop and his first sell hold, so the rest cannot be topped up.
    engine = make_engine(instruments=INSTRUMENTS, accounts=(ALICE, CAROL))
    engine.apply(c.Deposit(account=BOB, asset=USD, amount=80_79 + 10_31), T0 - 1)

    events = _trigger_into_higher_bid(engine)

    [canceled] = [ev for ev in events if isinstance(ev, e.OrderCanceled)
                  and ev.client_order_id == "stop"]
    assert (canceled.reason, canceled.remaining_qty) == ("insufficient_funds", 1)
    assert engine.open_orders.get(BOB, {}) == {}
