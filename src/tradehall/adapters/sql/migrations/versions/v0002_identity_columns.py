"""Identity: user e-mail, state, lockout and 2FA flags; API key scopes and IP allow-lists.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch.add_column(sa.Column("email_verified", sa.Boolean(), nullable=False,
                                   server_default=sa.text("false")))
        batch.add_column(sa.Column("state", sa.String(length=16), nullable=False,
                                   server_default="active"))
        batch.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("locked_until_ns", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("mfa_enabled", sa.Boolean(), nullable=False,
                                   server_default=sa.text("false")))
        batch.add_column(sa.Column("password_changed_ns", sa.BigInteger(), nullable=True))
        batch.create_unique_constraint(op.f("uq_users_email"), ["email"])
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("scopes", sa.JSON(), nullable=False,
                                   server_default='["read", "trade"]'))
        batch.add_column(sa.Column("ip_allow", sa.JSON(), nullable=False,
                                   server_default="[]"))
        batch.add_column(sa.Column("last_used_ns", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        for name in ("last_used_ns", "ip_allow", "scopes"):
            batch.drop_column(name)
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("uq_users_email"), type_="unique")
        for name in ("password_changed_ns", "mfa_enabled", "locked_until_ns", "failed_logins",
                     "state", "email_verified", "email"):
            batch.drop_column(name)
