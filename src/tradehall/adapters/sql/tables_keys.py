"""API keys: the sealed signing keys of signed requests: SQLAlchemy Core tables (migration 0005).

The key rows themselves (hash of the secret, scopes, IP allow-list, last use) are `api_keys` in
`tables.py`. A key's request-signing key is derived from its secret and kept here sealed by the
master key provider (`compliance/keys.py`), never in clear. Nonces and rate-limit counters are
short-lived and live in memory or Redis, not in SQL.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, LargeBinary, String, Table

from tradehall.adapters.sql.tables import metadata as metadata

api_key_signing = Table(
    "api_key_signing", metadata,
    Column("key_id", String(64), ForeignKey("api_keys.key_id"), primary_key=True),
    Column("sealed_key", LargeBinary, nullable=False),
    Column("key_wrapping", String(64), nullable=False),
    Column("created_ns", BigInteger, nullable=False),
)
