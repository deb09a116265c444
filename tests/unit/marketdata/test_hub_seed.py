"""A hub that starts mid-stream from a published market snapshot (a late API process or
gateway in scale-out) shows the same books as the engine from then on, as one that saw every
batch does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.kit.factories import T0, make_engine
from tests.kit.streams import STREAM_INSTRUMENTS, Stream, StreamConfig, command_streams
from tradehall.engine import queries
from tradehall.marketdata.depth import DepthTracker
from tradehall.marketdata.hub import MarketDataConfig, MarketDataHub
from tradehall.service.messages import BookUpdate, CommandResult, EventBatch

DEPTH = 3
STREAMS = command_streams(StreamConfig())


@settings(max_examples=40)
@given(stream=STREAMS, batch=st.integers(1, 40), seed_pct=st.integers(0, 99))
def test_hub_when_seeded_from_a_snapshot_mid_stream_follows_the_engine_depth(
        stream: Stream, batch: int, seed_pct: int) -> None:
    # Arrange: the engine and its published depth, batch after batch
    engine = make_engine(instruments=STREAM_INSTRUMENTS)
    tracker = DepthTracker(DEPTH)
    symbols = [spec.symbol for spec in STREAM_INSTRUMENTS]
    late: MarketDataHub | None = None
    seq = 0
    for start in range(0, len(stream), batch):
        results = []
        for ts, command in stream[start:start + batch]:
            seq += 1
            results.append(CommandResult(seq, ts, engine.apply(command, ts)))
        ts_last = results[-1].ts_ns if results else T0
        books: list[BookUpdate] = []
        for symbol in symbols:
            bids, asks = queries.book_depth(engine, symbol, DEPTH)
            update = tracker.update(symbol, bids, asks, seq, ts_last)
            if update is not None:
                books.append(update)
        published = EventBatch(first_seq=results[0].seq, last_seq=seq, results=results,
                               books=books, balances=[])

        # Act: a hub starts from the snapshot after this batch, then takes the later ones
        if late is not None:
            late.apply(published)
        elif start >= (len(stream) * seed_pct // 100) // batch * batch:  # a batch's start
            late = MarketDataHub(MarketDataConfig(book_depth=DEPTH))
            late.seed(tracker.snapshot(seq, ts_last))

        # Assert
        if late is not None:
            assert late.last_seq == seq
            for symbol in symbols:
                bids, asks = queries.book_depth(engine, symbol, DEPTH)
                view = late.book(symbol)
                assert (view.bids, view.asks) == (bids, asks)
            numbered = {b.symbol: b.seq for b in tracker.snapshot(seq, ts_last).books}
            assert {s: late.book(s).seq for s in numbered} == numbered
    assert late is not None or not stream
