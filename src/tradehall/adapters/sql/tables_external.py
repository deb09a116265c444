"""External identity: trusted identity providers and their users' links to tradehall users:
SQLAlchemy Core tables (migration 0007).
"""

from __future__ import annotations

from tradehall.adapters.sql.tables import metadata as metadata
