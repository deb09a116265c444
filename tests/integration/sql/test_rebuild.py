"""The read models of the real embedded engine: rebuilt from the journal they equal the live
ones row for row, and a projection that fell behind catches up from recovery's replay."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from tests.integration.sql.feed import random_commands, setup_commands
from tests.integration.sql.tables_dump import dump
from tests.kit.factories import ALICE, BOB, CAROL
from tests.kit.services import fresh_postgres_database
from tradehall.adapters.inproc.bus import InprocEventBus
from tradehall.adapters.sql import SqlDatabase
from tradehall.entrypoints.workers.engine_host import EngineHostConfig
from tradehall.entrypoints.workers.engine_thread import EngineThread, EngineThreadConfig
from tradehall.kernel.clock import LiveClock
from tradehall.trading import commands as c

ACCOUNTS = (ALICE, BOB, CAROL)
# Balance rows say which batch last reported them: a replay reports them all at its end.
VALUES_ONLY = {"balances": ("seq",)}


@asynccontextmanager
async def _other_database(db_url: str, tmp_path: Path, name: str) -> AsyncIterator[str]:
    """A second empty database on the same backend as `db_url`."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / name}"
        return
    async with fresh_postgres_database() as url:
        yield url


class _Platform:
    """The embedded engine thread publishing to a projector on one database."""

    def __init__(self, data_dir: Path, db: SqlDatabase) -> None:
        self.db = db
        self.bus = InprocEventBus()
        config = EngineThreadConfig(host=EngineHostConfig(data_dir=data_dir, fsync=False))
        self.engine = EngineThread(config, LiveClock(), self.bus.publish)
        self.projector = db.projector(self.bus.subscribe("projections"))
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self.projector.run())
        await self.engine.start(projection_seq=self.db.projected_seq)

    async def run(self, commands: Sequence[c.EngineCommand], chunk: int = 25) -> None:
        # Several callers at once, so the engine thread groups their commands into batches.
        await asyncio.gather(*(self.engine.execute_many(commands[i:i + chunk])
                               for i in range(0, len(commands), chunk)))

    async def stop(self) -> None:
        assert await self.db.read_model.wait_for(self.engine.last_seq, timeout_s=30)
        await self.engine.stop()
        self.bus.close()
        assert self.task is not None
        await self.task


async def test_rebuild_when_journal_replayed_into_fresh_database_equals_live(
        tmp_path: Path, db_url: str) -> None:
    # Arrange: a live platform runs the setup and a random session
    data_dir = tmp_path / "engine"
    live_db = await SqlDatabase.open(db_url)
    live = _Platform(data_dir, live_db)
    await live.start()
    await live.run([cmd for _, cmd in setup_commands(ACCOUNTS)])
    await live.run(random_commands(3, 600, ACCOUNTS))
    await live.stop()
    expected = await dump(live_db, skip=VALUES_ONLY)

    async with _other_database(db_url, tmp_path, "rebuilt.sqlite3") as rebuilt_url:
        # Act: a fresh database, so recovery republishes every journaled command
        rebuilt_db = await SqlDatabase.open(rebuilt_url)
        assert rebuilt_db.projected_seq == 0
        again = _Platform(data_dir, rebuilt_db)
        await again.start()
        await again.stop()

        # Assert
        assert await dump(rebuilt_db, skip=VALUES_ONLY) == expected
        await rebuilt_db.close()
    assert sum(len(v) for v in expected.values()) > 500
    await live_db.close()


async def test_recovery_when_projection_fell_behind_catches_up_to_the_engine(
        tmp_path: Path, db_url: str) -> None:
    # Arrange: the projection stops while the engine goes on (a crash between the two)
    data_dir = tmp_path / "engine"
    db = await SqlDatabase.open(db_url)
    first = _Platform(data_dir, db)
    await first.start()
    await first.run([cmd for _, cmd in setup_commands(ACCOUNTS)])
    await first.run(random_commands(5, 200, ACCOUNTS))
    assert await db.read_model.wait_for(first.engine.last_seq, timeout_s=30)
    first.bus.close()  # the projector ends here
    assert first.task is not None
    await first.task
    behind = db.read_model.last_seq
    await first.run(random_commands(6, 200, ACCOUNTS))
    await first.engine.stop()
    await db.close()

    # Act: restart from the seq the database holds
    reopened = await SqlDatabase.open(db_url)
    assert reopened.projected_seq == behind
    second = _Platform(data_dir, reopened)
    await second.start()
    engine_last = second.engine.last_seq
    await second.stop()

    # Assert: every command projected once, balances equal to the engine's
    assert reopened.read_model.last_seq == engine_last > behind
    async with _other_database(db_url, tmp_path, "reference.sqlite3") as ref_url:
        reference = await SqlDatabase.open(ref_url)
        third = _Platform(data_dir, reference)
        await third.start()
        await third.stop()
        assert await dump(reopened, skip=VALUES_ONLY) == await dump(reference, skip=VALUES_ONLY)
        await reference.close()
    await reopened.close()
