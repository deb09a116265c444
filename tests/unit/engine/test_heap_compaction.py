"""The expiry and stop heaps drop the entries of finished orders once those are most of them,
so neither grows with canceled orders, and the live orders still expire and trigger exactly as
an engine restored from a snapshot (whose heaps hold live orders only) has them do."""

from __future__ import annotations

from tests.kit.factories import (
    ALICE,
    BOB,
    CAROL,
    NEXT_DAY,
    SPOT,
    T0,
    advance_time,
    buy,
    cancel,
    make_engine,
    sell,
)
from tradehall.engine.matcher import MatchingEngine
from tradehall.engine.settlement import COMPACT_MIN
from tradehall.engine.state import encode_state, restore, state_hash
from tradehall.trading import events as e
from tradehall.trading.model import TimeInForce

CHURN = 3 * COMPACT_MIN  # orders placed and canceled at once


def _twin(engine: MatchingEngine) -> MatchingEngine:
    twin = restore(encode_state(engine))
    assert state_hash(twin) == state_hash(engine)
    return twin


def test_expiry_heap_when_day_orders_are_canceled_stays_bounded_and_expires_the_live_ones(
        ) -> None:
    # Arrange: five live DAY orders among many canceled ones.
    engine = make_engine()
    ts = T0
    for n in range(5):
        engine.apply(buy(ALICE, f"live{n}", 1, 90_00 - n, tif=TimeInForce.DAY), ts)
    for n in range(CHURN):
        ts += 1
        engine.apply(buy(ALICE, f"gone{n}", 1, 80_00, tif=TimeInForce.DAY), ts)
        engine.apply(cancel(ALICE, f"gone{n}"), ts)
    # Act
    twin = _twin(engine)
    expired = engine.apply(advance_time(), NEXT_DAY)
    # Assert
    assert len(engine.expiry) == 0
    assert [ev.client_order_id for ev in expired if isinstance(ev, e.OrderExpired)] == [
        f"live{n}" for n in range(5)]
    assert expired == twin.apply(advance_time(), NEXT_DAY)


def test_expiry_heap_when_day_orders_churn_never_holds_many_more_than_the_live_orders(
        ) -> None:
    # Arrange
    engine = make_engine()
    most = 0
    # Act
    for n in range(CHURN):
        engine.apply(buy(ALICE, f"gone{n}", 1, 80_00, tif=TimeInForce.DAY), T0 + n)
        engine.apply(cancel(ALICE, f"gone{n}"), T0 + n)
        most = max(most, len(engine.expiry))
    # Assert
    assert most <= COMPACT_MIN + 1


def test_stop_heaps_when_stops_are_canceled_stay_bounded_and_trigger_the_live_ones() -> None:
    # Arrange: five live buy stops below many canceled ones, then a trade that reaches them.
    engine = make_engine()
    ts = T0
    for n in range(5):
        engine.apply(buy(ALICE, f"live{n}", 1, stop=120_00 + n), ts)
    most = 0
    for n in range(CHURN):
        ts += 1
        engine.apply(buy(ALICE, f"gone{n}", 1, stop=150_00), ts)
        engine.apply(cancel(ALICE, f"gone{n}"), ts)
        most = max(most, sum(len(heap) for heap in engine.markets[SPOT].stops))
    twin = _twin(engine)
    trade = [sell(BOB, "ask", 1, 125_00), buy(CAROL, "lift", 1, 125_00)]
    # Act
    events = [ev for cmd in trade for ev in engine.apply(cmd, ts + 1)]
    # Assert
    assert most <= COMPACT_MIN + 1
    triggered = [ev.client_order_id for ev in events if isinstance(ev, e.StopTriggered)]
    assert triggered == [f"live{n}" for n in range(5)]
    assert events == [ev for cmd in trade for ev in twin.apply(cmd, ts + 1)]
    assert state_hash(engine) == state_hash(twin)
