"""API keys: request nonces and anything else signed requests and rate limits keep in SQL:
SQLAlchemy Core tables (migration 0005).
"""

from __future__ import annotations

from tradehall.adapters.sql.tables import metadata as metadata
