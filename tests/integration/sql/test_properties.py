"""Properties of the projection over random engine streams (hypothesis): the projected
balances, open orders and margin positions equal the engine's, and every order row agrees with
its fills (no overfill in the read model), however the stream is cut into batches."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.sql.feed import BatchFeed, setup_commands
from tests.kit.factories import ALICE, BOB, CAROL
from tests.kit.streams import Stream, command_streams
from tradehall.adapters.sql import SqlDatabase
from tradehall.adapters.sql.tables import metadata, projection_state
from tradehall.engine import queries
from tradehall.service.ports import FillRecord, OrderRecord

ACCOUNTS = (ALICE, BOB, CAROL)


async def _project(url: str, stream: Stream, batch_size: int) -> None:
    db = await SqlDatabase.open(url)
    try:
        async with db.engine.begin() as conn:  # each example starts from an empty database
            for table in reversed(metadata.sorted_tables):
                await conn.execute(table.delete())
            await conn.execute(projection_state.insert().values(name="main", seq=0))
        db = await _reopen(db, url)
        feed = BatchFeed()
        batches = feed.batches(setup_commands(ACCOUNTS) + stream, batch_size)
        projector = db.projector(None)
        for i in range(0, len(batches), 3):
            await projector.apply(batches[i:i + 3])
        await _check(db, feed)
    finally:
        await db.close()


async def _reopen(db: SqlDatabase, url: str) -> SqlDatabase:
    await db.close()
    return await SqlDatabase.open(url)


async def _check(db: SqlDatabase, feed: BatchFeed) -> None:
    rm = db.read_model
    for account in ACCOUNTS:
        engine_balances = {(b.asset, b.available, b.held)
                           for b in queries.balances(feed.engine, account)}
        assert {(b.asset, b.available, b.held) for b in await rm.balances(account)} == (
            engine_balances)
        orders = await rm.list_orders(account, status="all", limit=10_000)
        fills = await rm.list_fills(account, limit=10_000)
        _check_orders_against_fills(orders, fills)
        live = {o.order_id: o for o in queries.open_orders(feed.engine, account)}
        projected_open = {o.order_id: o for o in orders
                          if o.status in ("new", "partially_filled", "pending_new")}
        assert projected_open.keys() == live.keys()
        for oid, row in projected_open.items():
            view = live[oid]
            assert (row.qty - row.filled_qty, row.filled_qty, row.price) == (
                view.leaves, view.filled, view.price)
            assert (row.status == "pending_new") == (not view.triggered)
        margin = {p.symbol: (p.net_qty, p.cost_ticks, p.margin)
                  for p in queries.positions(feed.engine, account) if p.net_qty}
        projected = {p.symbol: (p.net_qty, p.cost_ticks, p.margin)
                     for p in await rm.positions(account) if p.symbol in margin or p.margin}
        assert projected == margin


def _check_orders_against_fills(orders: list[OrderRecord], fills: list[FillRecord]) -> None:
    by_order: dict[int, list[FillRecord]] = defaultdict(list)
    for fill in fills:
        by_order[fill.order_id].append(fill)
    for order in orders:
        own = by_order.pop(order.order_id, [])
        assert order.filled_qty == sum(f.qty for f in own) <= order.qty
        assert order.filled_notional == sum(f.notional for f in own)
        if order.status == "filled":
            assert order.filled_qty == order.qty
            assert min(f.leaves_qty for f in own) == 0
        elif order.status in ("new", "pending_new"):
            assert order.filled_qty == 0
        elif order.status == "partially_filled":
            assert 0 < order.filled_qty < order.qty
    assert not by_order, "fills of orders the read model does not hold"


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=command_streams(), batch_size=st.integers(min_value=1, max_value=40))
def test_projection_when_random_stream_projected_agrees_with_engine(
        db_url: str, stream: Stream, batch_size: int) -> None:
    asyncio.run(_project(db_url, stream, batch_size))
