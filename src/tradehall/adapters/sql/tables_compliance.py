"""Compliance: the hash-chained audit trail and the KYC document vault: SQLAlchemy Core tables
(migration 0006).
"""

from __future__ import annotations

from tradehall.adapters.sql.tables import metadata as metadata
