"""The fallback's SQL stores on SQLite and PostgreSQL: round trips, one open request per
target, idempotency keys, conditional updates (also raced), the queue and the mode row."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from tests.kit.services import POSTGRES, fresh_postgres_database, require
from tradehall.adapters.sql import SqlDatabase
from tradehall.adapters.sql.fallback import SqlModeStore, SqlRequestStore
from tradehall.fallback.model import (
    Booking,
    Execution,
    FallbackRequest,
    ModeState,
    PlatformMode,
    RequestKind,
    RequestStatus,
)
from tradehall.fallback.ports import IdempotencyRecord, QueueQuery
from tradehall.kernel.errors import Conflict
from tradehall.kernel.ids import random_uuid

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlDatabase]:
    if request.param == "sqlite":
        database = await SqlDatabase.open(f"sqlite:///{tmp_path / 'readmodels.sqlite3'}")
        try:
            yield database
        finally:
            await database.close()
        return
    require(POSTGRES)
    async with fresh_postgres_database() as url:
        database = await SqlDatabase.open(url)
        try:
            yield database
        finally:
            await database.close()


def request_(account: str = "alice", *, order_id: str | None = None, symbol: str = "BTC-USD",
             created_ns: int = 1_000, notional: int = 500) -> FallbackRequest:
    kind = RequestKind.CANCEL_ORDER if order_id else RequestKind.CLOSE_POSITION
    return FallbackRequest(id=random_uuid(), account=account, user_id="u-" + account,
                           username=account, kind=kind, symbol=symbol, order_id=order_id,
                           side="buy" if order_id else "long", known_qty=3, known_price=100,
                           notional=notional, created_ns=created_ns, updated_ns=created_ns)


def bumped(r: FallbackRequest, **changes: object) -> FallbackRequest:
    return msgspec.structs.replace(r, version=r.version + 1, **changes)


async def test_create_when_read_back_every_field_round_trips(db: SqlDatabase) -> None:
    store = SqlRequestStore(db.engine, db.writer)
    full = msgspec.structs.replace(
        request_(order_id=random_uuid()), qty=2, note="please", batch_id=random_uuid(),
        claimed_by="d1", claim_expires_ns=9, decided_by="d1", approved_by="d2",
        execution=Execution.ENGINE, price=101, executed_qty=2, executed_ns=7,
        booking=Booking.NONE, reject_code=None, engine_order_id=random_uuid())
    await store.create([full], None)
    assert await store.get(full.id) == full
    assert await store.get_many([full.id, "missing"]) == [full]
    assert await store.get("missing") is None


async def test_create_when_target_has_open_request_conflicts_until_it_is_final(
        db: SqlDatabase) -> None:
    store = SqlRequestStore(db.engine, db.writer)
    first = request_()
    await store.create([first], None)
    with pytest.raises(Conflict) as err:
        await store.create([request_(), request_(symbol="ETH-USD")], None)
    assert err.value.code == "request_open_for_target"
    assert await store.list_for_account("alice") == [first]  # nothing of the batch stored
    assert await store.open_for_target("alice", first.target) == first
    assert await store.update(bumped(first, status=RequestStatus.WITHDRAWN),
                              expected_version=0)
    assert await store.open_for_target("alice", first.target) is None
    await store.create([request_()], None)  # a final request frees the target
    await store.create([request_("bob")], None)  # another account's target is its own


async def test_create_when_key_known_returns_the_stored_requests(db: SqlDatabase) -> None:
    store = SqlRequestStore(db.engine, db.writer)
    first = request_()
    record = IdempotencyRecord(account="alice", key="k1", fingerprint="f" * 64,
                               request_ids=(first.id,), created_ns=5)
    await store.create([first], record)
    assert await store.idempotency_record("alice", "k1") == record
    assert await store.idempotency_record("bob", "k1") is None
    again = await store.create([request_(symbol="ETH-USD")], record)
    assert again == [first]
    assert len(await store.list_for_account("alice")) == 1


async def test_update_when_version_is_stale_or_raced_exactly_one_wins(db: SqlDatabase) -> None:
    store = SqlRequestStore(db.engine, db.writer)
    r = request_()
    await store.create([r], None)
    results = await asyncio.gather(
        store.update(bumped(r, status=RequestStatus.CLAIMED, claimed_by="d1"),
                     expected_version=0),
        store.update(bumped(r, status=RequestStatus.CLAIMED, claimed_by="d2"),
                     expected_version=0))
    assert sorted(results) == [False, True]
    stored = await store.get(r.id)
    assert stored is not None
    assert stored.version == 1
    assert stored.claimed_by == ("d1" if results[0] else "d2")
    assert not await store.update(bumped(r, status=RequestStatus.REJECTED), expected_version=0)


async def test_queue_when_filtered_sorted_and_paged_returns_the_matching_rows(
        db: SqlDatabase) -> None:
    store = SqlRequestStore(db.engine, db.writer)
    a = request_("alice", created_ns=1, notional=100)
    b = request_("bob", created_ns=2, notional=900, symbol="ETH-USD")
    c = request_("carol", created_ns=3, notional=500, order_id=random_uuid())
    await store.create([a], None)
    await store.create([b], None)
    await store.create([c], None)
    ids = [r.id for r in await store.queue(QueueQuery())]
    assert ids == [a.id, b.id, c.id]
    by_notional = await store.queue(QueueQuery(sort="notional", descending=True))
    assert [r.id for r in by_notional] == [b.id, c.id, a.id]
    assert [r.id for r in await store.queue(QueueQuery(kind=RequestKind.CANCEL_ORDER))] == [c.id]
    assert [r.id for r in await store.queue(QueueQuery(symbol="ETH-USD"))] == [b.id]
    assert [r.id for r in await store.queue(QueueQuery(username="carol"))] == [c.id]
    assert [r.id for r in await store.queue(QueueQuery(created_before_ns=3))] == [a.id, b.id]
    assert [r.id for r in await store.queue(QueueQuery(min_notional=500))] == [b.id, c.id]
    assert [r.id for r in await store.queue(QueueQuery(limit=1, offset=1))] == [b.id]
    await store.update(bumped(a, status=RequestStatus.APPROVED), expected_version=0)
    assert [r.id for r in await store.queue(QueueQuery(
        statuses=(RequestStatus.APPROVED,)))] == [a.id]
    counts = await store.count_open()
    assert counts[RequestStatus.PENDING] == 2
    assert counts[RequestStatus.APPROVED] == 1
    assert [r.id for r in await store.due_for_dispatch()] == [a.id]


async def test_mode_when_missing_is_normal_and_stale_writes_lose(db: SqlDatabase) -> None:
    modes = SqlModeStore(db.engine, db.writer)
    assert await modes.get() == ModeState()
    first = ModeState(mode=PlatformMode.FALLBACK, reason="maintenance", set_by="ops",
                      since_ns=10, version=1)
    assert await modes.set(first, expected_version=0)
    assert await modes.get() == first
    assert not await modes.set(ModeState(version=1), expected_version=0)
    second = ModeState(mode=PlatformMode.NORMAL, set_by="ops", since_ns=20, version=2,
                       previous=PlatformMode.FALLBACK)
    assert await modes.set(second, expected_version=1)
    assert await modes.get() == second
