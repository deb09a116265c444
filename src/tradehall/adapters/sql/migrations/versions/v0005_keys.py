"""API keys: the sealed request-signing key of each API key (tables_keys.py).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_key_signing",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("sealed_key", sa.LargeBinary(), nullable=False),
        sa.Column("key_wrapping", sa.String(length=64), nullable=False),
        sa.Column("created_ns", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.key_id"],
                                name=op.f("fk_api_key_signing_key_id_api_keys")),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_api_key_signing")),
    )


def downgrade() -> None:
    op.drop_table("api_key_signing")
