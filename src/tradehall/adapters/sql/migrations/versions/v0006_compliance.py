"""Compliance: the hash-chained audit trail and the KYC document vault.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=True),
        sa.Column("target", sa.String(length=256), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=256), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_log_hash")),
    )
    op.create_index(op.f("ix_audit_log_actor_seq"), "audit_log", ["actor", "seq"])
    op.create_index(op.f("ix_audit_log_action_seq"), "audit_log", ["action", "seq"])
    op.create_index(op.f("ix_audit_log_ts_ns"), "audit_log", ["ts_ns"])
    head = op.create_table(
        "audit_head",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_audit_head")),
    )
    op.bulk_insert(head, [{"name": "audit", "seq": 0, "hash": GENESIS_HASH}])
    op.create_table(
        "kyc_documents",
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("blob_ref", sa.String(length=128), nullable=False),
        sa.Column("uploaded_ns", sa.BigInteger(), nullable=False),
        sa.Column("reviewed_by", sa.String(length=36), nullable=True),
        sa.Column("reviewed_ns", sa.BigInteger(), nullable=True),
        sa.Column("review_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["users.user_id"],
                                name=op.f("fk_kyc_documents_owner_id_users")),
        sa.PrimaryKeyConstraint("document_id", name=op.f("pk_kyc_documents")),
    )
    op.create_index(op.f("ix_kyc_documents_key_id"), "kyc_documents", ["key_id"])
    op.create_index(op.f("ix_kyc_documents_owner_id_uploaded_ns"), "kyc_documents",
                    ["owner_id", "uploaded_ns"])
    op.create_index(op.f("ix_kyc_documents_status_uploaded_ns"), "kyc_documents",
                    ["status", "uploaded_ns"])


def downgrade() -> None:
    op.drop_table("kyc_documents")
    op.drop_table("audit_head")
    op.drop_table("audit_log")
