"""The expiry and stop heaps drop the entries of finished orders once those are most of them,
so neither grows with canceled orders, and the live orders still expire and trigger exactly as
an engine restored from a snapshot (whose heaps hold live orders only) has them do."""

from __future__ import annotations

import random

from tests.kit.factories import (
    ABC,
    ALICE,
    BOB,
    CAROL,
    DAVE,
    NEXT_DAY,
    SPOT,
    T0,
    USD,
    advance_time,
    buy,
    cancel,
    make_engine,
    sell,
)
from tradehall.engine.matcher import MatchingEngine
from tradehall.engine.settlement import COMPACT_MIN
from tradehall.engine.state import encode_state, restore, state_hash
from tradehall.kernel.ids import AccountId
from tradehall.trading import commands as c
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


def test_long_stream_of_day_orders_stops_and_cancels_gives_the_events_of_fresh_heaps() -> None:
    # Arrange: a seeded stream that keeps both kinds of heap past the compaction threshold
    # (about as many cancels as orders), moves the price through some stops and crosses
    # midnight. The twin is restored from a snapshot every 500 commands, so its heaps never
    # hold a finished order's entry: the events must not tell the two apart.
    rng = random.Random(7)
    engine = make_engine(deposits={USD: 10**13, ABC: 10**7})
    twin = _twin(engine)
    accounts = (ALICE, BOB, CAROL, DAVE)
    placed: list[tuple[AccountId, str]] = []
    ts = T0
    compacted = {"expiry": 0, "stops": 0}
    for n in range(20_000):
        ts += 3 * 1_000_000_000  # 3 s: the stream crosses midnight once
        who = rng.choice(accounts)
        roll = rng.random()
        cid = f"o{n}"
        cmd: c.EngineCommand
        if roll < 0.25 or not placed:
            tif = TimeInForce.DAY if rng.random() < 0.7 else TimeInForce.GTC
            price = 100_00 + rng.randint(-40, 40)
            if rng.random() < 0.5:
                cmd = buy(who, cid, rng.randint(1, 3), price - 50, tif=tif)
            else:
                cmd = sell(who, cid, rng.randint(1, 3), price + 50, tif=tif)
            placed.append((who, cid))
        elif roll < 0.5:
            distance = rng.randint(20, 120)
            if rng.random() < 0.5:
                cmd = buy(who, cid, 1, stop=100_00 + distance)
            else:
                cmd = sell(who, cid, 1, stop=100_00 - distance)
            placed.append((who, cid))
        elif roll < 0.98:
            owner, old = placed.pop(rng.randrange(len(placed)))
            cmd = cancel(owner, old)
        else:  # a crossing order moves the last price and reaches the nearer stops
            price = 100_00 + rng.randint(-40, 40)
            cmd = (buy if rng.random() < 0.5 else sell)(who, cid, rng.randint(1, 4), price,
                                                        tif=TimeInForce.IOC)
        if engine.heaps_due:  # what compact_heaps will find over its threshold
            limit = max(COMPACT_MIN, 2 * len(engine.orders_by_id))
            compacted["expiry"] += len(engine.expiry) > limit
            compacted["stops"] += any(len(heap) > limit for heap in engine.markets[SPOT].stops)
        # Act
        got = engine.apply(cmd, ts)
        # Assert
        assert got == twin.apply(cmd, ts), f"command {n}: {cmd}"
        if n % 500 == 499:
            assert state_hash(engine) == state_hash(twin)
            twin = _twin(twin)
    assert compacted["expiry"] >= 2, compacted
    assert compacted["stops"] >= 2, compacted
