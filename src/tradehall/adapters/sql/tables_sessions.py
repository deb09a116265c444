"""Sessions: access-token signing keys, sessions and devices, refresh-token families, user alerts:
SQLAlchemy Core tables (migration 0003).
"""

from __future__ import annotations

from tradehall.adapters.sql.tables import metadata as metadata
