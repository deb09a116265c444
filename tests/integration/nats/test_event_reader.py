"""Reading the events stream on a real NATS server: start positions by binary search, each
engine seq delivered once (straddling batches trimmed), and reading on across a restart."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.nats.stream_kit import (
    append_batch,
    append_market,
    batch,
    eventually,
    open_link,
    seqs,
)
from tests.kit import nats as nats_kit
from tests.kit.nats import NatsServer
from tradehall.adapters.nats.events import (
    EventReader,
    SeqFilter,
    fetch_result,
    find_start,
    latest_market,
)
from tradehall.service.messages import EventBatch

pytestmark = pytest.mark.nats
nats_server = nats_kit.nats_server


async def _read(reader: EventReader, count: int, timeout_s: float = 15.0) -> list[EventBatch]:
    """The next batches of a reader until `count` results came, within the timeout."""
    got: list[EventBatch] = []

    async def take() -> None:
        async for item in reader:
            got.append(item)
            if len(seqs(got)) >= count:
                return

    await asyncio.wait_for(take(), timeout_s)
    return got


async def test_find_start_when_snapshots_interleave_returns_first_batch_past_seq(
        nats_server: NatsServer) -> None:
    # Arrange: 100 batches of 3 results, a market snapshot after every 7th
    async with open_link(nats_server) as link:
        js, topo = link.js, link.topology
        positions: dict[int, int] = {}  # last seq -> stream position
        for i in range(100):
            first = 3 * i + 1
            positions[first + 2] = await append_batch(js, topo, first, first + 2)
            if i % 7 == 6:
                await append_market(js, topo, first + 2)
        end = (await js.stream_info(topo.events_stream)).state.last_seq

        for after in (0, 1, 2, 3, 4, 150, 151, 298, 299, 300, 5_000):
            # Act
            position = await find_start(js, topo, after)

            # Assert: the first batch at or after it is the first one past `after`
            expected = min((last for last in positions if last > after), default=None)
            if expected is None:
                assert position == end + 1, after
                continue
            assert position <= positions[expected], after
            earlier = [p for last, p in positions.items() if last <= after]
            assert not earlier or position > max(earlier), after


async def test_find_start_when_stream_is_empty_returns_its_first_position(
        nats_server: NatsServer) -> None:
    async with open_link(nats_server) as link:
        assert await find_start(link.js, link.topology, 10) == 1


async def test_reader_when_a_batch_straddles_the_last_seq_trims_it(
        nats_server: NatsServer) -> None:
    # Arrange: a new leader publishes 4 and 5 again, then goes on
    async with open_link(nats_server) as link:
        js, topo = link.js, link.topology
        await append_batch(js, topo, 1, 5)
        await append_batch(js, topo, 4, 8)
        await append_batch(js, topo, 7, 8)  # wholly repeated: dropped
        await append_batch(js, topo, 9, 9)
        reader = EventReader(link, after_seq=0)

        # Act
        got = await _read(reader, 9)
        reader.close()

        # Assert
        assert seqs(got) == list(range(1, 10))
        assert [(b.first_seq, b.last_seq) for b in got] == [(1, 5), (6, 8), (9, 9)]


async def test_reader_when_started_after_a_seq_inside_a_batch_delivers_only_later_results(
        nats_server: NatsServer) -> None:
    async with open_link(nats_server) as link:
        js, topo = link.js, link.topology
        for first in range(1, 60, 4):
            await append_batch(js, topo, first, first + 3)
        reader = EventReader(link, after_seq=30)

        got = await _read(reader, 60 - 30)
        reader.close()

        assert seqs(got) == list(range(31, 61))
        assert reader.subscriptions == 1


async def test_reader_when_nats_restarts_reads_on_without_gap_or_repeat(
        nats_server: NatsServer) -> None:
    # Arrange: a reader that has read 1..10
    async with open_link(nats_server) as link:
        js, topo = link.js, link.topology
        for first in (1, 6):
            await append_batch(js, topo, first, first + 4)
        reader = EventReader(link, after_seq=0)
        got: list[EventBatch] = []

        async def consume() -> None:
            async for item in reader:
                got.append(item)

        task = asyncio.create_task(consume())
        await eventually(lambda: len(seqs(got)) == 10, what="the first ten results")

        # Act: the server goes away and comes back (same store), then more batches arrive
        nats_server.stop()
        await eventually(lambda: not link.connected, what="the disconnect")
        nats_server.start()
        await eventually(lambda: link.connected, what="the reconnect")
        for first in (11, 16):
            await append_batch(link.js, topo, first, first + 4)
        await eventually(lambda: len(seqs(got)) >= 20, what="the results after the restart")
        reader.close()
        await asyncio.wait_for(task, 5)

        # Assert
        assert seqs(got) == list(range(1, 21))
        assert reader.subscriptions >= 2  # it had to subscribe again


async def test_latest_market_and_fetch_result_read_single_messages(
        nats_server: NatsServer) -> None:
    async with open_link(nats_server) as link:
        js, topo = link.js, link.topology
        assert await latest_market(js, topo) is None
        await append_batch(js, topo, 1, 10)
        await append_market(js, topo, 10)
        await append_batch(js, topo, 11, 20)
        position = await append_market(js, topo, 20)

        market = await latest_market(js, topo)
        found = await fetch_result(js, topo, 14)
        missing = await fetch_result(js, topo, 21)

        assert market is not None
        assert market[0] == position
        assert market[1].engine_seq == 20
        assert found is not None
        assert found.seq == 14
        assert missing is None


def test_seq_filter_when_a_batch_has_no_results_passes_it_unless_older() -> None:
    # Arrange
    filter_ = SeqFilter(after_seq=5)
    books_only = EventBatch(first_seq=5, last_seq=5, results=[], books=[], balances=[])
    stale = EventBatch(first_seq=4, last_seq=4, results=[], books=[], balances=[])

    # Act / Assert
    assert filter_.accept(books_only) is books_only
    assert filter_.accept(stale) is None
    assert filter_.accept(batch(3, 5)) is None
    trimmed = filter_.accept(batch(4, 7))
    assert trimmed is not None
    assert seqs([trimmed]) == [6, 7]
    assert trimmed.first_seq == 6
    assert filter_.last_seq == 7
