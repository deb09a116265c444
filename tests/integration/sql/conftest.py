"""Fixtures of the SQL read-model tests: each test runs on SQLite (a file in tmp_path) and on
PostgreSQL (a fresh database on the local server, dropped afterwards)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.kit.services import POSTGRES, fresh_postgres_database, require
from tradehall.adapters.sql import SqlDatabase

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """URL of an empty read-model database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'readmodels.sqlite3'}"
        return
    require(POSTGRES)
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[SqlDatabase]:
    """An opened, migrated read-model database."""
    db = await SqlDatabase.open(db_url)
    try:
        yield db
    finally:
        await db.close()
