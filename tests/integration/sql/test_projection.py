"""The projector on a real engine stream: orders, fills, balances, positions, candles, and
idempotence when batches are delivered again or merged differently. SQLite and PostgreSQL."""

from __future__ import annotations

import logging

import pytest

from tests.integration.sql.feed import BatchFeed, Timed, setup_commands
from tests.integration.sql.tables_dump import dump
from tests.kit.factories import (
    ALICE,
    BOB,
    CAROL,
    PERP,
    SPOT,
    T0,
    USD,
    amend,
    buy,
    cancel,
    sell,
    set_status,
)
from tradehall.adapters.sql import SqlDatabase
from tradehall.adapters.sql.projection import CANDLE_INTERVALS, bucket_start
from tradehall.adapters.sql.tables import metadata
from tradehall.engine import queries
from tradehall.kernel.ids import ClientOrderId, Symbol, order_uuid
from tradehall.service.messages import CommandResult, EventBatch
from tradehall.trading import commands as c
from tradehall.trading import events as e
from tradehall.trading.model import InstrumentStatus

ACCOUNTS = (ALICE, BOB, CAROL)


def scripted() -> list[Timed]:
    """A short session touching every kind of order event and both instrument kinds."""
    commands: list[c.EngineCommand] = [
        sell(ALICE, "a1", 5, 100_00),
        buy(BOB, "b1", 3, 100_00),  # fills 3 of a1
        buy(BOB, "b2", 4),  # market: takes a1's last 2, the rest is canceled
        sell(CAROL, "c1", 1, stop=99_00),  # waits for its trigger
        buy(ALICE, "a2", 2, 99_50),
        amend(ALICE, "a2", qty=3, price=99_75),
        cancel(ALICE, "a2"),
        sell(CAROL, "c2", 1, 100_25),
        buy(BOB, "b3", 1, 100_25),
        buy(ALICE, "m1", 2, 100_00, symbol=PERP),
        sell(BOB, "m2", 2, 100_00, symbol=PERP),
    ]
    return setup_commands(ACCOUNTS) + [(T0 + (i + 1) * 1_000_000, cmd)
                                       for i, cmd in enumerate(commands)]


async def test_projector_when_scripted_session_projected_rows_follow_the_events(
        database: SqlDatabase) -> None:
    # Arrange
    feed = BatchFeed()
    batches = feed.batches(scripted(), 4)
    rm = database.read_model

    # Act
    for batch in batches:
        await database.projector(None).apply([batch])

    # Assert: orders
    a1 = await rm.get_order_by_client_id(ALICE, ClientOrderId("a1"))
    assert a1 is not None
    assert (a1.status, a1.filled_qty, a1.filled_notional, a1.qty) == ("filled", 5, 500_00, 5)
    assert a1.id == order_uuid(a1.order_id)
    assert await rm.get_order(a1.id) == a1
    b2 = await rm.get_order_by_client_id(BOB, ClientOrderId("b2"))
    assert b2 is not None
    assert (b2.status, b2.filled_qty, b2.order_type) == ("canceled", 2, "market")
    c1 = await rm.get_order_by_client_id(CAROL, ClientOrderId("c1"))
    assert c1 is not None
    assert (c1.status, c1.stop_price, c1.order_type) == ("pending_new", 99_00, "stop")
    a2 = await rm.get_order_by_client_id(ALICE, ClientOrderId("a2"))
    assert a2 is not None
    assert (a2.status, a2.qty, a2.price, a2.cancel_reason) == ("canceled", 3, 99_75, "requested")
    assert a2.canceled_ns is not None
    # Fills: maker and taker rows of each trade, fees as the engine charged them
    trades = [ev for b in batches for r in b.results for ev in r.events
              if isinstance(ev, e.Trade)]
    assert len(trades) == 4
    bob_fills = await rm.list_fills(BOB)
    assert len(bob_fills) == 4
    first = trades[0]
    [maker] = [f for f in await rm.list_fills(ALICE, symbol=SPOT) if f.trade_id == first.trade_id]
    assert (maker.liquidity, maker.side, maker.qty, maker.fee, maker.leaves_qty) == (
        "maker", "sell", 3, first.maker_fee, 2)
    # Balances equal the engine's
    for account in ACCOUNTS:
        expected = {(b.asset, b.available, b.held) for b in queries.balances(feed.engine, account)}
        got = {(b.asset, b.available, b.held) for b in await rm.balances(account)}
        assert got == expected
    # Positions: bob's spot holding at average cost, margin positions from the engine
    positions = {p.symbol: p for p in await rm.positions(BOB)}
    assert (positions[SPOT].net_qty, positions[SPOT].cost_ticks) == (6, 5 * 100_00 + 100_25)
    engine_perp = {p.symbol: p for p in queries.positions(feed.engine, BOB)}[Symbol(PERP)]
    assert (positions[PERP].net_qty, positions[PERP].cost_ticks, positions[PERP].margin) == (
        engine_perp.net_qty, engine_perp.cost_ticks, engine_perp.margin)
    assert [p.symbol for p in await rm.positions(ALICE)] == [PERP]  # sold deposited units only
    # Candles of every interval over the spot trades
    for interval in CANDLE_INTERVALS:
        [candle] = await rm.candles(Symbol(SPOT), interval)
        assert candle.start_ns == bucket_start(T0, interval)
        assert (candle.open, candle.high, candle.low, candle.close) == (
            100_00, 100_25, 100_00, 100_25)
        assert (candle.volume, candle.trades) == (6, 3)
    assert rm.last_seq == feed.seq


async def test_projector_when_batches_delivered_again_nothing_changes(
        database: SqlDatabase) -> None:
    # Arrange
    batches = BatchFeed().batches(scripted(), 3)
    projector = database.projector(None)
    for batch in batches:
        await projector.apply([batch])
    before = await dump(database)

    # Act: every batch again, one by one and merged, and an overlapping merge
    for batch in batches:
        assert await projector.apply([batch]) is None
    await projector.apply(batches)
    await projector.apply(batches[-3:])

    # Assert
    assert await dump(database) == before


async def test_projector_when_a_loss_falls_short_logs_it_once_after_the_commit(
        database: SqlDatabase, caplog: pytest.LogCaptureFixture) -> None:
    # Arrange
    feed = BatchFeed()
    projector = database.projector(None)
    await projector.apply(feed.batches(setup_commands(ACCOUNTS), 100))
    seq = feed.seq + 1
    shortfall = e.LossShortfall(account=ALICE, symbol=Symbol(PERP), asset=USD,
                                shortfall=45_00, covered=20_00, uncovered=25_00)
    batch = EventBatch(first_seq=seq, last_seq=seq, results=[
        CommandResult(seq, T0, [shortfall])], books=[], balances=[])

    # Act: delivered twice, as recovery may
    with caplog.at_level(logging.WARNING, logger="tradehall.adapters.sql.projector"):
        await projector.apply([batch])
        await projector.apply([batch])

    # Assert
    assert [r.getMessage() for r in caplog.records] == [
        f"loss shortfall at seq {seq}: alice in XYZ-PERP could not pay 4500 USD minor units "
        "of a loss; the insurance fund covered 2000, 2500 stay on @clearing"]
    assert database.shortfalls.by_asset == {USD: [1, 45_00, 20_00, 25_00]}  # for /metrics


async def test_projector_when_batches_merged_differently_rows_are_equal(
        db_url: str, database: SqlDatabase) -> None:
    # Arrange
    one_by_one = BatchFeed().batches(scripted(), 1)
    merged = BatchFeed().batches(scripted(), 7)

    # Act
    projector = database.projector(None)
    for batch in one_by_one:
        await projector.apply([batch])
    by_one = await dump(database, skip={"balances": ("seq",)})
    await database.close()
    other = await SqlDatabase.open(db_url)
    try:
        async with other.engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                await conn.execute(table.delete())
        reopened = await SqlDatabase.open(db_url)
        await reopened.projector(None).apply(merged)
        by_merge = await dump(reopened, skip={"balances": ("seq",)})
        await reopened.close()
    finally:
        await other.close()

    # Assert
    assert by_merge == by_one


async def test_reference_data_when_projected_equals_engine_views(database: SqlDatabase) -> None:
    # Arrange
    feed = BatchFeed()
    commands = [*scripted(), (T0 + 10**12, set_status(SPOT, InstrumentStatus.HALTED))]

    # Act
    await database.projector(None).apply(feed.batches(commands, 5))
    scales, views = await database.read_model.reference_data()

    # Assert
    assert scales == queries.assets(feed.engine)
    assert views == queries.instruments(feed.engine)
    assert {v.spec.symbol: v.status for v in views}[Symbol(SPOT)] is InstrumentStatus.HALTED
