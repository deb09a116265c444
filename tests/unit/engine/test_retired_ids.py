"""`RetiredIds` keeps finished orders first in, first out, across its chunk boundaries."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradehall.engine.settlement import Retired, RetiredIds
from tradehall.kernel.ids import AccountId, ClientOrderId, OrderId

# Runs of appends and pops; runs long enough to cross the 1,024-entry chunks and to cut spent
# chunks off, short ones to empty the structure and refill it.
_RUNS = st.lists(st.tuples(st.booleans(), st.integers(0, 2_500)), max_size=12)


def _entry(n: int) -> Retired:
    return (1_000_000_000 * n, AccountId(f"acct-{n % 7}"), ClientOrderId(f"c{n}"), OrderId(n))


@settings(max_examples=60, deadline=None)
@given(runs=_RUNS)
def test_retired_ids_when_appended_and_popped_behave_as_a_fifo(
        runs: list[tuple[bool, int]]) -> None:
    # Arrange
    retired, model = RetiredIds(), deque[Retired]()
    made = 0
    for is_append, count in runs:
        # Act
        if is_append:
            for _ in range(count):
                entry = _entry(made)
                made += 1
                retired.append(*entry)
                model.append(entry)
        else:
            for _ in range(min(count, len(model))):
                assert retired.popleft() == model.popleft()
        # Assert
        assert len(retired) == len(model)
        assert list(retired) == list(model)
        assert retired.first_done_ns() == (model[0][0] if model else -1)


def test_retired_ids_when_empty_refuse_to_pop_and_have_no_first() -> None:
    # Arrange
    retired = RetiredIds()
    retired.append(*_entry(1))
    retired.popleft()
    # Act / Assert
    assert retired.first_done_ns() == -1
    assert not retired
    with pytest.raises(IndexError):
        retired.popleft()


def test_retired_ids_when_many_chunks_are_spent_still_keep_the_rest_in_order() -> None:
    # Arrange: more than the cut threshold of spent chunks, then a partly read chunk.
    retired = RetiredIds()
    total = 100 * 1_024 + 17
    for n in range(total):
        retired.append(*_entry(n))
    # Act
    for n in range(total - 5):
        assert retired.popleft() == _entry(n)
    # Assert
    assert list(retired) == [_entry(n) for n in range(total - 5, total)]
    assert retired.first_done_ns() == _entry(total - 5)[0]
