"""Fallback and dealing desk: requests, idempotency keys, the platform mode.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fallback_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=True),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=True),
        sa.Column("known_qty", sa.BigInteger(), nullable=False),
        sa.Column("known_price", sa.BigInteger(), nullable=True),
        sa.Column("notional", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claim_expires_ns", sa.BigInteger(), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("execution", sa.String(length=8), nullable=True),
        sa.Column("price", sa.BigInteger(), nullable=True),
        sa.Column("executed_qty", sa.BigInteger(), nullable=True),
        sa.Column("executed_ns", sa.BigInteger(), nullable=True),
        sa.Column("booking", sa.String(length=8), nullable=False),
        sa.Column("reject_code", sa.String(length=64), nullable=True),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.Column("engine_order_id", sa.String(length=36), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("open_target", sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fallback_requests")),
    )
    op.create_index(op.f("ix_fallback_requests_account_created_ns"), "fallback_requests",
                    ["account", "created_ns"])
    op.create_index(op.f("ix_fallback_requests_account_open_target"), "fallback_requests",
                    ["account", "open_target"], unique=True)
    op.create_index(op.f("ix_fallback_requests_account_updated_ns"), "fallback_requests",
                    ["account", "updated_ns"])
    op.create_index(op.f("ix_fallback_requests_status_created_ns"), "fallback_requests",
                    ["status", "created_ns"])
    op.create_table(
        "fallback_idempotency",
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("request_ids", sa.Text(), nullable=False),
        sa.Column("created_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account", "key", name=op.f("pk_fallback_idempotency")),
    )
    op.create_table(
        "platform_mode",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(length=64), nullable=False),
        sa.Column("since_ns", sa.BigInteger(), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("previous", sa.String(length=16), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_platform_mode")),
    )


def downgrade() -> None:
    op.drop_table("platform_mode")
    op.drop_table("fallback_idempotency")
    for name in ("status_created_ns", "account_updated_ns", "account_open_target",
                 "account_created_ns"):
        op.drop_index(op.f(f"ix_fallback_requests_{name}"), table_name="fallback_requests")
    op.drop_table("fallback_requests")
