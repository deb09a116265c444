"""Several processes opening one fresh PostgreSQL database at once (scale-out pods starting
together): one migrates, the others wait for it, and every one finds the schema at head."""

from __future__ import annotations

import asyncio

import pytest

from tests.kit import services
from tradehall.adapters.sql import SqlDatabase

pytestmark = pytest.mark.postgres
postgres_server = services.postgres_server
postgres_database = services.postgres_database


async def test_open_when_many_start_at_once_on_a_fresh_database_all_succeed(
        postgres_database: str) -> None:
    # Act
    opened = await asyncio.gather(*(SqlDatabase.open(postgres_database) for _ in range(6)),
                                  return_exceptions=True)

    # Assert
    try:
        assert [o for o in opened if isinstance(o, BaseException)] == []
        assert all(isinstance(o, SqlDatabase) and o.projected_seq == 0 for o in opened)
    finally:
        for db in opened:
            if isinstance(db, SqlDatabase):
                await db.close()
