"""SQL read models and identity store (SQLAlchemy 2 Core, async): SQLite by default, PostgreSQL
by DSN.

`SqlDatabase.open(url)` migrates the schema (Alembic, inside the package) and exposes
`read_model` (`SqlReadModel`), `identity` (`SqlIdentityStore`) and `projector(subscription)`
(`SqlProjector`). The projections are write-through copies of the engine's events, never the
source of truth: a fresh database is rebuilt by replaying the journal. Only `bootstrap.py`
and tests import this package.
"""

from tradehall.adapters.sql.database import SqlDatabase
from tradehall.adapters.sql.identity import SqlIdentityStore
from tradehall.adapters.sql.projector import SqlProjector
from tradehall.adapters.sql.read_model import SqlReadModel

__all__ = ["SqlDatabase", "SqlIdentityStore", "SqlProjector", "SqlReadModel"]
