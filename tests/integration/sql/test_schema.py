"""The migrated schema is `tables.py`: Alembic's autogenerate comparison finds no difference.
Also: migrations are idempotent on reopen, and exact integers survive past 64 bits."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, insert, select

from tradehall.adapters.sql import SqlDatabase, schema
from tradehall.adapters.sql import tables as t
from tradehall.kernel.ids import AccountId, AssetCode
from tradehall.service.messages import BalanceSnapshot, EventBatch


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, schema.metadata))


async def test_migrations_when_applied_schema_equals_tables(database: SqlDatabase) -> None:
    async with database.engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == []


async def test_open_when_database_already_migrated_keeps_rows_and_seq(db_url: str) -> None:
    # Arrange
    db = await SqlDatabase.open(db_url)
    async with db.engine.begin() as conn:
        await conn.execute(t.projection_state.update().values(seq=42))
    await db.close()

    # Act
    again = await SqlDatabase.open(db_url)

    # Assert
    try:
        assert again.projected_seq == 42
        assert again.read_model.last_seq == 42
    finally:
        await again.close()


async def test_exact_int_when_value_passes_64_bits_round_trips(database: SqlDatabase) -> None:
    # Arrange
    values = [2**64 + 1, -(2**70) - 3, 10**37, 2**63 - 1, -(2**63), 0, 7]

    # Act
    async with database.engine.begin() as conn:
        await conn.execute(insert(t.balances), [
            {"account": f"acc{i}", "asset": "USD", "available": v, "held": -v, "seq": i}
            for i, v in enumerate(values)])
    async with database.engine.connect() as conn:
        rows = (await conn.execute(select(t.balances.c.available, t.balances.c.held)
                                   .order_by(t.balances.c.seq))).all()

    # Assert
    assert [(r.available, r.held) for r in rows] == [(v, -v) for v in values]
    assert all(type(r.available) is int for r in rows)


async def test_projector_when_balance_passes_64_bits_stores_it_exactly(
        database: SqlDatabase) -> None:
    # Arrange: the projector's own write path (driver executemany / unnest arrays)
    huge = 2**70 + 11
    batch = EventBatch(first_seq=1, last_seq=1, results=[], books=[], balances=[
        BalanceSnapshot(AccountId("whale"), AssetCode("USD"), huge, 2**64),
        BalanceSnapshot(AccountId("minnow"), AssetCode("USD"), 5, 0)])

    # Act
    await database.projector(None).apply([batch])

    # Assert
    got = {(b.account, b.available, b.held) for b in
           await database.read_model.balances(AccountId("whale"))
           + await database.read_model.balances(AccountId("minnow"))}
    assert got == {("whale", huge, 2**64), ("minnow", 5, 0)}


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "mysql://localhost/x"])
async def test_open_when_url_unsupported_raises_value_error(url: str) -> None:
    with pytest.raises(ValueError, match=r"SQLite file|unsupported"):
        await SqlDatabase.open(url)
