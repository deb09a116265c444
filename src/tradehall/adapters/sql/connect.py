"""Engine creation and migrations: URLs to async engines, SQLite tuning, Alembic to head.

`sqlite:///file` and `postgresql://...` are accepted as written and given their async
drivers (aiosqlite, asyncpg). SQLite runs in WAL mode with synchronous=NORMAL (a commit is
durable against a process crash; the journal, not this file, is the source of truth), foreign
keys on, and explicit BEGINs so that the projector's transactions take the write lock at once
(`BEGIN IMMEDIATE`) instead of failing to upgrade a read. Migrations live in the package and
run programmatically: no alembic.ini on disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
WRITE_OPTION = "tradehall_write"
# Page cache per connection: the projector's upserts touch index pages all over the tables.
SQLITE_CACHE_KIB = 64 * 1024
# Checkpoint the WAL every ~64 MiB instead of 4 MiB: a page the projector rewrites in many
# transactions is copied into the database file once per checkpoint, not once per 4 MiB.
SQLITE_CHECKPOINT_PAGES = 16_384


def async_url(url: str) -> str:
    """Return the URL with its async driver (aiosqlite, asyncpg) named."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite" and parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend in ("postgresql", "postgres") and "+" not in parsed.drivername:
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def create_engines(url: str) -> tuple[AsyncEngine, AsyncEngine]:
    """Create the engines of a read-model database: (readers, writer).

    On SQLite the writer is an engine of its own with one connection: SQLite takes one writer
    at a time anyway, and one connection keeps its page cache warm across transactions. On
    PostgreSQL both share one pool.
    """
    full = async_url(url)
    parsed = make_url(full)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            # Every pooled connection would get a database of its own.
            raise ValueError("the read models need a SQLite file, not an in-memory database")
        readers = create_async_engine(full, pool_size=8, max_overflow=8, pool_use_lifo=True)
        writer = create_async_engine(full, pool_size=1, max_overflow=0)
        for engine in (readers, writer):
            _tune_sqlite(engine)
        return readers, writer.execution_options(**{WRITE_OPTION: True})
    if backend != "postgresql":
        raise ValueError(f"unsupported read-model database {backend!r} (sqlite or postgresql)")
    engine = create_async_engine(full, pool_size=8, max_overflow=8, pool_pre_ping=True,
                                 pool_use_lifo=True)
    return engine, engine


def create_sync_sqlite_engines(url: str) -> tuple[Engine, Engine] | None:
    """Synchronous (readers, writer) for a SQLite URL, tuned alike; None for other backends.

    For the projector on its own thread: there a blocking driver call costs nothing to anyone
    else, and it saves the async driver's hand-over to its thread on every statement.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if parsed.database in (None, "", ":memory:"):
        raise ValueError("the read models need a SQLite file, not an in-memory database")
    plain = parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    readers = create_engine(plain, pool_size=2, max_overflow=2)
    writer = create_engine(plain, pool_size=1, max_overflow=0)
    for engine in (readers, writer):
        _tune_sqlite(engine)
    return readers, writer.execution_options(**{WRITE_OPTION: True})


def _tune_sqlite(engine: AsyncEngine | Engine) -> None:
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level: SQLAlchemy's begin event below issues the BEGINs.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON",
                       "busy_timeout=10000", f"cache_size=-{SQLITE_CACHE_KIB}",
                       f"wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the package's migrations (and a connection to use)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


_SETUP_LOCK = 0x7468_6D69  # "thmi": the advisory lock key of the schema set-up


async def lock_setup(conn: AsyncConnection) -> None:
    """Serialize the schema set-up (migrations, first rows) on PostgreSQL until the
    transaction ends: scale-out processes may start on a fresh database at once; one sets it
    up, the others wait for its commit and then find it done. SQLite has one writer anyway."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text(f"SELECT pg_advisory_xact_lock({_SETUP_LOCK})"))


async def migrate(writer: AsyncEngine) -> None:
    """Run every migration up to head, in one transaction."""
    async with writer.begin() as conn:
        await lock_setup(conn)
        await conn.run_sync(_upgrade)
