"""Column types of the read models: exact integers wider than 64 bits.

Notional, cost basis and money amounts can pass 2**63, so they are stored as NUMERIC(38,0) on
PostgreSQL. SQLite's NUMERIC affinity would turn such a value into a REAL (15 digits), so on
SQLite the column gets a declared type with BLOB affinity, and the value is bound as an INTEGER
when it fits 64 bits and as decimal text when it does not: exact either way. Python sees `int`
on both sides. Never binds or returns a float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Dialect, Numeric
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class _SqliteExactInt(UserDefinedType[int]):
    """A declared type whose name gives BLOB affinity: SQLite stores values as bound."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "DECIMAL38_BLOB"


class ExactInt(TypeDecorator[int]):
    """An integer of up to 38 digits, exact on PostgreSQL and SQLite."""

    impl = Numeric(38, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SqliteExactInt())
        return dialect.type_descriptor(Numeric(38, 0, asdecimal=True))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> object:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return value if _INT64_MIN <= value <= _INT64_MAX else str(value)
        return Decimal(value)

    def process_result_value(self, value: object, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, Decimal | str | bytes):
            return int(value)
        raise TypeError(f"unexpected stored value {value!r} for an exact integer")
