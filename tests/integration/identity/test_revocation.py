"""Revocation notices of the identity services (SQLite and PostgreSQL, test clock): every way a
session ends publishes one notice per session, a revoked key publishes one, and a second
service standing for another process acts on a notice at once, without a query; a resync
re-reads the whole window, which an incremental upkeep read may miss under clock skew."""

from __future__ import annotations

import pytest

from tests.integration.identity.conftest import Parts
from tradehall.adapters.sql.sessions import SqlSessionStore
from tradehall.identity.apikeys import ApiKeyConfig, ApiKeyService
from tradehall.identity.context import RequestContext
from tradehall.identity.revocation import InprocRevocationNotices, Revocation
from tradehall.identity.sessions import SessionService
from tradehall.kernel.clock import NANOS_PER_SECOND
from tradehall.kernel.errors import Unauthorized

LAPTOP = RequestContext(ip="198.51.100.7", user_agent="Firefox/140 (laptop)")
S = NANOS_PER_SECOND


class Recorder:
    def __init__(self) -> None:
        self.notices: list[Revocation] = []
        self.resyncs = 0

    def revoked(self, notice: Revocation) -> None:
        self.notices.append(notice)

    async def resync(self) -> None:
        self.resyncs += 1


def _sessions(parts: Parts, notices: InprocRevocationNotices | None = None) -> SessionService:
    return SessionService(SqlSessionStore(parts.db.engine, parts.db.writer), parts.clock,
                          parts.audit, parts.alerts, parts.sessions.config, notices=notices)


def _keys(parts: Parts, notices: InprocRevocationNotices | None = None) -> ApiKeyService:
    return ApiKeyService(parts.db.identity, parts.clock, parts.audit, parts.provider,
                         ApiKeyConfig(cache_ttl_s=3_600), notices=notices)


async def test_sessions_when_ended_any_way_publish_one_notice_per_session(parts: Parts) -> None:
    # Arrange
    notices = InprocRevocationNotices()
    seen = Recorder()
    notices.subscribe(seen)
    sessions = _sessions(parts, notices)
    await sessions.load()
    alice = await parts.add_user("alice")
    logout, own, reused, all_1, all_2 = [await sessions.open(alice, LAPTOP) for _ in range(5)]
    await sessions.refresh(reused.refresh_token, LAPTOP)

    # Act
    await sessions.revoke(logout.session.session_id, actor=alice.user_id, ctx=LAPTOP)
    await sessions.revoke_own(alice.user_id, own.session.session_id, LAPTOP)
    with pytest.raises(Unauthorized):
        await sessions.refresh(reused.refresh_token, LAPTOP)
    ended = await sessions.revoke_all(alice.user_id, actor=alice.user_id, ctx=LAPTOP)
    again = await sessions.revoke(logout.session.session_id, actor=alice.user_id, ctx=LAPTOP)

    # Assert
    assert sorted(ended) == sorted([all_1.session.session_id, all_2.session.session_id])
    assert not again  # already ended: no second notice
    assert [n.subject for n in seen.notices[:3]] == [
        logout.session.session_id, own.session.session_id, reused.session.session_id]
    assert sorted(n.subject for n in seen.notices[3:]) == sorted(ended)
    assert {n.kind for n in seen.notices} == {"session"}
    assert {n.ts_ns for n in seen.notices} == {parts.clock.now_ns()}


async def test_session_when_notice_arrives_from_another_process_is_refused_without_a_query(
        parts: Parts) -> None:
    # Arrange: two services on one database stand for two processes
    notices = InprocRevocationNotices()
    here, there = _sessions(parts, notices), _sessions(parts)
    await here.load()
    await there.load()
    notices.subscribe(there)  # what the Redis transport does for the other process
    opened = await here.open(await parts.add_user("alice"), LAPTOP)

    # Act
    await here.revoke(opened.session.session_id, actor=None, ctx=LAPTOP)

    # Assert
    assert there.is_revoked(opened.session.session_id)


async def test_resync_when_revocation_stamped_before_the_last_read_picks_it_up(
        parts: Parts) -> None:
    # Arrange: another machine's clock runs 10 s behind; this process read a moment ago
    sessions = _sessions(parts)
    await sessions.load()
    opened = await sessions.open(await parts.add_user("alice"), LAPTOP)
    parts.clock.advance(5 * S)
    await sessions.maintain()
    await sessions.store.revoke_session(opened.session.session_id,
                                        parts.clock.now_ns() - 10 * S, "logout")

    # Act
    await sessions.maintain()
    missed_by_upkeep = not sessions.is_revoked(opened.session.session_id)
    await sessions.resync()

    # Assert
    assert missed_by_upkeep
    assert sessions.is_revoked(opened.session.session_id)


async def test_api_key_when_revoked_publishes_and_the_other_process_evicts_at_once(
        parts: Parts) -> None:
    # Arrange: the other process cached the key for an hour
    notices = InprocRevocationNotices()
    seen = Recorder()
    notices.subscribe(seen)
    here, there = _keys(parts, notices), _keys(parts)
    notices.subscribe(there)
    alice = await parts.add_user("alice")
    pair = await here.create(alice)
    await there.authenticate(pair.key_id, pair.secret)

    # Act
    await here.revoke(alice.user_id, pair.key_id)

    # Assert
    assert [(n.kind, n.subject) for n in seen.notices] == [("api_key", pair.key_id)]
    with pytest.raises(Unauthorized):
        await there.authenticate(pair.key_id, pair.secret)


async def test_api_keys_when_user_notice_or_resync_arrive_are_checked_again(
        parts: Parts) -> None:
    # Arrange: both keys cached; then the database says both are revoked (behind the cache)
    keys = _keys(parts)
    alice, bob = await parts.add_user("alice"), await parts.add_user("bob")
    alice_pair, bob_pair = await keys.create(alice), await keys.create(bob)
    await keys.authenticate(alice_pair.key_id, alice_pair.secret)
    await keys.authenticate(bob_pair.key_id, bob_pair.secret)
    await parts.db.identity.revoke_api_key(alice_pair.key_id)
    await parts.db.identity.revoke_api_key(bob_pair.key_id)

    # Act
    keys.revoked(Revocation(kind="user", subject=alice.user_id, ts_ns=0))
    bob_still_cached = await keys.authenticate(bob_pair.key_id, bob_pair.secret)
    await keys.resync()

    # Assert
    with pytest.raises(Unauthorized):
        await keys.authenticate(alice_pair.key_id, alice_pair.secret)
    assert bob_still_cached.key_id == bob_pair.key_id
    with pytest.raises(Unauthorized):
        await keys.authenticate(bob_pair.key_id, bob_pair.secret)
