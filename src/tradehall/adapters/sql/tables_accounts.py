"""Accounts: one-time tokens (e-mail verification, password reset), TOTP secrets, recovery codes,
mail outbox: SQLAlchemy Core tables (migration 0004).

Tokens and recovery codes are stored as SHA-256 hex digests only; TOTP secrets sealed by the
secret box bootstrap gives the store. Login throttling counts in process (or in Redis), so it
has no table: the lasting part of a lockout is `users.locked_until_ns`.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, String, Table, Text

from tradehall.adapters.sql.tables import metadata as metadata

account_tokens = Table(
    "account_tokens", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("purpose", String(32), nullable=False),
    Column("user_id", String(36), ForeignKey("users.user_id"), nullable=False, index=True),
    Column("created_ns", BigInteger, nullable=False),
    Column("expires_ns", BigInteger, nullable=False),
    Column("used_ns", BigInteger, nullable=True),
)

totp_secrets = Table(
    "totp_secrets", metadata,
    Column("user_id", String(36), ForeignKey("users.user_id"), primary_key=True),
    Column("secret_sealed", Text, nullable=False),
    Column("confirmed", Boolean, nullable=False),
    Column("last_step", BigInteger, nullable=True),
    Column("created_ns", BigInteger, nullable=False),
)

recovery_codes = Table(
    "recovery_codes", metadata,
    Column("user_id", String(36), ForeignKey("users.user_id"), primary_key=True),
    Column("code_hash", String(64), primary_key=True),
    Column("used_ns", BigInteger, nullable=True),
)

mail_outbox = Table(
    "mail_outbox", metadata,
    Column("mail_id", String(36), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("to_address", String(254), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("sent_ns", BigInteger, nullable=True),
    Index(None, "to_address", "created_ns"),
)
