"""External identity: trusted identity providers' subjects linked to tradehall users:
SQLAlchemy Core tables (migration 0007).

A link is keyed by the provider's issuer and subject (never by a username the provider
sends), so a user renamed at the provider stays the same tradehall user.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, String, Table

from tradehall.adapters.sql.tables import metadata as metadata

external_identities = Table(
    "external_identities", metadata,
    Column("issuer", String(255), primary_key=True),
    Column("subject", String(255), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.user_id"), nullable=False, index=True),
    Column("created_ns", BigInteger, nullable=False),
)
