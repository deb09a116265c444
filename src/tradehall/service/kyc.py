"""`KycService`: upload, list, read and review KYC documents (`platform.kyc`).

Owners upload and read their own documents; compliance (and admin) list and review any. A
document that is not the caller's is `NotFound`, exactly like one that does not exist, so ids
leak nothing. Content is encrypted in memory by the `DocumentVault` before the blob store sees
it; the blob is written before the metadata row, so a row never points at nothing. Every read
of content and every review is audited; audit entries name ids, kinds and sizes, never
content. Refusals change nothing.
"""

from __future__ import annotations

import msgspec

from tradehall.compliance.audit import AuditLog
from tradehall.compliance.documents import (
    CONTENT_TYPES,
    KINDS,
    MAX_DOCUMENT_BYTES,
    Decision,
    DocumentStatus,
    KycDocument,
    KycDocumentStore,
    KycStatus,
    content_matches,
    kyc_status,
)
from tradehall.compliance.vault import BlobStore, DocumentVault
from tradehall.identity.context import RequestContext
from tradehall.identity.principal import Principal, require_role
from tradehall.kernel.clock import Clock
from tradehall.kernel.errors import Conflict, InvalidInput, NotFound, Rejected, TradehallError
from tradehall.kernel.ids import random_uuid

REVIEWER_ROLE = "compliance"
MAX_REASON = 1000
MAX_FILENAME = 128


class DocumentTooLarge(Rejected):
    """The document is larger than the vault accepts (the API answers 413)."""

    code = "document_too_large"


class UnsupportedDocumentType(Rejected):
    """The content type is not on the allow-list (the API answers 415)."""

    code = "unsupported_document_type"


class KycOverview(msgspec.Struct, frozen=True, kw_only=True):
    """A user's KYC status and their documents."""

    user_id: str
    status: KycStatus
    documents: list[KycDocument]


class RewrapReport(msgspec.Struct, frozen=True, kw_only=True):
    """What a re-wrap of the document keys did."""

    key_id: str
    rewrapped: int
    failed: list[str]
    """Documents whose key did not unwrap (altered rows): they need an investigation."""


class KycService:
    """The KYC document use cases."""

    def __init__(self, store: KycDocumentStore, blobs: BlobStore, vault: DocumentVault,
                 audit: AuditLog, clock: Clock) -> None:
        self._store = store
        self._blobs = blobs
        self._vault = vault
        self._audit = audit
        self._clock = clock

    # -- Owners ---------------------------------------------------------------------------------

    async def upload(self, caller: Principal, *, kind: str, content_type: str, filename: str,
                     content: bytes, ctx: RequestContext | None = None) -> KycDocument:
        """Encrypt and store a document of the caller's."""
        ctx = ctx or RequestContext()
        _check_upload(kind, content_type, content)
        document_id = random_uuid()
        sealed = self._vault.seal(document_id, caller.user_id, content)
        blob_ref = f"{document_id[:2]}/{document_id}"
        await self._blobs.put(blob_ref, sealed.blob)
        document = KycDocument(
            document_id=document_id, owner_id=caller.user_id, kind=kind,
            content_type=content_type, filename=_clean_filename(filename), size=len(content),
            status="pending", key_id=sealed.wrapped_key.key_id, wrapped_key=sealed.wrapped_key,
            blob_ref=blob_ref, uploaded_ns=self._clock.now_ns())
        try:
            await self._store.add(document)
        except BaseException:
            await self._blobs.delete(blob_ref)
            raise
        await self._audit.record("kyc.document_uploaded", actor=caller.user_id,
                                 target=document_id, ip=ctx.ip, user_agent=ctx.user_agent,
                                 detail={"kind": kind, "content_type": content_type,
                                         "size": len(content)})
        return document

    async def list_own(self, caller: Principal) -> list[KycDocument]:
        """The caller's documents, newest first."""
        return await self._store.find(owner_id=caller.user_id)

    async def get(self, caller: Principal, document_id: str) -> KycDocument:
        """A document's metadata: the caller's own, or any for compliance."""
        document = await self._store.get(document_id) if len(document_id) <= 64 else None
        if document is None or not (document.owner_id == caller.user_id
                                    or caller.has_role(REVIEWER_ROLE)):
            raise NotFound(f"no document {document_id}", code="document_not_found")
        return document

    async def read(self, caller: Principal, document_id: str,
                   ctx: RequestContext | None = None) -> tuple[KycDocument, bytes]:
        """Decrypt a document (the caller's own, or any for compliance); audited."""
        ctx = ctx or RequestContext()
        try:
            document = await self.get(caller, document_id)
        except NotFound:
            await self._audit.record("kyc.document_read", actor=caller.user_id,
                                     target=document_id[:64], ip=ctx.ip,
                                     user_agent=ctx.user_agent, outcome="denied")
            raise
        detail = {"owner_id": document.owner_id, "kind": document.kind}
        try:
            try:
                blob = await self._blobs.get(document.blob_ref)
            except NotFound:
                raise Conflict("the stored document is missing",
                               code="document_missing") from None
            content = self._vault.open(document.document_id, document.owner_id,
                                       document.wrapped_key, blob)
        except TradehallError as error:
            await self._audit.record("kyc.document_read", actor=caller.user_id,
                                     target=document_id, ip=ctx.ip, user_agent=ctx.user_agent,
                                     outcome="failure", detail={**detail, "error": error.code})
            raise
        await self._audit.record("kyc.document_read", actor=caller.user_id, target=document_id,
                                 ip=ctx.ip, user_agent=ctx.user_agent, detail=detail)
        return document, content

    # -- Compliance -----------------------------------------------------------------------------

    async def list_documents(self, caller: Principal, *, status: str | None = None,
                             owner_id: str | None = None, limit: int = 100,
                             before_ns: int | None = None) -> list[KycDocument]:
        """Any user's documents, newest first (compliance)."""
        caller_must_review(caller)
        if status is not None and status not in ("pending", "approved", "rejected"):
            raise InvalidInput("status", "pending, approved or rejected")
        return await self._store.find(owner_id=owner_id, status=status,
                                      limit=max(1, min(limit, 500)), before_ns=before_ns)

    async def review(self, caller: Principal, document_id: str, *, decision: Decision,
                     reason: str, ctx: RequestContext | None = None) -> KycDocument:
        """Approve or reject a pending document with a reason (compliance); audited."""
        ctx = ctx or RequestContext()
        caller_must_review(caller)
        if decision not in ("approve", "reject"):
            raise InvalidInput("decision", "approve or reject")
        reason = reason.strip()
        if decision == "reject" and not reason:
            raise InvalidInput("reason", "a rejection needs a reason", code="reason_required")
        if len(reason) > MAX_REASON:
            raise InvalidInput("reason", f"at most {MAX_REASON} characters")
        document = await self.get(caller, document_id)
        if document.owner_id == caller.user_id:
            raise Conflict("nobody reviews their own documents", code="own_document")
        status: DocumentStatus = "approved" if decision == "approve" else "rejected"
        if not await self._store.review(document_id, status=status, reviewer=caller.user_id,
                                        reason=reason, ts_ns=self._clock.now_ns()):
            raise Conflict(f"document {document_id} was already reviewed",
                           code="already_reviewed")
        await self._audit.record(f"kyc.document_{status}", actor=caller.user_id,
                                 target=document_id, ip=ctx.ip, user_agent=ctx.user_agent,
                                 detail={"owner_id": document.owner_id, "kind": document.kind,
                                         "reason": reason[:200]})
        return await self.get(caller, document_id)

    async def status_of(self, caller: Principal, user_id: str) -> KycOverview:
        """A user's KYC status: the caller's own, or anyone's for compliance."""
        if user_id != caller.user_id and not caller.has_role(REVIEWER_ROLE):
            raise NotFound(f"no KYC record for user {user_id}", code="user_not_found")
        documents = await self._store.find(owner_id=user_id, limit=500)
        return KycOverview(user_id=user_id, status=kyc_status(documents), documents=documents)

    # -- Keys -----------------------------------------------------------------------------------

    async def rewrap_all(self) -> RewrapReport:
        """Re-wrap every document key not under the current master key (blobs untouched)."""
        current = self._vault.current_key_id
        rewrapped, failed, after = 0, [], ""
        while batch := await self._store.not_under(current, after_id=after):
            for document in batch:
                try:
                    wrapped = self._vault.rewrap(document.document_id, document.owner_id,
                                                 document.wrapped_key)
                except TradehallError:
                    failed.append(document.document_id)
                    continue
                if await self._store.rekey(document.document_id, old_key_id=document.key_id,
                                           wrapped=wrapped):
                    rewrapped += 1
            after = batch[-1].document_id
        await self._audit.record("kyc.keys_rewrapped", actor=None, target=current,
                                 detail={"rewrapped": rewrapped, "failed": failed[:50]})
        return RewrapReport(key_id=current, rewrapped=rewrapped, failed=failed)


def caller_must_review(caller: Principal) -> None:
    """Raise Forbidden unless the caller is compliance (or admin)."""
    require_role(caller, REVIEWER_ROLE)


def _check_upload(kind: str, content_type: str, content: bytes) -> None:
    if kind not in KINDS:
        raise InvalidInput("kind", f"one of {', '.join(KINDS)}", code="invalid_document_kind")
    if content_type not in CONTENT_TYPES:
        raise UnsupportedDocumentType(
            f"documents may be {', '.join(sorted(CONTENT_TYPES))}, not {content_type[:64]!r}")
    if len(content) > MAX_DOCUMENT_BYTES:
        raise DocumentTooLarge(f"documents are limited to {MAX_DOCUMENT_BYTES} bytes")
    if not content:
        raise InvalidInput("file", "the document is empty", code="empty_document")
    if not content_matches(content_type, content):
        raise InvalidInput("file", f"the content is not {content_type}",
                           code="content_type_mismatch")


def _clean_filename(filename: str) -> str:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>|:*?')
    return cleaned[:MAX_FILENAME] or "document"
