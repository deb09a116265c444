"""`SqlDatabase`: one read-model database, opened, migrated and handed out as ports.

The composition root opens it with a URL (SQLite file by default, PostgreSQL by DSN), reads
`projected_seq` to tell the engine where recovery must republish from, wires `read_model` and
`identity` into the service, and runs one projector: `projector_thread(subscription)` on a
thread of its own in a running platform, `projector(subscription)` on the caller's loop (tests,
benchmarks). Owns the engine and the projection's shared state (progress, row cache); holds no
process-global state.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tradehall.adapters.inproc.bus import ThreadedSubscription
from tradehall.adapters.sql import schema as schema
from tradehall.adapters.sql import tables as t
from tradehall.adapters.sql.connect import create_engines, lock_setup, migrate
from tradehall.adapters.sql.identity import SqlIdentityStore
from tradehall.adapters.sql.progress import Progress
from tradehall.adapters.sql.projection import ProjectionCache
from tradehall.adapters.sql.projector import PROJECTION, ShortfallTotals, SqlProjector
from tradehall.adapters.sql.projector_thread import ProjectorThread
from tradehall.adapters.sql.read_model import SqlReadModel
from tradehall.service.ports import Subscription


class SqlDatabase:
    """The read models and the identity store of one SQL database."""

    def __init__(self, engine: AsyncEngine, writer: AsyncEngine, projected_seq: int,
                 url: str | None = None) -> None:
        self.engine = engine
        self._url = url
        self._writer = writer
        self._progress = Progress(projected_seq)
        self._projected_at_open = projected_seq
        self._cache = ProjectionCache()
        self.shortfalls = ShortfallTotals()  # what this process's projector committed
        self.read_model = SqlReadModel(engine, self._progress)
        self.identity = SqlIdentityStore(engine, writer)

    @classmethod
    async def open(cls, url: str) -> SqlDatabase:
        """Create the engine, migrate to head, and read how far the projections got."""
        engine, writer = create_engines(url)
        try:
            await migrate(writer)
            state = t.projection_state
            async with writer.begin() as conn:
                await lock_setup(conn)  # another process may create the row at the same time
                seq = (await conn.execute(select(state.c.seq).where(state.c.name == PROJECTION))
                       ).scalar_one_or_none()
                if seq is None:
                    await conn.execute(state.insert().values(name=PROJECTION, seq=0))
                    seq = 0
        except BaseException:
            await _dispose(engine, writer)
            raise
        return cls(engine, writer, int(seq), url)

    @property
    def projected_seq(self) -> int:
        """The last seq in the projections when the database was opened."""
        return self._projected_at_open

    @property
    def writer(self) -> AsyncEngine:
        """The engine to write with (on SQLite one connection, so writers never race)."""
        return self._writer

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def projector(self, subscription: Subscription | None, *,
                  max_commands: int = 20_000) -> SqlProjector:
        """Return the projector of this database (one at a time) for a subscription."""
        return SqlProjector(self.engine, self._writer, self._progress, self._cache, subscription,
                            max_commands=max_commands, shortfalls=self.shortfalls)

    def projector_thread(self, subscription: ThreadedSubscription, *,
                         max_commands: int = 20_000) -> ProjectorThread:
        """Return the projector of this database on a thread of its own (not started)."""
        if self._url is None:
            raise RuntimeError("a projector thread needs the database opened by URL")
        return ProjectorThread(self._url, self._progress, self._cache, subscription,
                               max_commands=max_commands, shortfalls=self.shortfalls)

    async def close(self) -> None:
        """Close every pooled connection."""
        await _dispose(self.engine, self._writer)


async def _dispose(engine: AsyncEngine, writer: AsyncEngine) -> None:
    await engine.dispose()
    if writer.sync_engine.pool is not engine.sync_engine.pool:
        await writer.dispose()
