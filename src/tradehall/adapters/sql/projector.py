"""The projector: event batches into the SQL read models, idempotent by sequence number.

One projector per database. It reads its subscription on one task and writes on another, so
batches that queue while a transaction commits are merged into the next one (up to
`max_commands` commands): the projection keeps up with the engine's group commits instead of
paying one commit per batch. Each transaction loads the rows the cache lacks, folds the
results (`projection.fold`), writes every changed row with one executemany per table, and
moves `projection_state` to the batch's last seq in the same transaction, so results at or
below it are skipped when recovery republishes them. Only after the commit are
`wait_for(seq)` waiters woken. A failed write propagates (nothing is swallowed): the caller
decides whether the process stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Dialect, Insert, Table, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tradehall.adapters.sql import tables as t
from tradehall.adapters.sql.progress import Progress
from tradehall.adapters.sql.projection import (
    Changes,
    Needs,
    ProjectionCache,
    Row,
    fold,
    needs,
)
from tradehall.adapters.sql.types import ExactInt
from tradehall.service.messages import EventBatch
from tradehall.service.ports import Subscription

PROJECTION = "main"  # the projection_state row of the read models
_CHUNK = 2_000  # keys per IN (...) when loading rows
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class SqlProjector:
    """Consumes a subscription into the read models until the subscription ends."""

    def __init__(self, engine: AsyncEngine, progress: Progress, cache: ProjectionCache,
                 subscription: Subscription | None, *, max_commands: int = 20_000) -> None:
        self._engine = engine
        self._progress = progress
        self._cache = cache
        self._subscription = subscription
        self._max_commands = max_commands
        self._statements: dict[str, _RawInsert] = {}
        self._stale = True  # the cache's instruments must be (re)loaded
        self.transactions = 0
        self.rows = 0

    async def run(self) -> None:
        """Project every batch of the subscription; return when it ends, raise if a write fails."""
        if self._subscription is None:
            raise RuntimeError("this projector was made without a subscription")
        queue: asyncio.Queue[EventBatch | None] = asyncio.Queue()
        pump = asyncio.create_task(_pump(self._subscription, queue), name="projector-pump")
        self._progress.local = True
        try:
            while await self._drain(queue):
                pass
            await pump  # re-raises what ended the subscription, if anything did
        finally:
            self._progress.local = False
            if not pump.done():
                pump.cancel()
                await asyncio.gather(pump, return_exceptions=True)

    async def _drain(self, queue: asyncio.Queue[EventBatch | None]) -> bool:
        first = await queue.get()
        if first is None:
            return False
        batches = [first]
        size = len(first.results)
        more = True
        while size < self._max_commands and not queue.empty():
            batch = queue.get_nowait()
            if batch is None:
                more = False
                break
            batches.append(batch)
            size += len(batch.results)
        await self.apply(batches)
        return more

    async def apply(self, batches: Sequence[EventBatch]) -> Changes | None:
        """Project batches in one transaction; skip what is already projected."""
        projected = self._progress.seq
        last = max((b.last_seq for b in batches), default=0)
        if last <= projected:
            return None
        results = [r for b in batches for r in b.results if r.seq > projected]
        balances = [(b.last_seq, snap) for b in batches if b.last_seq > projected
                    for snap in b.balances]
        try:
            async with self._engine.begin() as conn:
                if self._stale:
                    rows = (await conn.execute(select(t.instruments))).mappings()
                    self._cache.load_instruments(dict(row) for row in rows)
                    self._stale = False
                need = needs(results, self._cache)
                if need:
                    await self._load(conn, need)
                changes = fold(results, balances, self._cache, last)
                await self._write(conn, changes)
        except BaseException:
            # The cache may hold rows of the transaction that did not commit.
            self._cache.clear()
            self._stale = True
            raise
        self._cache.evict_done(changes.orders.values())
        self.transactions += 1
        self.rows += changes.row_count()
        self._progress.advance(last)
        return changes

    async def _load(self, conn: AsyncConnection, need: Needs) -> None:
        order_rows: list[Any] = []
        ids = sorted(need.order_ids)
        for i in range(0, len(ids), _CHUNK):
            stmt = select(t.orders).where(t.orders.c.order_id.in_(ids[i:i + _CHUNK]))
            order_rows += (await conn.execute(stmt)).mappings().all()
        holding_rows: list[Any] = []
        keys = sorted(need.holdings)
        pos = t.positions.c
        for i in range(0, len(keys), _CHUNK):
            stmt = select(t.positions).where(
                tuple_(pos.account, pos.symbol).in_(keys[i:i + _CHUNK]))
            holding_rows += (await conn.execute(stmt)).mappings().all()
        candle_rows: list[Any] = []
        ckeys = sorted(need.candles)
        cc = t.candles.c
        for i in range(0, len(ckeys), _CHUNK):
            stmt = select(t.candles).where(
                tuple_(cc.symbol, cc.interval_s, cc.start_ns).in_(ckeys[i:i + _CHUNK]))
            candle_rows += (await conn.execute(stmt)).mappings().all()
        self._cache.add_loaded(order_rows, holding_rows, candle_rows)

    async def _write(self, conn: AsyncConnection, changes: Changes) -> None:
        for table, rows in ((t.assets, changes.assets), (t.instruments, changes.instruments),
                            (t.orders, changes.orders), (t.positions, changes.positions),
                            (t.candles, changes.candles), (t.balances, changes.balances)):
            if rows:
                await self._statement(conn, table, upsert=True).execute(conn, rows.values())
        if changes.fills:
            await self._statement(conn, t.fills, upsert=False).execute(conn, changes.fills)
        await conn.execute(update(t.projection_state)
                           .where(t.projection_state.c.name == PROJECTION)
                           .values(seq=changes.last_seq))

    def _statement(self, conn: AsyncConnection, table: Table, *, upsert: bool) -> _RawInsert:
        stmt = self._statements.get(table.name)
        if stmt is None:
            dialect = conn.dialect
            sql = upsert_statement(dialect.name, table) if upsert else table.insert()
            stmt = _RawInsert(sql, table, dialect)
            self._statements[table.name] = stmt
        return stmt


class _RawInsert:
    """An INSERT compiled once for a dialect and run as the driver's own executemany.

    The rows are already plain values, so SQLAlchemy's per-row parameter processing (most of
    the projector's time when it ran through `Connection.execute`) is skipped; only the exact
    integers that pass 64 bits need SQLite's text form (`types.ExactInt`), checked here.
    """

    __slots__ = ("_exact", "_get", "_sqlite", "sql")

    def __init__(self, stmt: Insert, table: Table, dialect: Dialect) -> None:
        compiled = stmt.compile(dialect=dialect)
        names = list(compiled.positiontup or ())
        if sorted(names) != sorted(c.name for c in table.columns):
            raise RuntimeError(f"unexpected parameters {names} for {table.name}")
        self.sql = compiled.string
        self._get = itemgetter(*names)
        self._sqlite = dialect.name == "sqlite"
        self._exact = [i for i, name in enumerate(names)
                       if isinstance(table.columns[name].type, ExactInt)]

    async def execute(self, conn: AsyncConnection, rows: Iterable[Row]) -> None:
        get = self._get
        params = [get(row) for row in rows]
        if self._sqlite and self._exact:
            params = [_sqlite_exact(p, self._exact) for p in params]
        await conn.exec_driver_sql(self.sql, params)


def _sqlite_exact(values: tuple[Any, ...], exact: list[int]) -> tuple[Any, ...]:
    for i in exact:
        v = values[i]
        if v > _INT64_MAX or v < _INT64_MIN:
            out = list(values)
            for j in exact:
                w = out[j]
                out[j] = str(w) if w > _INT64_MAX or w < _INT64_MIN else w
            return tuple(out)
    return values


# Columns an event can change after the row exists; the rest (and so every indexed column)
# stays as first written, so an upsert never rewrites an index entry it does not need to.
MUTABLE: dict[str, tuple[str, ...]] = {
    "orders": ("qty", "filled_qty", "filled_notional", "price", "status", "cancel_reason",
               "updated_ns", "filled_ns", "canceled_ns", "expired_ns", "seq"),
}


def upsert_statement(dialect: str, table: Table) -> Insert:
    """INSERT ... ON CONFLICT (primary key) DO UPDATE the mutable columns, for one dialect."""
    keys = [c.name for c in table.primary_key.columns]
    changing = MUTABLE.get(table.name) or [c.name for c in table.columns if c.name not in keys]
    stmt = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return stmt.on_conflict_do_update(index_elements=keys,
                                      set_={name: stmt.excluded[name] for name in changing})


async def _pump(subscription: Subscription,
                queue: asyncio.Queue[EventBatch | None]) -> None:
    try:
        async for batch in subscription:
            queue.put_nowait(batch)
    finally:
        queue.put_nowait(None)
