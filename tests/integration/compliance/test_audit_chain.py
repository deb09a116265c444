"""The SQL audit trail is one hash chain: concurrent appends (two databases handles, as two
processes would have) never fork it, and verify names the first edited, removed or reordered
entry. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from tests.kit.services import POSTGRES, fresh_postgres_database, require
from tradehall.adapters.sql import SqlDatabase
from tradehall.adapters.sql import tables_compliance as tc
from tradehall.adapters.sql.audit import SqlAuditLog
from tradehall.compliance.audit import GENESIS_HASH, REDACTED, MemoryAuditLog
from tradehall.kernel.clock import TestClock

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'readmodels.sqlite3'}"
        return
    require(POSTGRES)
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[SqlDatabase]:
    db = await SqlDatabase.open(db_url)
    try:
        yield db
    finally:
        await db.close()


def _log(db: SqlDatabase) -> SqlAuditLog:
    return SqlAuditLog(db.engine, db.writer, TestClock(1_000).now_ns)


async def _fill(log: SqlAuditLog, n: int) -> None:
    for i in range(n):
        await log.record("auth.login", actor=f"user-{i % 3}", target=f"user-{i % 3}",
                         ip="127.0.0.1", detail={"i": i})


async def test_record_when_appended_links_each_entry_to_the_one_before(
        database: SqlDatabase) -> None:
    log = _log(database)

    first = await log.record("auth.login", actor="u1", ip="127.0.0.1")
    second = await log.record("kyc.document_read", actor="u1", target="d1")

    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    result = await log.verify()
    assert (result.ok, result.checked, result.head_seq, result.head_hash) == (
        True, 2, 2, second.hash)


async def test_record_when_detail_holds_secrets_or_bytes_redacts_them(
        database: SqlDatabase) -> None:
    log = _log(database)

    entry = await log.record("auth.password_changed", actor="u1", detail={
        "password": "hunter2", "refresh_token": "abc", "content": "doc", "raw": b"\x00\x01",
        "kind": "passport"})

    stored = (await log.entries())[0]
    assert stored.detail == entry.detail == {
        "password": REDACTED, "refresh_token": REDACTED, "content": REDACTED, "raw": REDACTED,
        "kind": "passport"}
    assert (await log.verify()).ok


async def test_record_when_two_handles_append_concurrently_keeps_one_chain(
        db_url: str) -> None:
    # Arrange: two database handles with their own pools and locks, as two processes.
    first, second = await SqlDatabase.open(db_url), await SqlDatabase.open(db_url)
    try:
        logs = [_log(first), _log(second)]

        # Act
        await asyncio.gather(*(logs[i % 2].record("auth.login", actor=f"u{i}", detail={"i": i})
                               for i in range(40)))

        # Assert
        entries = await logs[0].entries(limit=1000)
        assert [e.seq for e in entries] == list(range(1, 41))
        assert sorted(e.detail["i"] for e in entries) == list(range(40))
        result = await logs[1].verify()
        assert (result.ok, result.checked) == (True, 40)
    finally:
        await first.close()
        await second.close()


async def test_verify_when_an_entry_is_edited_names_its_seq(database: SqlDatabase) -> None:
    log = _log(database)
    await _fill(log, 6)

    async with database.writer.begin() as conn:
        await conn.execute(update(tc.audit_log).where(tc.audit_log.c.seq == 4)
                           .values(actor="someone-else"))
    result = await log.verify()

    assert (result.ok, result.first_bad_seq, result.checked) == (False, 4, 3)
    assert result.reason is not None
    assert "altered" in result.reason


async def test_verify_when_an_entry_is_deleted_names_the_missing_seq(
        database: SqlDatabase) -> None:
    log = _log(database)
    await _fill(log, 6)

    async with database.writer.begin() as conn:
        await conn.execute(delete(tc.audit_log).where(tc.audit_log.c.seq == 3))
    result = await log.verify()

    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert result.reason is not None
    assert "missing" in result.reason


async def test_verify_when_the_last_entries_are_cut_off_reports_the_head(
        database: SqlDatabase) -> None:
    log = _log(database)
    await _fill(log, 6)

    async with database.writer.begin() as conn:
        await conn.execute(delete(tc.audit_log).where(tc.audit_log.c.seq >= 5))
    result = await log.verify()

    assert (result.ok, result.first_bad_seq, result.head_seq) == (False, 5, 4)


async def test_verify_when_two_entries_swap_content_names_the_first(
        database: SqlDatabase) -> None:
    # Arrange
    log = _log(database)
    await _fill(log, 5)
    columns = [c for c in tc.audit_log.c if c.name != "seq"]
    async with database.engine.connect() as conn:
        rows = {r.seq: r for r in (await conn.execute(select(tc.audit_log))).all()}

    # Act: entries 2 and 3 trade places (hashes and all).
    async with database.writer.begin() as conn:
        for seq, other in ((2, 3), (3, 2)):
            await conn.execute(update(tc.audit_log).where(tc.audit_log.c.seq == seq).values(
                {c.name: str(seq) * 64 if c.name == "hash" else getattr(rows[other], c.name)
                 for c in columns}))
        for seq, other in ((2, 3), (3, 2)):
            await conn.execute(update(tc.audit_log).where(tc.audit_log.c.seq == seq)
                               .values(hash=rows[other].hash))
    result = await log.verify()

    # Assert
    assert (result.ok, result.first_bad_seq) == (False, 2)


async def test_search_when_filtered_pages_by_seq(database: SqlDatabase) -> None:
    log = _log(database)
    await _fill(log, 9)

    page = await log.search(actor="user-1", limit=2)
    rest = await log.search(actor="user-1", after_seq=page[-1].seq)

    assert [e.seq for e in page] == [2, 5]
    assert [e.seq for e in rest] == [8]
    assert await log.search(action="kyc.document_read") == []
    assert await log.search(since_ns=10**18) == []


async def test_memory_log_when_entry_removed_is_detected() -> None:
    log = MemoryAuditLog(TestClock(5).now_ns)
    for i in range(3):
        await log.record("auth.login", actor=f"u{i}")

    assert (await log.verify()).ok
    log._entries.pop(1)
    result = await log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 2)
