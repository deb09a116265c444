"""KYC documents: upload, list, read and review (`/v1/kyc`).

Owners upload (multipart: a `kind` field and a `file` part) and read their own documents;
compliance (and admin) list any, read any and approve or reject pending ones. Another user's
document answers 404 like a missing one. The body is parsed in memory (`uploads.py`) and the
content encrypted before it is stored; the content route answers with `no-store`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from tradehall.compliance.documents import CONTENT_TYPES, KINDS, MAX_DOCUMENT_BYTES, KycDocument
from tradehall.entrypoints.api.deps import ContextDep, PlatformDep, PrincipalDep, role
from tradehall.entrypoints.api.errors import ApiError, error_responses
from tradehall.entrypoints.api.uploads import read_form
from tradehall.kernel.clock import NANOS_PER_SECOND
from tradehall.kernel.errors import InvalidInput
from tradehall.service.auth import Principal
from tradehall.service.kyc import DocumentTooLarge, UnsupportedDocumentType

router = APIRouter(prefix="/v1/kyc", tags=["kyc"])

UPLOAD_PATH = "/v1/kyc/documents"
MAX_UPLOAD_BODY = MAX_DOCUMENT_BYTES + 64 * 1024
"""Body limit of the upload route: the document plus the multipart framing."""
ComplianceDep = Annotated[Principal, Depends(role("compliance"))]

_UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {
    "schema": {"type": "object", "required": ["kind", "file"], "properties": {
        "kind": {"type": "string", "enum": list(KINDS)},
        "file": {"type": "string", "format": "binary",
                 "description": f"{', '.join(sorted(CONTENT_TYPES))}; at most "
                                f"{MAX_DOCUMENT_BYTES} bytes"}}}}}}}


class DocumentPublic(BaseModel):
    document_id: str
    owner_id: str
    kind: str
    content_type: str
    filename: str
    size: int
    status: str
    uploaded_at_s: int
    reviewed_by: str | None
    reviewed_at_s: int | None
    review_reason: str | None


class DocumentsPublic(BaseModel):
    documents: list[DocumentPublic]
    next_before_ns: int | None = None
    """Pass as `before_ns` for the next (older) page; null when this is the last."""


class KycStatusPublic(BaseModel):
    user_id: str
    status: str
    documents: list[DocumentPublic]


class ReviewDocumentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    reason: str = Field(default="", max_length=1000)
    """Why (required to reject)."""


@router.post("/documents", status_code=201, response_model=DocumentPublic,
             openapi_extra=_UPLOAD_BODY, responses=error_responses(401, 413, 415, 422))
async def upload_document(request: Request, platform: PlatformDep, principal: PrincipalDep,
                          ctx: ContextDep) -> DocumentPublic:
    """Upload a KYC document of your own (multipart: `kind`, `file`)."""
    form = await read_form(request, max_body_bytes=MAX_UPLOAD_BODY,
                           max_part_bytes=MAX_DOCUMENT_BYTES)
    kind, file = form.get("kind"), form.get("file")
    if kind is None:
        raise InvalidInput("kind", "the form needs a kind field", code="missing_field")
    if file is None or file.filename is None:
        raise InvalidInput("file", "the form needs a file part", code="missing_field")
    try:
        document = await platform.kyc.upload(
            principal, kind=kind.data.decode("utf-8", "replace").strip(),
            content_type=file.content_type or "application/octet-stream",
            filename=file.filename, content=bytes(file.data), ctx=ctx)
    except DocumentTooLarge as error:
        raise ApiError(413, error.code, error.message) from None
    except UnsupportedDocumentType as error:
        raise ApiError(415, error.code, error.message) from None
    return _public(document)


@router.get("/documents", response_model=DocumentsPublic, responses=error_responses(401, 403))
async def list_documents(
    platform: PlatformDep, principal: PrincipalDep,
    scope: Annotated[Literal["own", "all"], Query()] = "own",
    status: Annotated[Literal["pending", "approved", "rejected"] | None, Query()] = None,
    owner_id: Annotated[str | None, Query(max_length=64)] = None,
    before_ns: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DocumentsPublic:
    """Your documents; with `scope=all` (compliance) anyone's, by status or owner."""
    if scope == "own" and owner_id is None:
        documents = await platform.kyc.list_own(principal)
        if status is not None:
            documents = [d for d in documents if d.status == status]
        return DocumentsPublic(documents=[_public(d) for d in documents])
    documents = await platform.kyc.list_documents(principal, status=status, owner_id=owner_id,
                                                  limit=limit, before_ns=before_ns)
    next_before = documents[-1].uploaded_ns if len(documents) == limit else None
    return DocumentsPublic(documents=[_public(d) for d in documents], next_before_ns=next_before)


@router.get("/status", response_model=KycStatusPublic, responses=error_responses(401, 404))
async def kyc_status(platform: PlatformDep, principal: PrincipalDep,
                     user_id: Annotated[str | None, Query(max_length=64)] = None,
                     ) -> KycStatusPublic:
    """Your KYC status (compliance: any user's, by `user_id`)."""
    overview = await platform.kyc.status_of(principal, user_id or principal.user_id)
    return KycStatusPublic(user_id=overview.user_id, status=overview.status,
                           documents=[_public(d) for d in overview.documents])


@router.get("/documents/{document_id}", response_model=DocumentPublic,
            responses=error_responses(401, 404))
async def get_document(document_id: str, platform: PlatformDep,
                       principal: PrincipalDep) -> DocumentPublic:
    """A document's metadata (yours, or any for compliance)."""
    return _public(await platform.kyc.get(principal, document_id))


@router.get("/documents/{document_id}/content", response_class=Response,
            responses={200: {"content": {t: {} for t in sorted(CONTENT_TYPES)},
                             "description": "the document"},
                       **error_responses(401, 404, 409, 503)})
async def get_document_content(document_id: str, platform: PlatformDep,
                               principal: PrincipalDep, ctx: ContextDep) -> Response:
    """Download a document, decrypted (yours, or any for compliance); audited."""
    document, content = await platform.kyc.read(principal, document_id, ctx)
    return Response(content, media_type=document.content_type, headers={
        "Content-Disposition": f'attachment; filename="{_ascii(document.filename)}"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@router.post("/documents/{document_id}/review", response_model=DocumentPublic,
             responses=error_responses(401, 403, 404, 409, 422))
async def review_document(document_id: str, body: ReviewDocumentRequest, platform: PlatformDep,
                          principal: ComplianceDep, ctx: ContextDep) -> DocumentPublic:
    """Approve or reject a pending document (compliance); audited."""
    document = await platform.kyc.review(principal, document_id, decision=body.decision,
                                         reason=body.reason, ctx=ctx)
    return _public(document)


def _public(document: KycDocument) -> DocumentPublic:
    return DocumentPublic(
        document_id=document.document_id, owner_id=document.owner_id, kind=document.kind,
        content_type=document.content_type, filename=document.filename, size=document.size,
        status=document.status, uploaded_at_s=document.uploaded_ns // NANOS_PER_SECOND,
        reviewed_by=document.reviewed_by,
        reviewed_at_s=None if document.reviewed_ns is None
        else document.reviewed_ns // NANOS_PER_SECOND,
        review_reason=document.review_reason)


def _ascii(name: str) -> str:
    return "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in name)
