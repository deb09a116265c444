"""Whole-table dumps of a read-model database, for row-for-row comparisons in tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from tradehall.adapters.sql import SqlDatabase
from tradehall.adapters.sql import tables as t

PROJECTED = (t.assets, t.instruments, t.orders, t.fills, t.balances, t.positions, t.candles,
             t.projection_state)


Dump = dict[str, list[dict[str, Any]]]


async def dump(db: SqlDatabase, *, skip: Mapping[str, tuple[str, ...]] | None = None) -> Dump:
    """Every row of every projected table, in primary-key order (minus the `skip` columns)."""
    out: Dump = {}
    skip = skip or {}
    async with db.engine.connect() as conn:
        for table in PROJECTED:
            stmt = select(table).order_by(*table.primary_key.columns)
            drop = skip.get(table.name, ())
            out[table.name] = [{k: v for k, v in row.items() if k not in drop}
                               for row in (await conn.execute(stmt)).mappings()]
    return out
