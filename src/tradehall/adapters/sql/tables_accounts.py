"""Accounts: one-time tokens (e-mail verification, password reset), TOTP secrets, recovery codes,
login throttling, mail outbox: SQLAlchemy Core tables (migration 0004).
"""

from __future__ import annotations

from tradehall.adapters.sql.tables import metadata as metadata
