"""Read-model queries: order filters and paging, fill paging, candles' range, wait_for, and the
projector consuming a real in-process subscription."""

from __future__ import annotations

import asyncio

from tests.integration.sql.feed import BatchFeed, Timed, setup_commands
from tests.kit.factories import ALICE, BOB, PERP, SPOT, T0, buy, cancel, sell
from tradehall.adapters.inproc.bus import InprocEventBus
from tradehall.adapters.sql import SqlDatabase
from tradehall.kernel.ids import Symbol
from tradehall.trading import commands as c

STEP = 1_000_000


def _book_building() -> list[Timed]:
    """Alice rests 8 spot bids and 2 margin bids, cancels 3; Bob sells into 2 of them."""
    commands: list[c.EngineCommand] = [buy(ALICE, f"s{i}", 1, 99_00 + i) for i in range(8)]
    commands += [buy(ALICE, f"p{i}", 1, 99_00, symbol=PERP) for i in range(2)]
    commands += [cancel(ALICE, "s0"), cancel(ALICE, "s1"), cancel(ALICE, "p0")]
    commands += [sell(BOB, "x1", 1, 99_07), sell(BOB, "x2", 1, 99_06)]
    return setup_commands((ALICE, BOB)) + [(T0 + (i + 1) * STEP, cmd)
                                           for i, cmd in enumerate(commands)]


async def _projected(database: SqlDatabase) -> BatchFeed:
    feed = BatchFeed()
    await database.projector(None).apply(feed.batches(_book_building(), 5))
    return feed


async def test_list_orders_when_filtered_by_status_and_symbol_returns_matching(
        database: SqlDatabase) -> None:
    await _projected(database)
    rm = database.read_model
    open_ = await rm.list_orders(ALICE)
    closed = await rm.list_orders(ALICE, status="closed")
    every = await rm.list_orders(ALICE, status="all")
    assert [o.client_order_id for o in open_] == ["p1", "s5", "s4", "s3", "s2"]
    assert {o.client_order_id for o in closed} == {"s0", "s1", "p0", "s7", "s6"}
    assert len(every) == 10
    spot_only = await rm.list_orders(ALICE, status="all", symbols=[Symbol(SPOT)])
    assert {o.symbol for o in spot_only} == {SPOT}
    assert len(spot_only) == 8
    assert await rm.list_orders(BOB, status="open") == []


async def test_list_orders_when_paged_by_time_returns_each_order_once(
        database: SqlDatabase) -> None:
    # Arrange
    await _projected(database)
    rm = database.read_model

    # Act: pages of 3, oldest first, then newest first
    ascending: list[str] = []
    after: int | None = None
    while page := await rm.list_orders(ALICE, status="all", limit=3, direction="asc",
                                       after_ns=after):
        ascending += [o.client_order_id for o in page]
        after = page[-1].created_ns
    descending: list[str] = []
    until: int | None = None
    while page := await rm.list_orders(ALICE, status="all", limit=4, until_ns=until):
        descending += [o.client_order_id for o in page]
        until = page[-1].created_ns

    # Assert
    assert ascending == [f"s{i}" for i in range(8)] + ["p0", "p1"]
    assert descending == list(reversed(ascending))


async def test_list_fills_when_paged_by_seq_returns_newest_first(database: SqlDatabase) -> None:
    # Arrange
    await _projected(database)
    rm = database.read_model

    # Act
    first = await rm.list_fills(ALICE, limit=1)
    second = await rm.list_fills(ALICE, limit=1, before_seq=first[0].seq)
    rest = await rm.list_fills(ALICE, before_seq=second[0].seq)

    # Assert
    assert [f.client_order_id for f in first + second] == ["s6", "s7"]
    assert rest == []
    assert all(f.liquidity == "maker" for f in first + second)
    [by_order] = await rm.list_fills(ALICE, order_id=first[0].order_id)
    assert by_order == first[0]
    assert await rm.list_fills(ALICE, symbol=Symbol(PERP)) == []
    assert [f.liquidity for f in await rm.list_fills(BOB)] == ["taker", "taker"]


async def test_candles_when_range_given_returns_newest_within_oldest_first(
        database: SqlDatabase) -> None:
    # Arrange: trades in three different minutes
    minute = 60 * 1_000_000_000
    commands: list[Timed] = setup_commands((ALICE, BOB))
    for i in range(3):
        ts = T0 + i * minute
        commands += [(ts, buy(ALICE, f"b{i}", 1, 100_00 + i)),
                     (ts + 1, sell(BOB, f"s{i}", 1, 100_00 + i))]
    await database.projector(None).apply(BatchFeed().batches(commands, 4))
    rm = database.read_model

    # Act
    every = await rm.candles(Symbol(SPOT), 60)
    last_two = await rm.candles(Symbol(SPOT), 60, limit=2)
    middle = await rm.candles(Symbol(SPOT), 60, from_ns=every[1].start_ns,
                              to_ns=every[1].start_ns)

    # Assert
    assert [cd.close for cd in every] == [100_00, 100_01, 100_02]
    assert last_two == every[1:]
    assert middle == [every[1]]
    assert [cd.trades for cd in await rm.candles(Symbol(SPOT), 3_600)] == [3]


async def test_wait_for_when_seq_not_projected_times_out_then_returns_once_projected(
        database: SqlDatabase) -> None:
    # Arrange
    bus = InprocEventBus()
    feed = BatchFeed()
    projector = database.projector(bus.subscribe("projections"))
    task = asyncio.create_task(projector.run())
    rm = database.read_model
    batches = feed.batches(_book_building(), 3)

    # Act
    await asyncio.sleep(0)
    early = await rm.wait_for(batches[0].last_seq, timeout_s=0.05)
    waiter = asyncio.create_task(rm.wait_for(feed.seq, timeout_s=10))
    for batch in batches:
        bus.publish(batch)
    reached = await waiter
    bus.close()
    await task

    # Assert
    assert not early
    assert reached
    assert rm.last_seq == feed.seq
    assert await rm.wait_for(1, timeout_s=0)
    assert projector.transactions <= len(batches)  # queued batches were merged


async def test_wait_for_when_no_local_projector_polls_the_database(db_url: str,
                                                                  database: SqlDatabase) -> None:
    # Arrange: a second handle on the same database, as an API process without a projector
    reader = await SqlDatabase.open(db_url)
    try:
        feed = BatchFeed()
        batches = feed.batches(_book_building(), 100)

        # Act
        waiter = asyncio.create_task(reader.read_model.wait_for(feed.seq, timeout_s=10))
        await asyncio.sleep(0.05)
        await database.projector(None).apply(batches)

        # Assert
        assert await waiter
    finally:
        await reader.close()
