"""Alembic environment of the read models: runs on the connection `connect.migrate` passes.

Migrations are applied by `SqlDatabase.open`, never from a command line with an ini file; a
developer generating a revision passes a connection the same way (see docs/architecture.md).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from tradehall.adapters.sql.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if not isinstance(_connection, Connection):
    raise RuntimeError("run the read-model migrations through SqlDatabase.open "
                       "(tradehall.adapters.sql), which passes the connection")
_run(_connection)
