"""The audit trail for compliance and admins (`/v1/audit`): search it, verify its hash chain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from tradehall.compliance.audit import AuditEntry
from tradehall.entrypoints.api.deps import PlatformDep, role
from tradehall.entrypoints.api.errors import error_responses
from tradehall.kernel.clock import NANOS_PER_SECOND
from tradehall.service.auth import Principal

router = APIRouter(prefix="/v1/audit", tags=["audit"])

ComplianceDep = Annotated[Principal, Depends(role("compliance"))]


class AuditEntryPublic(BaseModel):
    seq: int
    ts_ns: int
    time: str
    """RFC 3339 UTC with nanoseconds."""
    action: str
    actor: str | None
    target: str | None
    ip: str
    user_agent: str
    outcome: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


class AuditEntriesPublic(BaseModel):
    entries: list[AuditEntryPublic]
    next_after_seq: int | None
    """Pass as `after_seq` for the next page; null when this is the last."""


class AuditVerificationPublic(BaseModel):
    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str | None
    head_seq: int
    head_hash: str


@router.get("", response_model=AuditEntriesPublic, responses=error_responses(401, 403, 422))
async def list_audit(
    platform: PlatformDep, _: ComplianceDep,
    actor: Annotated[str | None, Query(max_length=256)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[datetime | None, Query()] = None,
    after_seq: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditEntriesPublic:
    """Audit entries oldest first, by actor, action and time (`since`, ISO 8601), paged."""
    since_ns = 0 if since is None else _ns(since)
    entries = await platform.audit_trail.search(actor=actor, action=action, since_ns=since_ns,
                                                after_seq=after_seq, limit=limit)
    return AuditEntriesPublic(entries=[_public(e) for e in entries],
                              next_after_seq=entries[-1].seq if len(entries) == limit else None)


@router.get("/verify", response_model=AuditVerificationPublic,
            responses=error_responses(401, 403))
async def verify_audit(platform: PlatformDep, _: ComplianceDep) -> AuditVerificationPublic:
    """Walk the hash chain; name the first edited, missing or reordered entry."""
    result = await platform.audit_trail.verify()
    return AuditVerificationPublic(ok=result.ok, checked=result.checked,
                                   first_bad_seq=result.first_bad_seq, reason=result.reason,
                                   head_seq=result.head_seq, head_hash=result.head_hash)


def _ns(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return max(0, (delta.days * 86_400 + delta.seconds) * NANOS_PER_SECOND
               + delta.microseconds * 1000)


def _public(entry: AuditEntry) -> AuditEntryPublic:
    seconds, nanos = divmod(entry.ts_ns, NANOS_PER_SECOND)
    time = f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"
    return AuditEntryPublic(seq=entry.seq, ts_ns=entry.ts_ns, time=time, action=entry.action,
                            actor=entry.actor, target=entry.target, ip=entry.ip,
                            user_agent=entry.user_agent, outcome=entry.outcome,
                            detail=entry.detail, prev_hash=entry.prev_hash, hash=entry.hash)
