"""`apply_batch` is `apply` in a loop: the same events per command and the same final state."""

from __future__ import annotations

from hypothesis import given, settings

from tests.kit.factories import make_engine
from tests.kit.streams import STREAM_INSTRUMENTS, Stream, StreamConfig, command_streams
from tradehall.engine.book import OrderBook
from tradehall.engine.matcher import MatchingEngine
from tradehall.engine.state import state_hash

CONFIG = StreamConfig()


def _fresh() -> MatchingEngine:
    return make_engine(OrderBook, instruments=STREAM_INSTRUMENTS, accounts=CONFIG.accounts,
                       deposits=CONFIG.deposits)


@settings(max_examples=60, deadline=None)
@given(stream=command_streams(CONFIG))
def test_apply_batch_equals_apply_one_by_one(stream: Stream) -> None:
    single, batched = _fresh(), _fresh()
    expected = [single.apply(command, ts) for ts, command in stream]
    pairs = [(command, ts) for ts, command in stream]
    got = batched.apply_batch(pairs[:7]) + batched.apply_batch(pairs[7:])
    assert got == expected
    assert state_hash(batched) == state_hash(single)


def test_empty_batch_changes_nothing() -> None:
    engine = _fresh()
    before = state_hash(engine)
    assert engine.apply_batch([]) == []
    assert state_hash(engine) == before
