"""Depth deltas: applying every update reproduces the engine's top of book exactly."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tradehall.engine.queries import LevelView
from tradehall.kernel.ids import Symbol
from tradehall.marketdata.depth import DepthTracker, apply_update

SYM = Symbol("ABC-USD")
levels = st.dictionaries(st.integers(1, 40), st.tuples(st.integers(1, 9), st.integers(1, 3)),
                         max_size=12)


def _view(side: dict[int, tuple[int, int]], best_high: bool, depth: int) -> list[LevelView]:
    prices = sorted(side, reverse=best_high)[:depth]
    return [LevelView(p, side[p][0], side[p][1]) for p in prices]


def test_update_when_nothing_changed_returns_none_and_keeps_the_seq() -> None:
    tracker = DepthTracker(5)
    first = tracker.update(SYM, [LevelView(10, 1, 1)], [], 1, 0)
    assert first is not None
    assert first.seq == 1

    assert tracker.update(SYM, [LevelView(10, 1, 1)], [], 2, 0) is None
    second = tracker.update(SYM, [], [], 3, 0)

    assert second is not None
    assert second.seq == 2
    assert second.bids == [LevelView(10, 0, 0)]


def test_update_when_first_seen_and_empty_still_publishes_a_snapshot() -> None:
    update = DepthTracker(5).update(SYM, [], [], 1, 0)
    assert update is not None
    assert (update.seq, update.bids, update.asks) == (1, [], [])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(levels, levels), min_size=1, max_size=20), st.integers(1, 6))
def test_apply_update_when_replaying_every_delta_equals_the_last_view(
        states: list[tuple[dict[int, tuple[int, int]], dict[int, tuple[int, int]]]],
        depth: int) -> None:
    tracker = DepthTracker(depth)
    bids: dict[int, LevelView] = {}
    asks: dict[int, LevelView] = {}
    last_seq = 0
    for n, (bid_side, ask_side) in enumerate(states):
        update = tracker.update(SYM, _view(bid_side, True, depth), _view(ask_side, False, depth),
                                n, n)
        if update is None:
            continue
        assert update.seq == last_seq + 1
        last_seq = update.seq
        apply_update(bids, asks, update)
        assert sorted(bids.values(), key=lambda lv: -lv.price) == _view(bid_side, True, depth)
        assert sorted(asks.values(), key=lambda lv: lv.price) == _view(ask_side, False, depth)
