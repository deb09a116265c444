"""`ClientIdRegister` answers like a dict before and after it splits into parts, and an engine
whose register split keeps every id across a snapshot and frees them on time."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.kit.factories import ALICE, DAY_NS, T0, buy, cancel, configure, make_engine
from tradehall.engine.orders import ClientIdRegister
from tradehall.engine.register import Registered
from tradehall.engine.state import encode_state, restore, state_hash
from tradehall.kernel.ids import ClientOrderId, OrderId
from tradehall.trading import events as e

SPLIT = 1 << 14  # orders.py: ids before a register splits
_OPS = st.lists(st.tuples(st.sampled_from(["add", "discard", "discard-other"]),
                          st.integers(0, 40_000)), max_size=300)


def _entry(n: int) -> Registered:
    return Registered(buy(ALICE, f"c{n}", 1, 100_00), OrderId(n))


def _cid(n: int) -> ClientOrderId:
    return ClientOrderId(f"c{n}")


@settings(max_examples=25, deadline=None)
@given(prefill=st.sampled_from([0, 100, SPLIT, SPLIT + 1, 30_000]), ops=_OPS)
def test_register_when_added_to_and_freed_answers_like_a_dict(
        prefill: int, ops: list[tuple[str, int]]) -> None:
    # Arrange
    register, model = ClientIdRegister(), dict[ClientOrderId, Registered]()
    for n in range(prefill):
        register.add(_cid(n), _entry(n))
        model[_cid(n)] = _entry(n)
    # Act
    for op, n in ops:
        if op == "add":
            register.add(_cid(n), _entry(n))
            model[_cid(n)] = _entry(n)
        else:
            # discard frees an id only while it names that order (pruning an old order)
            order_id = n if op == "discard" else n + 1
            register.discard(_cid(n), order_id)
            if _cid(n) in model and model[_cid(n)].order_id == order_id:
                del model[_cid(n)]
    # Assert
    assert len(register) == len(model)
    assert dict(register.items()) == model
    assert set(register) == set(model)
    for n in {n for _, n in ops} | {0, prefill}:
        assert register.get(_cid(n)) == model.get(_cid(n))
        assert (_cid(n) in register) == (_cid(n) in model)
    assert 42 not in register


def test_engine_with_a_split_register_keeps_ids_across_a_snapshot_and_frees_them_on_time(
        ) -> None:
    # Arrange: more orders of one account than a register holds before it splits.
    engine = make_engine()
    engine.apply(configure(DAY_NS), T0)
    count = SPLIT + 50
    for n in range(count):
        engine.apply(buy(ALICE, f"o{n}", 1, 1_00), T0 + n)
        engine.apply(cancel(ALICE, f"o{n}"), T0 + n)
    # Act
    restored = restore(encode_state(engine))
    # Assert: the same state; an id inside the window is taken, one past it is free again.
    assert state_hash(restored) == state_hash(engine)
    for eng in (engine, restored):
        assert len(eng.client_ids[ALICE]) == count
        late = T0 + DAY_NS + 10  # o{n} was done at T0 + n: o0..o10 are out of the window
        taken = eng.apply(buy(ALICE, f"o{count - 1}", 1, 1_00), late)
        assert [type(ev) for ev in taken] == [e.OrderDuplicate]
        freed = eng.apply(buy(ALICE, "o3", 2, 1_00), late + 1)
        assert [type(ev) for ev in freed] == [e.OrderAccepted]
        assert len(eng.client_ids[ALICE]) == count - 12 + 1  # o0..o11 freed, o3 again
