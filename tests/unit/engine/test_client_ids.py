"""The client order id register across a snapshot: restore keeps the ids, their retention
window and the finished orders still inside it, so the restored engine frees each id at the
same engine time as the original."""

from __future__ import annotations

from tests.kit.factories import ALICE, DAY_NS, T0, buy, cancel, configure, make_engine
from tradehall.engine.state import capture, encode_state, restore, state_hash
from tradehall.kernel.ids import ClientOrderId
from tradehall.trading import events as e


def test_restore_when_ids_are_retired_keeps_register_window_and_expiry() -> None:
    # Arrange: a1 done at T0 + 1, a2 still open, a 2-day window.
    engine = make_engine()
    engine.apply(configure(2 * DAY_NS), T0)
    engine.apply(buy(ALICE, "a1", 1, 99_00), T0)
    engine.apply(cancel(ALICE, "a1"), T0 + 1)
    engine.apply(buy(ALICE, "a2", 1, 99_00), T0 + 2)
    # Act
    restored = restore(encode_state(engine))
    # Assert
    assert state_hash(restored) == state_hash(engine)
    assert capture(restored).client_id_retention_ns == 2 * DAY_NS
    inside = T0 + 1 + 2 * DAY_NS - 1
    for eng in (engine, restored):
        events = eng.apply(buy(ALICE, "a1", 1, 99_00), inside)
        assert [type(ev) for ev in events] == [e.OrderDuplicate]
        events = eng.apply(buy(ALICE, "a1", 5, 99_00), inside + 1)
        assert [type(ev) for ev in events] == [e.OrderAccepted]
    assert state_hash(restored) == state_hash(engine)


def test_register_when_ids_expire_keeps_only_open_and_recent_orders() -> None:
    # Arrange
    engine = make_engine()
    for i in range(100):
        engine.apply(buy(ALICE, f"x{i}", 1, 99_00), T0 + i)
        engine.apply(cancel(ALICE, f"x{i}"), T0 + i)
    engine.apply(buy(ALICE, "open", 1, 99_00), T0 + 100)
    # Act: a day after the 50th was done
    engine.apply(buy(ALICE, "late", 1, 99_00), T0 + 50 + DAY_NS)
    # Assert: x0..x50 were freed, x51..x99 are kept, open orders always
    kept = set(engine.client_ids[ALICE])
    assert kept == {ClientOrderId(f"x{i}") for i in range(51, 100)} | {
        ClientOrderId("open"), ClientOrderId("late")}
    assert len(engine.retired) == 49
