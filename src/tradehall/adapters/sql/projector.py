"""The projector: event batches into the SQL read models, idempotent by sequence number.

One projector per database. It reads its subscription on one task and writes on another, so
batches that queue while a transaction commits are merged into the next one (up to
`max_commands` commands): the projection keeps up with the engine's group commits instead of
paying one commit per batch. The first transaction loads the live orders, instruments and open
candles into the cache; each transaction loads the spot holdings the cache lacks, folds the
results (`projection.fold`), writes every changed row with one executemany per table, and moves
`projection_state` to the batch's last seq in the same transaction, so results at or below it
are skipped when recovery republishes them. Only after the commit are `wait_for(seq)` waiters
woken, and each loss shortfall logged as a warning and added to the database's
`ShortfallTotals` (once per database: a republished one is skipped with its batch). With
`linger_s`, a batch that arrives hard on the heels of the previous one waits up to that long
for more before its transaction starts (fewer, larger transactions under load), unless a
caller waits for the projections: then it goes at once. A failed write propagates (nothing is
swallowed): the caller decides whether the process stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    Connection,
    Dialect,
    Engine,
    Insert,
    Table,
    and_,
    bindparam,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from tradehall.adapters.sql import tables as t
from tradehall.adapters.sql.column_types import ExactInt
from tradehall.adapters.sql.progress import Progress
from tradehall.adapters.sql.projection import (
    OPEN_STATUSES,
    Changes,
    Folder,
    HoldingKey,
    ProjectionCache,
    Row,
    needs,
)
from tradehall.adapters.tasks import stop_task
from tradehall.kernel.ids import AssetCode
from tradehall.service.messages import EventBatch
from tradehall.service.ports import Subscription
from tradehall.trading import events as e

_log = logging.getLogger(__name__)
PROJECTION = "main"  # the projection_state row of the read models
_CHUNK = 2_000  # keys per IN (...) when loading rows
_FOLD_STEP = 1_000  # results folded between two yields to the event loop
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@dataclass(slots=True)
class _Prepared:
    """One transaction's worth of folded changes, with its parameters already materialized."""

    changes: Changes
    writes: list[tuple[_RawInsert, Any]]  # statement, executemany rows or column arrays
    last_seq: int


class ShortfallTotals:
    """Loss shortfalls the projector committed since the process started, per asset: how
    many, and the minor units short, covered by the insurance fund and left uncovered. Read by
    the metrics; one per database, so it outlives a projector that failed and was replaced."""

    def __init__(self) -> None:
        self.by_asset: dict[AssetCode, list[int]] = {}  # [count, shortfall, covered, uncovered]

    def add(self, ev: e.LossShortfall) -> None:
        count, short, covered, uncovered = self.by_asset.get(ev.asset, (0, 0, 0, 0))
        # A new list each time: a scrape on another thread reads one whole set of figures.
        self.by_asset[ev.asset] = [count + 1, short + ev.shortfall, covered + ev.covered,
                                   uncovered + ev.uncovered]


class SqlProjector:
    """Consumes a subscription into the read models until the subscription ends.

    `run()` pipelines: while one transaction commits (SQLite's work runs on the driver's
    thread, PostgreSQL's on the server), the next batches are folded. Parameters are copied
    out of the cached rows before the next fold mutates them. Rows the fold may still need
    from the database (spot holdings not touched since start) cannot be in the transaction
    in flight, so reading them on another connection is safe. Given synchronous engines
    (SQLite on the projector's own thread), reads and commits run inline and block this loop,
    which serves nothing else: each statement is one driver call instead of several hand-overs
    to an async driver's thread, the dearest part of a small transaction.
    """

    def __init__(self, engine: AsyncEngine | Engine, writer: AsyncEngine | Engine,
                 progress: Progress,
                 cache: ProjectionCache, subscription: Subscription | None, *,
                 max_commands: int = 20_000, linger_s: float = 0.0,
                 shortfalls: ShortfallTotals | None = None) -> None:
        self._engine = engine
        self._writer = writer
        self._progress = progress
        self._cache = cache
        self._subscription = subscription
        self._max_commands = max_commands
        self._linger_s = linger_s
        self._shortfalls = shortfalls
        self._last_arrival = -1e9  # perf_counter of the previous transaction's first batch
        self._statements: dict[str, _RawInsert] = {}
        self._state_update: str | None = None
        self._folded_seq = progress.seq
        self.transactions = 0
        self.rows = 0
        self.prepare_ns = 0  # time folding and copying parameters (on the event loop)
        self.commit_ns = 0  # time from BEGIN to COMMIT, mostly the database's work

    async def run(self) -> None:
        """Project every batch of the subscription; return when it ends, raise if a write fails."""
        if self._subscription is None:
            raise RuntimeError("this projector was made without a subscription")
        queue: asyncio.Queue[EventBatch | None] = asyncio.Queue()
        pump = asyncio.create_task(_pump(self._subscription, queue), name="projector-pump")
        inflight: asyncio.Task[None] | None = None
        self._progress.local = True
        try:
            more = True
            while more:
                batches, more = await self._take(queue)
                prepared = await self._prepare(batches) if batches else None
                if inflight is not None:
                    await inflight
                    inflight = None
                if prepared is not None:
                    inflight = asyncio.create_task(self._commit(prepared))
                    await asyncio.sleep(0)  # the commit sends its first statement
            if inflight is not None:
                await inflight
                inflight = None
            await pump  # re-raises what ended the subscription, if anything did
        finally:
            self._progress.local = False
            if inflight is not None and not inflight.done():
                inflight.cancel()  # one transaction: it ends, cancelled or committed
                await asyncio.gather(inflight, return_exceptions=True)
            if not pump.done():
                # The pump reads the subscription until it ends; reading NATS can swallow a
                # cancel (gh-86296) and go on for ever.
                with contextlib.suppress(Exception):  # what ended the run is raised instead
                    await stop_task(pump)

    async def _take(self, queue: asyncio.Queue[EventBatch | None]) -> tuple[list[EventBatch], bool]:
        first = await queue.get()
        if first is None:
            return [], False
        batches = [first]
        size = len(first.results)
        if self._linger_s > 0:
            arrival = time.perf_counter()
            busy = arrival - self._last_arrival < self._linger_s
            self._last_arrival = arrival
            if busy and queue.empty():  # behind already: the queue merges by itself
                await self._linger()
        while size < self._max_commands and not queue.empty():
            batch = queue.get_nowait()
            if batch is None:
                return batches, False
            batches.append(batch)
            size += len(batch.results)
        return batches, True

    async def _linger(self) -> None:
        """Wait up to `linger_s` for more batches; return early once a caller waits."""
        progress = self._progress
        if progress.waiting():
            return
        loop = asyncio.get_running_loop()
        hurry = asyncio.Event()

        def hurry_up() -> None:
            loop.call_soon_threadsafe(hurry.set)

        progress.on_wait(hurry_up)
        try:
            if not progress.waiting():  # a waiter that came before the hook was set
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(hurry.wait(), self._linger_s)
        finally:
            progress.on_wait(None)

    async def apply(self, batches: Sequence[EventBatch]) -> Changes | None:
        """Project batches in one transaction; skip what is already projected."""
        prepared = await self._prepare(batches)
        if prepared is None:
            return None
        await self._commit(prepared)
        return prepared.changes

    async def _prepare(self, batches: Sequence[EventBatch]) -> _Prepared | None:
        folded = self._folded_seq
        last = max((b.last_seq for b in batches), default=0)
        if last <= folded:
            return None
        results = [r for b in batches for r in b.results if r.seq > folded]
        balances = [(b.last_seq, snap) for b in batches if b.last_seq > folded
                    for snap in b.balances]
        cache = self._cache
        started = time.perf_counter_ns()
        try:
            if not cache.loaded:
                await self._load_cache()
            missing = needs(results, cache)
            if missing:
                await self._load_holdings(missing)
            folder = Folder(cache, last)
            for i in range(0, len(results), _FOLD_STEP):
                folder.apply(results[i:i + _FOLD_STEP])
                # Let a commit in flight issue its next statement while this fold goes on.
                await asyncio.sleep(0)
            changes = folder.finish(balances)
            writes: list[tuple[_RawInsert, Iterable[Row]]] = [
                (self._statement(table, upsert=True), rows.values())
                      for table, rows in ((t.assets, changes.assets),
                                          (t.instruments, changes.instruments),
                                          (t.orders, changes.orders),
                                          (t.positions, changes.positions),
                                          (t.candles, changes.candles),
                                          (t.balances, changes.balances)) if rows]
            if changes.fills:
                writes.append((self._statement(t.fills, upsert=False), changes.fills))
            prepared = _Prepared(changes, [(stmt, stmt.params(rows)) for stmt, rows in writes],
                                 last)
        except BaseException:
            self._forget()
            raise
        self._folded_seq = last
        self.prepare_ns += time.perf_counter_ns() - started
        return prepared

    async def _commit(self, prepared: _Prepared) -> None:
        started = time.perf_counter_ns()

        def write(conn: Connection) -> None:
            for stmt, params in prepared.writes:
                conn.exec_driver_sql(stmt.sql, params)
            conn.execute(update(t.projection_state)
                         .where(t.projection_state.c.name == PROJECTION)
                         .values(seq=prepared.last_seq))

        def write_raw(conn: Connection) -> None:
            # Straight to the driver: SQLAlchemy's execution context per statement would
            # cost more than SQLite's own work for a transaction of a few rows.
            cursor = conn.connection.cursor()
            try:
                for stmt, params in prepared.writes:
                    cursor.executemany(stmt.sql, params)
                cursor.execute(self._state_sql(), (prepared.last_seq, PROJECTION))
            finally:
                cursor.close()

        try:
            if isinstance(self._writer, AsyncEngine):
                async with self._writer.begin() as conn:
                    await conn.run_sync(write)
            else:
                with self._writer.begin() as sync_conn:
                    write_raw(sync_conn)
        except BaseException:
            self._forget()
            raise
        self.commit_ns += time.perf_counter_ns() - started
        self._cache.evict_done(prepared.changes.orders.values())
        self.transactions += 1
        self.rows += prepared.changes.row_count()
        self._progress.advance(prepared.last_seq)
        for seq, ev in prepared.changes.shortfalls:
            _log.warning("loss shortfall at seq %d: %s in %s could not pay %d %s minor units of "
                         "a loss; the insurance fund covered %d, %d stay on @clearing", seq,
                         ev.account, ev.symbol, ev.shortfall, ev.asset, ev.covered,
                         ev.uncovered)
            if self._shortfalls is not None:
                self._shortfalls.add(ev)

    def _forget(self) -> None:
        # The cache may hold rows of a transaction that did not commit.
        self._cache.clear()
        self._folded_seq = self._progress.seq

    async def _load_cache(self) -> None:
        """Read what the fold needs at hand: instruments, live orders, the newest candles."""
        c = t.candles.c
        newest = (select(c.symbol, c.interval_s, func.max(c.start_ns).label("start_ns"))
                  .group_by(c.symbol, c.interval_s).subquery())
        candles = select(t.candles).join(newest, and_(
            c.symbol == newest.c.symbol, c.interval_s == newest.c.interval_s,
            c.start_ns == newest.c.start_ns))
        live = select(t.orders).where(t.orders.c.status.in_(OPEN_STATUSES))

        def load(conn: Connection) -> None:
            self._cache.load(conn.execute(select(t.instruments)).mappings(),
                             conn.execute(live).mappings(), conn.execute(candles).mappings())

        await self._read(load)

    async def _load_holdings(self, missing: set[HoldingKey]) -> None:
        keys = sorted(missing)
        pos = t.positions.c

        def load(conn: Connection) -> None:
            for i in range(0, len(keys), _CHUNK):
                stmt = select(t.positions).where(
                    tuple_(pos.account, pos.symbol).in_(keys[i:i + _CHUNK]))
                self._cache.add_holdings(conn.execute(stmt).mappings())

        await self._read(load)

    async def _read(self, load: Callable[[Connection], None]) -> None:
        if isinstance(self._engine, AsyncEngine):
            async with self._engine.connect() as conn:
                await conn.run_sync(load)
        else:
            with self._engine.connect() as sync_conn:
                load(sync_conn)

    def _state_sql(self) -> str:
        """UPDATE of the projection's seq, positional (seq, name), for the writer's dialect."""
        if self._state_update is None:
            state = t.projection_state
            stmt = (update(state).where(state.c.name == bindparam("state_name"))
                    .values(seq=bindparam("state_seq")))
            compiled = stmt.compile(dialect=self._writer.dialect)
            if list(compiled.positiontup or ()) != ["state_seq", "state_name"]:
                raise RuntimeError(f"unexpected parameters {compiled.positiontup}")
            self._state_update = compiled.string
        return self._state_update

    def _statement(self, table: Table, *, upsert: bool) -> _RawInsert:
        stmt = self._statements.get(table.name)
        if stmt is None:
            stmt = _RawInsert(table, self._engine.dialect, upsert=upsert)
            self._statements[table.name] = stmt
        return stmt


class _RawInsert:
    """An INSERT compiled once for a dialect and run as one driver call per transaction.

    The rows are already plain values, so SQLAlchemy's per-row parameter processing (most of
    the projector's time when it ran through `Connection.execute`) is skipped. On SQLite it is
    the driver's executemany (one prepared statement, a step per row, off the event loop's
    thread); only exact integers past 64 bits need their text form (`ExactInt`). On PostgreSQL
    the rows travel as one array per column and a single `INSERT ... SELECT FROM unnest(...)`
    writes them all: one statement instead of one execution per row.
    """

    __slots__ = ("_columnar", "_exact", "_get", "sql")

    def __init__(self, table: Table, dialect: Dialect, *, upsert: bool) -> None:
        names = [c.name for c in table.columns]
        self._get = itemgetter(*names)
        self._columnar = dialect.name == "postgresql"
        self._exact: list[int] = []
        if self._columnar:
            self.sql = _unnest_insert(table, dialect, upsert)
            return
        stmt = upsert_statement(dialect.name, table) if upsert else table.insert()
        compiled = stmt.compile(dialect=dialect)
        if list(compiled.positiontup or ()) != names:
            raise RuntimeError(f"unexpected parameters {compiled.positiontup} for {table.name}")
        self.sql = compiled.string
        self._exact = [i for i, c in enumerate(table.columns) if isinstance(c.type, ExactInt)]

    def params(self, rows: Iterable[Row]) -> Any:
        """The rows' values in the statement's parameter order (a copy)."""
        get = self._get
        values = [get(row) for row in rows]
        if self._columnar:
            return tuple(zip(*values, strict=True))
        if self._exact:
            exact = self._exact
            values = [_sqlite_exact(v, exact) for v in values]
        return values


def _unnest_insert(table: Table, dialect: Dialect, upsert: bool) -> str:
    quote = dialect.identifier_preparer.quote
    columns = ", ".join(quote(c.name) for c in table.columns)
    arrays = ", ".join(f"${i}::{c.type.compile(dialect=dialect)}[]"
                       for i, c in enumerate(table.columns, start=1))
    # Identifiers come from tables.py and every value is bound: nothing here is input.
    sql = f"INSERT INTO {quote(table.name)} ({columns}) SELECT * FROM unnest({arrays})"  # noqa: S608
    if upsert:
        keys = [c.name for c in table.primary_key.columns]
        changing = MUTABLE.get(table.name) or [c.name for c in table.columns
                                               if c.name not in keys]
        sets = ", ".join(f"{quote(n)} = EXCLUDED.{quote(n)}" for n in changing)
        sql += f" ON CONFLICT ({', '.join(quote(k) for k in keys)}) DO UPDATE SET {sets}"
    return sql


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
