"""Compliance: the hash-chained audit trail and the KYC document vault: SQLAlchemy Core tables
(migration 0006).

`audit_log` is append-only: each row keeps the hash of the row before and its own hash over
its canonical content; `audit_head` holds the last seq and hash (the row appends lock, and
what detects entries cut from the end). `detail` is the canonical JSON the hash covers.
`kyc_documents` holds document metadata and the wrapped data key only: the ciphertext is in
the blob store, and no column ever holds a document byte in clear.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, LargeBinary, String, Table, Text

from tradehall.adapters.sql.tables import metadata as metadata

audit_log = Table(
    "audit_log", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("ts_ns", BigInteger, nullable=False),
    Column("action", String(64), nullable=False),
    Column("actor", String(256), nullable=True),
    Column("target", String(256), nullable=True),
    Column("ip", String(64), nullable=False),
    Column("user_agent", String(256), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Index(None, "actor", "seq"),
    Index(None, "action", "seq"),
    Index(None, "ts_ns"),
)

audit_head = Table(
    "audit_head", metadata,
    Column("name", String(16), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

kyc_documents = Table(
    "kyc_documents", metadata,
    Column("document_id", String(36), primary_key=True),
    Column("owner_id", String(36), ForeignKey("users.user_id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("content_type", String(64), nullable=False),
    Column("filename", String(128), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("key_id", String(64), nullable=False, index=True),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("blob_ref", String(128), nullable=False),
    Column("uploaded_ns", BigInteger, nullable=False),
    Column("reviewed_by", String(36), nullable=True),
    Column("reviewed_ns", BigInteger, nullable=True),
    Column("review_reason", Text, nullable=True),
    Index(None, "owner_id", "uploaded_ns"),
    Index(None, "status", "uploaded_ns"),
)
