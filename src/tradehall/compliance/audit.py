"""The audit trail: every security-relevant action, with who, what, when and from where.

`AuditLog` is the port every part writes to (`await audit.record(...)`); `AuditTrail` adds
what compliance reads with (filtered pages, chain verification). Entries form a hash chain:
each stores the hash of the previous entry and its own SHA-256 over a canonical JSON encoding
of its content (seq included), so an edited, removed or reordered entry breaks the chain and
`verify_chain` names the first bad seq. The SQL adapter (`adapters/sql/audit.py`) keeps the
chain in the database; `MemoryAuditLog` keeps it in memory for tests and tools.

Never put a password, secret, token or document byte into `detail`: `clean_detail` redacts
values under such keys and any bytes, as a second line of defence, not the first.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Any, Literal, Protocol

import msgspec

Outcome = Literal["success", "failure", "denied"]
OUTCOMES: tuple[Outcome, ...] = ("success", "failure", "denied")

GENESIS_HASH = "0" * 64
"""The `prev_hash` of the first entry."""
REDACTED = "[redacted]"
MAX_FIELD = 256
MAX_DETAIL_BYTES = 4096
_SENSITIVE = ("password", "secret", "token", "otp", "plaintext", "private", "credential",
              "cookie", "authorization")
_SENSITIVE_NAMES = frozenset({"content", "body", "document", "bytes"})
_HASH_DOMAIN = b"tradehall.audit.v1\x00"


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
    prev_hash: str = ""
    """Hash of the entry before (`GENESIS_HASH` for the first)."""
    hash: str = ""
    """SHA-256 (hex) of this entry's canonical content and `prev_hash`."""


class ChainVerification(msgspec.Struct, frozen=True, kw_only=True):
    """What a walk of the chain found."""

    ok: bool
    checked: int
    """Entries checked (up to the first bad one)."""
    first_bad_seq: int | None = None
    reason: str | None = None
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    """Hash of the last good entry: write it down elsewhere to detect a rewritten chain."""


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


class AuditTrail(AuditLog, Protocol):
    """An audit log that compliance can search and verify."""

    async def search(self, *, actor: str | None = None, action: str | None = None,
                     since_ns: int = 0, after_seq: int = 0,
                     limit: int = 100) -> list[AuditEntry]:
        """Entries oldest first with `ts_ns >= since_ns` and `seq > after_seq`, filtered."""
        ...

    async def verify(self) -> ChainVerification:
        """Walk the whole chain and report the first bad entry."""
        ...


# -- The chain ----------------------------------------------------------------------------------


class _Content(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    ts_ns: int
    action: str
    actor: str | None
    target: str | None
    ip: str
    user_agent: str
    outcome: str
    detail: dict[str, Any]
    prev_hash: str


_canonical = msgspec.json.Encoder(order="sorted")


def canonical_detail(detail: dict[str, Any]) -> str:
    """The canonical JSON text of a detail (what the hash covers, what SQL stores)."""
    return _canonical.encode(detail).decode()


def entry_hash(entry: AuditEntry, prev_hash: str) -> str:
    """Return the hash of an entry's content chained onto `prev_hash`."""
    content = _Content(seq=entry.seq, ts_ns=entry.ts_ns, action=entry.action, actor=entry.actor,
                       target=entry.target, ip=entry.ip, user_agent=entry.user_agent,
                       outcome=entry.outcome, detail=entry.detail, prev_hash=prev_hash)
    return hashlib.sha256(_HASH_DOMAIN + _canonical.encode(content)).hexdigest()


def chained(entry: AuditEntry, prev_hash: str) -> AuditEntry:
    """Return the entry with `prev_hash` and its own `hash` filled in."""
    return msgspec.structs.replace(entry, prev_hash=prev_hash, hash=entry_hash(entry, prev_hash))


def verify_chain(entries: Iterable[AuditEntry], *, head: tuple[int, str] | None = None
                 ) -> ChainVerification:
    """Check seqs run 1, 2, ... with each hash matching; `head` is the recorded last entry."""
    verifier = ChainVerifier()
    for entry in entries:
        if not verifier.feed(entry):
            break
    return verifier.result(head)


class ChainVerifier:
    """Walks a chain entry by entry (oldest first), so an adapter can stream it in pages."""

    def __init__(self) -> None:
        self._expected_seq = 1
        self._prev = GENESIS_HASH
        self._checked = 0
        self._bad: tuple[int, str] | None = None

    def feed(self, entry: AuditEntry) -> bool:
        """Check the next entry; return False once a bad one is found (stop feeding)."""
        if self._bad is not None:
            return False
        self._bad = _problem(entry, self._expected_seq, self._prev)
        if self._bad is not None:
            return False
        self._checked += 1
        self._expected_seq, self._prev = entry.seq + 1, entry.hash
        return True

    def result(self, head: tuple[int, str] | None = None) -> ChainVerification:
        """The verdict; `head` (seq, hash) is what the log recorded as its last entry."""
        last = self._expected_seq - 1
        if self._bad is not None:
            return ChainVerification(ok=False, checked=self._checked,
                                     first_bad_seq=self._bad[0], reason=self._bad[1],
                                     head_seq=last, head_hash=self._prev)
        if head is not None and (head[0] != last or not hmac.compare_digest(head[1],
                                                                            self._prev)):
            return ChainVerification(
                ok=False, checked=self._checked, first_bad_seq=min(last, head[0]) + 1,
                reason=f"the chain ends at seq {last} but its recorded head is seq {head[0]} "
                       "(entries removed from the end, or the head was altered)",
                head_seq=last, head_hash=self._prev)
        return ChainVerification(ok=True, checked=self._checked, head_seq=last,
                                 head_hash=self._prev)


def _problem(entry: AuditEntry, expected_seq: int, prev: str) -> tuple[int, str] | None:
    if entry.seq != expected_seq:
        if entry.seq > expected_seq:
            return expected_seq, f"entry {expected_seq} is missing (next is {entry.seq})"
        return entry.seq, f"entry {entry.seq} is out of order (expected {expected_seq})"
    if not hmac.compare_digest(entry.prev_hash, prev):
        return entry.seq, f"entry {entry.seq} does not follow the entry before it"
    if not hmac.compare_digest(entry.hash, entry_hash(entry, prev)):
        return entry.seq, f"entry {entry.seq} was altered (its hash does not match)"
    return None


# -- Entry hygiene ------------------------------------------------------------------------------


def clean_detail(detail: dict[str, Any] | None) -> dict[str, Any]:
    """Return a JSON-safe copy of `detail` with secrets and bytes redacted and size bounded."""
    cleaned = _clean(dict(detail or {}), 0)
    assert isinstance(cleaned, dict)
    if len(msgspec.json.encode(cleaned)) > MAX_DETAIL_BYTES:
        return {"truncated": True}
    return cleaned


def clip(value: str | None) -> str | None:
    """Bound a free-text field (user agent, target) to `MAX_FIELD` characters."""
    return None if value is None else value[:MAX_FIELD]


def _clean(value: Any, depth: int) -> Any:
    if depth > 4:
        return REDACTED
    if isinstance(value, dict):
        return {str(k)[:64]: REDACTED if _sensitive(str(k)) else _clean(v, depth + 1)
                for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v, depth + 1) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else str(value)
    if isinstance(value, str):
        return value[:MAX_FIELD]
    if isinstance(value, bytes | bytearray | memoryview):
        return REDACTED
    return str(value)[:MAX_FIELD]


def _sensitive(key: str) -> bool:
    lowered = key.lower()
    return lowered in _SENSITIVE_NAMES or any(word in lowered for word in _SENSITIVE)


# -- In memory ----------------------------------------------------------------------------------


class MemoryAuditLog:
    """An audit log kept in memory (tests, offline tools); chained like the SQL one."""

    def __init__(self, now_ns: Any) -> None:
        self._now_ns = now_ns
        self._entries: list[AuditEntry] = []

    async def record(self, action: str, *, actor: str | None, target: str | None = None,
                     ip: str = "", user_agent: str = "", outcome: Outcome = "success",
                     detail: dict[str, Any] | None = None) -> AuditEntry:
        prev = self._entries[-1].hash if self._entries else GENESIS_HASH
        entry = chained(AuditEntry(
            seq=len(self._entries) + 1, ts_ns=int(self._now_ns()), action=action[:64],
            actor=clip(actor), target=clip(target), ip=ip[:64], user_agent=user_agent[:MAX_FIELD],
            outcome=outcome, detail=clean_detail(detail)), prev)
        self._entries.append(entry)
        return entry

    async def entries(self, *, actor: str | None = None, action: str | None = None,
                      after_seq: int = 0, limit: int = 100) -> list[AuditEntry]:
        return await self.search(actor=actor, action=action, after_seq=after_seq, limit=limit)

    async def search(self, *, actor: str | None = None, action: str | None = None,
                     since_ns: int = 0, after_seq: int = 0,
                     limit: int = 100) -> list[AuditEntry]:
        out = [e for e in self._entries if e.seq > after_seq and e.ts_ns >= since_ns
               and (actor is None or e.actor == actor) and (action is None or e.action == action)]
        return out[:limit]

    async def verify(self) -> ChainVerification:
        return verify_chain(self._entries)
