"""Fallback and dealing desk: requests, idempotency keys, the platform mode (migration 0008).

`open_target` is the request's target while it is open and NULL once final; the unique index
on (account, open_target) is what guarantees one open request per order or position across
every process. `platform_mode` has one row (name 'platform'); writes are conditional on its
version.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, String, Table, Text

from tradehall.adapters.sql.tables import metadata as metadata

fallback_requests = Table(
    "fallback_requests", metadata,
    Column("id", String(36), primary_key=True),
    Column("account", String(64), nullable=False),
    Column("user_id", String(36), nullable=False),
    Column("username", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("order_id", String(36), nullable=True),
    Column("side", String(8), nullable=False),
    Column("qty", BigInteger, nullable=True),
    Column("known_qty", BigInteger, nullable=False),
    Column("known_price", BigInteger, nullable=True),
    Column("notional", BigInteger, nullable=False),
    Column("note", Text, nullable=False),
    Column("batch_id", String(36), nullable=True),
    Column("status", String(20), nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("updated_ns", BigInteger, nullable=False),
    Column("claimed_by", String(64), nullable=True),
    Column("claim_expires_ns", BigInteger, nullable=True),
    Column("decided_by", String(64), nullable=True),
    Column("approved_by", String(64), nullable=True),
    Column("execution", String(8), nullable=True),
    Column("price", BigInteger, nullable=True),
    Column("executed_qty", BigInteger, nullable=True),
    Column("executed_ns", BigInteger, nullable=True),
    Column("booking", String(8), nullable=False),
    Column("reject_code", String(64), nullable=True),
    Column("reject_reason", Text, nullable=True),
    Column("engine_order_id", String(36), nullable=True),
    Column("version", BigInteger, nullable=False),
    Column("open_target", String(80), nullable=True),
    Index(None, "account", "open_target", unique=True),
    Index(None, "status", "created_ns"),
    Index(None, "account", "created_ns"),
    Index(None, "account", "updated_ns"),
)

fallback_idempotency = Table(
    "fallback_idempotency", metadata,
    Column("account", String(64), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("request_ids", Text, nullable=False),
    Column("created_ns", BigInteger, nullable=False),
)

platform_mode = Table(
    "platform_mode", metadata,
    Column("name", String(16), primary_key=True),
    Column("mode", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("set_by", String(64), nullable=False),
    Column("since_ns", BigInteger, nullable=False),
    Column("automatic", Boolean, nullable=False),
    Column("previous", String(16), nullable=False),
    Column("version", BigInteger, nullable=False),
)
