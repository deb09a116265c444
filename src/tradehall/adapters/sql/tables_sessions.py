"""Sessions: access-token signing keys, sessions and devices, refresh-token families, user alerts:
SQLAlchemy Core tables (migration 0003).

Refresh tokens are stored as SHA-256 hex only; signing keys keep their private half as PEM,
wrapped by the key provider when one is wired (`key_wrapping` names how).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Table, Text

from tradehall.adapters.sql.tables import metadata as metadata

signing_keys = Table(
    "signing_keys", metadata,
    Column("kid", String(64), primary_key=True),
    Column("algorithm", String(16), nullable=False),
    Column("public_pem", Text, nullable=False),
    Column("private_key", Text, nullable=False),
    Column("key_wrapping", String(64), nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("retired_ns", BigInteger, nullable=True),
    Column("drop_after_ns", BigInteger, nullable=True),
)

sessions = Table(
    "sessions", metadata,
    Column("session_id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.user_id"), nullable=False),
    Column("device_id", String(36), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("user_agent", String(512), nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("last_seen_ns", BigInteger, nullable=False),
    Column("expires_ns", BigInteger, nullable=False),
    Column("revoked_ns", BigInteger, nullable=True),
    Column("revoked_reason", String(32), nullable=True),
    Index(None, "user_id", "created_ns"),
    Index(None, "revoked_ns"),
)

refresh_tokens = Table(
    "refresh_tokens", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("session_id", String(36), ForeignKey("sessions.session_id"), nullable=False,
           index=True),
    Column("created_ns", BigInteger, nullable=False),
    Column("expires_ns", BigInteger, nullable=False),
    Column("used_ns", BigInteger, nullable=True),
)

devices = Table(
    "devices", metadata,
    Column("device_id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.user_id"), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("user_agent", String(512), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("first_seen_ns", BigInteger, nullable=False),
    Column("last_seen_ns", BigInteger, nullable=False),
    Index(None, "user_id", "fingerprint", unique=True),
)

alerts = Table(
    "alerts", metadata,
    Column("alert_id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.user_id"), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("title", String(200), nullable=False),
    Column("detail", Text, nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("read_ns", BigInteger, nullable=True),
    Index(None, "user_id", "created_ns"),
)
