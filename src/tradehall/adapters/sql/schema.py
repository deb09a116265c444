"""Every table of the read-model database in one `metadata`: what the migrations must build.

`tables.py` holds the projections, users and API keys; each identity and compliance part keeps
its tables in its own `tables_<part>.py` on the same `metadata`. Import `metadata` from here
(migrations, the schema test) so that no part's tables are missed.
"""

from __future__ import annotations

from tradehall.adapters.sql import (
    tables_accounts,
    tables_compliance,
    tables_external,
    tables_fallback,
    tables_keys,
    tables_sessions,
)
from tradehall.adapters.sql.tables import metadata as metadata

PARTS = (tables_accounts, tables_compliance, tables_external, tables_fallback, tables_keys,
         tables_sessions)
