"""`SqlKycDocumentStore`: KYC document metadata (and wrapped data keys) in the read-model
database.

Rows hold metadata and the wrapped data key, never content. A review is a conditional update
(`status = 'pending'`), so two reviewers racing cannot both decide; a re-key is conditional on
the old master key id, so a rotation run twice never loses a newer wrap.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tradehall.adapters.sql import tables_compliance as tc
from tradehall.compliance.documents import DocumentStatus, KycDocument
from tradehall.compliance.keys import WrappedKey
from tradehall.compliance.vault import decode_wrapped, encode_wrapped


class SqlKycDocumentStore:
    """KYC document records; implements `KycDocumentStore`."""

    def __init__(self, engine: AsyncEngine, writer: AsyncEngine) -> None:
        self._engine = engine
        self._writer = writer

    async def add(self, document: KycDocument) -> None:
        row = {"document_id": document.document_id, "owner_id": document.owner_id,
               "kind": document.kind, "content_type": document.content_type,
               "filename": document.filename, "size": document.size,
               "status": document.status, "key_id": document.key_id,
               "wrapped_key": encode_wrapped(document.wrapped_key),
               "blob_ref": document.blob_ref, "uploaded_ns": document.uploaded_ns}
        async with self._writer.begin() as conn:
            await conn.execute(insert(tc.kyc_documents), row)

    async def get(self, document_id: str) -> KycDocument | None:
        docs = tc.kyc_documents
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(docs).where(docs.c.document_id == document_id))
                   ).mappings().first()
        return None if row is None else _document(row)

    async def find(self, *, owner_id: str | None = None, status: str | None = None,
                   limit: int = 100, before_ns: int | None = None) -> list[KycDocument]:
        docs = tc.kyc_documents
        query = select(docs).order_by(docs.c.uploaded_ns.desc(), docs.c.document_id.desc())
        if owner_id is not None:
            query = query.where(docs.c.owner_id == owner_id)
        if status is not None:
            query = query.where(docs.c.status == status)
        if before_ns is not None:
            query = query.where(docs.c.uploaded_ns < before_ns)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.limit(limit))).mappings().all()
        return [_document(row) for row in rows]

    async def review(self, document_id: str, *, status: DocumentStatus, reviewer: str,
                     reason: str, ts_ns: int) -> bool:
        docs = tc.kyc_documents
        async with self._writer.begin() as conn:
            result = await conn.execute(
                update(docs).where(docs.c.document_id == document_id,
                                   docs.c.status == "pending")
                .values(status=status, reviewed_by=reviewer, reviewed_ns=ts_ns,
                        review_reason=reason))
        return bool(result.rowcount)

    async def rekey(self, document_id: str, *, old_key_id: str, wrapped: WrappedKey) -> bool:
        docs = tc.kyc_documents
        async with self._writer.begin() as conn:
            result = await conn.execute(
                update(docs).where(docs.c.document_id == document_id,
                                   docs.c.key_id == old_key_id)
                .values(key_id=wrapped.key_id, wrapped_key=encode_wrapped(wrapped)))
        return bool(result.rowcount)

    async def not_under(self, key_id: str, *, after_id: str = "",
                        limit: int = 500) -> list[KycDocument]:
        docs = tc.kyc_documents
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(docs).where(docs.c.key_id != key_id,
                                                          docs.c.document_id > after_id)
                                       .order_by(docs.c.document_id).limit(limit))
                    ).mappings().all()
        return [_document(row) for row in rows]


def _document(row: Any) -> KycDocument:
    return KycDocument(
        document_id=row["document_id"], owner_id=row["owner_id"], kind=row["kind"],
        content_type=row["content_type"], filename=row["filename"], size=int(row["size"]),
        status=cast(DocumentStatus, row["status"]), key_id=row["key_id"],
        wrapped_key=decode_wrapped(bytes(row["wrapped_key"])), blob_ref=row["blob_ref"],
        uploaded_ns=int(row["uploaded_ns"]), reviewed_by=row["reviewed_by"],
        reviewed_ns=row["reviewed_ns"], review_reason=row["review_reason"])
