"""The audit trail: every security-relevant action, with who, what, when and from where.

`AuditLog` is the port every part writes to (`await audit.record(...)`); the SQL adapter keeps
the entries in a hash chain so that an edited or removed entry is detected. `MemoryAuditLog`
is the in-process implementation for tests and tools. Never put a password, secret, token or
document byte into `detail`.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

import msgspec

Outcome = Literal["success", "failure", "denied"]


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One recorded action."""

    seq: int
    ts_ns: int
    action: str
    """Dotted name, e.g. `auth.login`, `auth.login_failed`, `mfa.enabled`, `api_key.created`,
    `user.roles_changed`, `kyc.document_read`."""
    actor: str | None
    """user id of who did it (None when unknown, e.g. a failed login for a missing user)."""
    target: str | None
    """what it was done to (user id, key id, document id, ...)."""
    ip: str
    user_agent: str
    outcome: Outcome
    detail: dict[str, Any]


class AuditLog(Protocol):
    """Where security-relevant actions are recorded."""

    async def record(self, action: str, *, actor: str | None, target: str | None = None,
                     ip: str = "", user_agent: str = "", outcome: Outcome = "success",
                     detail: dict[str, Any] | None = None) -> AuditEntry:
        """Append an entry and return it (with its seq)."""
        ...

    async def entries(self, *, actor: str | None = None, action: str | None = None,
                      after_seq: int = 0, limit: int = 100) -> list[AuditEntry]:
        """Entries oldest first, filtered."""
        ...


class MemoryAuditLog:
    """An audit log kept in memory (tests, offline tools)."""

    def __init__(self, now_ns: Any) -> None:
        self._now_ns = now_ns
        self._entries: list[AuditEntry] = []

    async def record(self, action: str, *, actor: str | None, target: str | None = None,
                     ip: str = "", user_agent: str = "", outcome: Outcome = "success",
                     detail: dict[str, Any] | None = None) -> AuditEntry:
        entry = AuditEntry(seq=len(self._entries) + 1, ts_ns=int(self._now_ns()),
                           action=action, actor=actor, target=target, ip=ip,
                           user_agent=user_agent, outcome=outcome, detail=dict(detail or {}))
        self._entries.append(entry)
        return entry

    async def entries(self, *, actor: str | None = None, action: str | None = None,
                      after_seq: int = 0, limit: int = 100) -> list[AuditEntry]:
        out = [e for e in self._entries if e.seq > after_seq
               and (actor is None or e.actor == actor) and (action is None or e.action == action)]
        return out[:limit]
