"""KYC documents: what a document record is, which kinds and types are accepted, the status.

A `KycDocument` is metadata only (owner, kind, content type, size, review state, the wrapped
data key): the content lives encrypted in the blob store (`vault.py`). `KycDocumentStore` is
the port the SQL adapter implements. A user's KYC status follows from their documents:
verified once an identity document (passport or id card) is approved. Pure: no I/O.
"""

from __future__ import annotations

from typing import Literal, Protocol

import msgspec

from tradehall.compliance.keys import WrappedKey

DocumentKind = Literal["passport", "id_card", "proof_of_address", "selfie"]
KINDS: tuple[DocumentKind, ...] = ("passport", "id_card", "proof_of_address", "selfie")
IDENTITY_KINDS = frozenset({"passport", "id_card"})
CONTENT_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png"})
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
"""Largest document accepted (10 MiB)."""

DocumentStatus = Literal["pending", "approved", "rejected"]
KycStatus = Literal["unverified", "pending", "verified", "rejected"]
Decision = Literal["approve", "reject"]

# Magic numbers of the accepted types: a declared type must match the bytes sent.
_SIGNATURES = {"application/pdf": (b"%PDF-",), "image/jpeg": (b"\xff\xd8\xff",),
               "image/png": (b"\x89PNG\r\n\x1a\n",)}


class KycDocument(msgspec.Struct, frozen=True, kw_only=True):
    """One uploaded document's metadata."""

    document_id: str
    owner_id: str
    kind: str
    content_type: str
    filename: str
    size: int
    status: DocumentStatus
    key_id: str
    """The master key version its data key is wrapped under."""
    wrapped_key: WrappedKey
    blob_ref: str
    uploaded_ns: int
    reviewed_by: str | None = None
    reviewed_ns: int | None = None
    review_reason: str | None = None


class KycDocumentStore(Protocol):
    """Where document metadata lives."""

    async def add(self, document: KycDocument) -> None:
        """Store a new document record."""
        ...

    async def get(self, document_id: str) -> KycDocument | None:
        """The document with this id, or None."""
        ...

    async def find(self, *, owner_id: str | None = None, status: str | None = None,
                   limit: int = 100, before_ns: int | None = None) -> list[KycDocument]:
        """Documents newest first, filtered."""
        ...

    async def review(self, document_id: str, *, status: DocumentStatus, reviewer: str,
                     reason: str, ts_ns: int) -> bool:
        """Set a pending document's review; return False if it was no longer pending."""
        ...

    async def rekey(self, document_id: str, *, old_key_id: str, wrapped: WrappedKey) -> bool:
        """Replace a document's wrapped key if it is still under `old_key_id`."""
        ...

    async def not_under(self, key_id: str, *, after_id: str = "",
                        limit: int = 500) -> list[KycDocument]:
        """Documents (by id, after `after_id`) whose key is under another master key version."""
        ...


def content_matches(content_type: str, content: bytes) -> bool:
    """Whether the bytes start like the declared type."""
    return any(content.startswith(sig) for sig in _SIGNATURES.get(content_type, ()))


def kyc_status(documents: list[KycDocument]) -> KycStatus:
    """A user's KYC status from their documents."""
    statuses = {d.status for d in documents}
    if any(d.status == "approved" and d.kind in IDENTITY_KINDS for d in documents):
        return "verified"
    if "pending" in statuses:
        return "pending"
    if "rejected" in statuses:
        return "rejected"
    return "unverified"
