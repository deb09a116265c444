"""`SqlAuditLog`: the audit trail as an append-only hash chain in the read-model database.

Appends are serialized twice over: in the process by a lock (one writer), and in the database
by the `audit_head` row, read `FOR UPDATE` on PostgreSQL (SQLite's writer transactions take
the database write lock at BEGIN), so two processes appending at once cannot fork the chain;
the primary key on `seq` would refuse a fork anyway. Each row keeps the previous hash and its
own, and `audit_head` the last seq and hash, so `verify` finds edited, removed, reordered and
cut-off entries. Nothing here updates or deletes an entry.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import msgspec
from sqlalchemy import Select, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tradehall.adapters.sql import tables_compliance as tc
from tradehall.compliance.audit import (
    GENESIS_HASH,
    MAX_FIELD,
    AuditEntry,
    ChainVerification,
    ChainVerifier,
    Outcome,
    canonical_detail,
    chained,
    clean_detail,
    clip,
)

_HEAD = "audit"
_PAGE = 1000
MAX_LIMIT = 1000


class SqlAuditLog:
    """The hash-chained audit trail in SQL; implements `AuditTrail`."""

    def __init__(self, engine: AsyncEngine, writer: AsyncEngine, now_ns: Any) -> None:
        self._engine = engine
        self._writer = writer
        self._now_ns = now_ns
        self._lock = asyncio.Lock()

    async def record(self, action: str, *, actor: str | None, target: str | None = None,
                     ip: str = "", user_agent: str = "", outcome: Outcome = "success",
                     detail: dict[str, Any] | None = None) -> AuditEntry:
        detail = clean_detail(detail)
        async with self._lock, self._writer.begin() as conn:
            head_seq, head_hash = await self._head(conn)
            entry = chained(AuditEntry(
                seq=head_seq + 1, ts_ns=int(self._now_ns()), action=action[:64],
                actor=clip(actor), target=clip(target), ip=ip[:64],
                user_agent=user_agent[:MAX_FIELD], outcome=outcome, detail=detail), head_hash)
            await conn.execute(insert(tc.audit_log), _row(entry))
            await conn.execute(update(tc.audit_head).where(tc.audit_head.c.name == _HEAD)
                               .values(seq=entry.seq, hash=entry.hash))
        return entry

    async def entries(self, *, actor: str | None = None, action: str | None = None,
                      after_seq: int = 0, limit: int = 100) -> list[AuditEntry]:
        return await self.search(actor=actor, action=action, after_seq=after_seq, limit=limit)

    async def search(self, *, actor: str | None = None, action: str | None = None,
                     since_ns: int = 0, after_seq: int = 0,
                     limit: int = 100) -> list[AuditEntry]:
        log = tc.audit_log
        query = select(log).where(log.c.seq > after_seq).order_by(log.c.seq)
        if actor is not None:
            query = query.where(log.c.actor == actor)
        if action is not None:
            query = query.where(log.c.action == action)
        if since_ns:
            query = query.where(log.c.ts_ns >= since_ns)
        query = query.limit(max(1, min(limit, MAX_LIMIT)))
        async with self._engine.connect() as conn:
            return [_entry(row) for row in (await conn.execute(query)).mappings()]

    async def verify(self) -> ChainVerification:
        verifier = ChainVerifier()
        async with self._engine.connect() as conn:
            head = (await conn.execute(select(tc.audit_head.c.seq, tc.audit_head.c.hash)
                                       .where(tc.audit_head.c.name == _HEAD))).first()
            async for entry in _walk(conn):
                if not verifier.feed(entry):
                    break
        return verifier.result(None if head is None else (int(head[0]), str(head[1])))

    async def _head(self, conn: AsyncConnection) -> tuple[int, str]:
        head = tc.audit_head
        query: Select[Any] = select(head.c.seq, head.c.hash).where(head.c.name == _HEAD)
        row = (await conn.execute(query.with_for_update())).first()
        if row is not None:
            return int(row[0]), str(row[1])
        # The head row is created by the migration; rebuild it from the last entry if it went.
        log = tc.audit_log
        last = (await conn.execute(select(log.c.seq, log.c.hash).order_by(log.c.seq.desc())
                                   .limit(1))).first()
        seq, digest = (0, GENESIS_HASH) if last is None else (int(last[0]), str(last[1]))
        await conn.execute(insert(head).values(name=_HEAD, seq=seq, hash=digest))
        return seq, digest


async def _walk(conn: AsyncConnection) -> AsyncIterator[AuditEntry]:
    log = tc.audit_log
    after = -(2**62)
    while True:
        rows = (await conn.execute(select(log).where(log.c.seq > after).order_by(log.c.seq)
                                   .limit(_PAGE))).mappings().all()
        for row in rows:
            yield _entry(row)
        if len(rows) < _PAGE:
            return
        after = int(rows[-1]["seq"])


def _row(entry: AuditEntry) -> dict[str, Any]:
    return {"seq": entry.seq, "ts_ns": entry.ts_ns, "action": entry.action, "actor": entry.actor,
            "target": entry.target, "ip": entry.ip, "user_agent": entry.user_agent,
            "outcome": entry.outcome, "detail": canonical_detail(entry.detail),
            "prev_hash": entry.prev_hash, "hash": entry.hash}


def _entry(row: Any) -> AuditEntry:
    try:
        detail = msgspec.json.decode(row["detail"])
    except msgspec.DecodeError:
        detail = {"unreadable": str(row["detail"])[:MAX_FIELD]}
    if not isinstance(detail, dict):
        detail = {"unreadable": str(row["detail"])[:MAX_FIELD]}
    return AuditEntry(seq=int(row["seq"]), ts_ns=int(row["ts_ns"]), action=row["action"],
                      actor=row["actor"], target=row["target"], ip=row["ip"],
                      user_agent=row["user_agent"], outcome=cast(Outcome, row["outcome"]),
                      detail=detail, prev_hash=row["prev_hash"], hash=row["hash"])
