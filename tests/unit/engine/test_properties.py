"""Property tests of the matching engine over random command streams.

Each stream runs on three fresh engines: the fast book, the reference book and a second
fast book. After every command: the three produce identical events (fast book == oracle,
and determinism); the ledger balances with no user bucket negative; every balance's held
amount is what its live orders hold plus its positions' margin; no order is overfilled and
trade leaves agree with the fills; the insurance fund holds exactly what the events put in
and took out and never goes negative; books are strictly ordered, uncrossed, with level totals
equal to their orders' leaves; a command refused outright changes no state.
"""

from __future__ import annotations

import msgspec
from hypothesis import event, given, settings
from hypothesis import strategies as st

from tests.kit.factories import ABC, ALICE, BOB, SPOT, USD, make_engine
from tests.kit.invariants import check_engine
from tests.kit.scenario import describe
from tests.kit.streams import (
    LEVERAGED,
    LEVERAGED_INSTRUMENT,
    STREAM_INSTRUMENTS,
    FillTracker,
    FundTracker,
    Stream,
    StreamConfig,
    command_streams,
)
from tradehall.engine.book import OrderBook
from tradehall.engine.matcher import MatchingEngine
from tradehall.engine.reference_book import ReferenceBook
from tradehall.engine.state import capture, encode_state, restore, state_hash
from tradehall.trading import events as e

REFUSALS = (e.OrderRejected, e.CommandRejected, e.OrderDuplicate)
GENERAL = StreamConfig()
# One spot book, two accounts, a five-tick grid: self-trades, crossings and amends galore.
DENSE = StreamConfig(accounts=(ALICE, BOB), symbols=(SPOT,),
                     prices=tuple(range(99_50, 100_51, 25)), max_qty=5, max_commands=100)
# Funds for two or three orders each and more market orders: holds, clipping, FOK checks
# and refusals for lack of funds.
TIGHT = StreamConfig(deposits={USD: 300_00, ABC: 6}, extra_kinds=["market"] * 4)
# The 1% margin book, a wide price grid and little cash: losses outgrow what accounts have,
# so shortfalls come up, and the insurance fund's deposits, fees and cover with them.
LEVERAGED_CONFIG = StreamConfig(symbols=(LEVERAGED,), prices=tuple(range(96_00, 104_01, 50)),
                                deposits={USD: 20_00, ABC: 0},
                                extra_kinds=["market"] * 4 + ["deposit"] * 2)
INSTRUMENTS = (*STREAM_INSTRUMENTS, LEVERAGED_INSTRUMENT)


def _engines(config: StreamConfig) -> tuple[MatchingEngine, MatchingEngine, MatchingEngine]:
    def new(book: type[OrderBook] | type[ReferenceBook]) -> MatchingEngine:
        return make_engine(book, instruments=INSTRUMENTS, accounts=config.accounts,
                           deposits=config.deposits)

    return new(OrderBook), new(ReferenceBook), new(OrderBook)


def run_stream(stream: Stream, config: StreamConfig) -> MatchingEngine:
    """Run a stream on three engines, checking every invariant after every command."""
    fast, reference, twin = _engines(config)
    tracker = FillTracker()
    fund = FundTracker({spec.symbol: spec.quote for spec in INSTRUMENTS})
    liquidations = 0
    for step, (ts, command) in enumerate(stream):
        # Time passing frees retired client order ids before the command is looked at, so a
        # refusal is compared with the state after that.
        fast.prune_client_ids(max(ts, fast.now_ns))
        before = capture(fast)
        events = fast.apply(command, ts)
        where = f"step {step}: {command}\n{describe(events)}"
        assert reference.apply(command, ts) == events, f"reference book differs at {where}"
        assert twin.apply(command, ts) == events, f"second run differs at {where}"
        tracker.observe(events)
        fund.observe(events)
        liquidations += sum(isinstance(ev, e.LiquidationTriggered) for ev in events)
        tracker.check_engine(fast)
        fund.check_engine(fast)
        check_engine(fast)
        check_engine(reference)
        if len(events) == 1 and isinstance(events[0], REFUSALS):
            after = msgspec.structs.replace(capture(fast), now_ns=before.now_ns)
            assert after == before, f"refusal changed state at {where}"
    assert capture(reference) == capture(fast)
    assert state_hash(twin) == state_hash(fast)
    trades = len(tracker.filled) and sum(tracker.filled.values()) // 2
    event(f"lots traded: {'0' if not trades else '1-9' if trades < 10 else '10+'}")
    event(f"liquidations: {'0' if not liquidations else '1+'}")
    event(f"liquidation fees charged: {'0' if not fund.fees else '1+'}")
    event(f"loss shortfalls: {'0' if not fund.shortfalls else '1+'}")
    return fast


@settings(max_examples=200)
@given(command_streams(GENERAL))
def test_engine_when_fed_random_streams_keeps_every_invariant(stream: Stream) -> None:
    run_stream(stream, GENERAL)


@settings(max_examples=150)
@given(command_streams(DENSE))
def test_engine_when_fed_dense_single_book_streams_keeps_every_invariant(
        stream: Stream) -> None:
    run_stream(stream, DENSE)


@settings(max_examples=150)
@given(command_streams(TIGHT))
def test_engine_when_funds_are_tight_keeps_every_invariant(stream: Stream) -> None:
    run_stream(stream, TIGHT)


@settings(max_examples=150)
@given(command_streams(LEVERAGED_CONFIG))
def test_engine_when_leverage_is_high_and_cash_short_keeps_every_invariant(
        stream: Stream) -> None:
    run_stream(stream, LEVERAGED_CONFIG)


@settings(max_examples=30)
@given(st.lists(command_streams(GENERAL), min_size=2, max_size=2))
def test_engine_when_streams_are_concatenated_keeps_every_invariant(
        streams: list[Stream]) -> None:
    # The second stream restarts its clock and client ids: replays, duplicates, stale time.
    run_stream(streams[0] + streams[1], GENERAL)


@settings(max_examples=60)
@given(command_streams(GENERAL), st.integers(min_value=0, max_value=80),
       st.sampled_from([OrderBook, ReferenceBook]))
def test_engine_when_restored_from_a_snapshot_mid_stream_continues_identically(
        stream: Stream, cut: int, book: type[OrderBook] | type[ReferenceBook]) -> None:
    # Arrange
    original, resumed = _engines(GENERAL)[0], _engines(GENERAL)[0]
    head, tail = stream[:cut], stream[cut:]
    for ts, command in head:
        original.apply(command, ts)
        resumed.apply(command, ts)
    # Act
    restored = restore(encode_state(resumed), book)
    # Assert
    assert state_hash(restored) == state_hash(original)
    for step, (ts, command) in enumerate(tail, start=cut):
        events = original.apply(command, ts)
        assert restored.apply(command, ts) == events, f"restored engine differs at {step}"
        check_engine(restored)
    assert state_hash(restored) == state_hash(original)
