"""TokenService and SessionService over SQLite: signing, the key ring and rotation, sealed
private keys, refresh-token families and reuse, revocation, devices and alerts."""

from __future__ import annotations

import asyncio

import jwt
import pytest
from sqlalchemy import select

from tests.integration.identity.conftest import Parts
from tradehall.adapters.sql import tables_sessions as t
from tradehall.identity.context import RequestContext
from tradehall.identity.principal import Principal
from tradehall.identity.tokens import TokenConfig
from tradehall.kernel.clock import NANOS_PER_SECOND
from tradehall.kernel.errors import NotFound, Unauthorized
from tradehall.kernel.ids import AccountId

LAPTOP = RequestContext(ip="198.51.100.7", user_agent="Firefox/140 (laptop)")
PHONE = RequestContext(ip="203.0.113.9", user_agent="Safari/19 (phone)")


def _principal(name: str = "alice") -> Principal:
    return Principal("user-1", name, AccountId(name), ("trader",))


def _advance_s(parts: Parts, seconds: int) -> None:
    parts.clock.advance(seconds * NANOS_PER_SECOND)


# -- Tokens and the key ring ----------------------------------------------------------------------


async def test_verify_when_token_issued_returns_principal_with_session(parts: Parts) -> None:
    # Arrange
    token = parts.tokens.issue(_principal(), "session-1")

    # Act
    principal = parts.tokens.verify(token)

    # Assert
    header = jwt.get_unverified_header(token)
    assert (header["alg"], header["kid"]) == ("RS256", parts.tokens.current_kid)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["iss"], claims["aud"], claims["exp"] - claims["iat"]) == (
        "tradehall", "tradehall-api", 900)
    assert principal == Principal("user-1", "alice", AccountId("alice"), ("trader",),
                                  method="token", session_id="session-1")


async def test_verify_when_token_past_its_lifetime_raises_token_expired(parts: Parts) -> None:
    token = parts.tokens.issue(_principal(), "session-1")
    _advance_s(parts, 900 + 6)

    with pytest.raises(Unauthorized) as caught:
        parts.tokens.verify(token)

    assert caught.value.code == "token_expired"


async def test_rotate_when_old_token_presented_still_verifies_until_it_expires(
        parts: Parts) -> None:
    # Arrange
    old_kid = parts.tokens.current_kid
    old_token = parts.tokens.issue(_principal(), "session-1")
    _advance_s(parts, 60)

    # Act
    new_kid = await parts.tokens.rotate(actor="admin-1")

    # Assert: both verify; the JWKS lists both, the current first.
    new_token = parts.tokens.issue(_principal(), "session-1")
    assert new_kid != old_kid
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    assert parts.tokens.verify(old_token).session_id == "session-1"
    assert parts.tokens.verify(new_token).session_id == "session-1"
    assert [k["kid"] for k in parts.tokens.jwks()["keys"]] == [new_kid, old_kid]
    rotated = await parts.audit.entries(action="keys.rotated")
    assert rotated[-1].target == new_kid
    assert rotated[-1].detail["retired"] == [old_kid]


async def test_maintain_when_retired_key_outlived_its_tokens_drops_it(parts: Parts) -> None:
    # Arrange
    old_kid = parts.tokens.current_kid
    await parts.tokens.rotate()
    _advance_s(parts, 300 + 900 + 11)

    # Act
    await parts.tokens.maintain()

    # Assert
    assert [k["kid"] for k in parts.tokens.jwks()["keys"]] == [parts.tokens.current_kid]
    async with parts.db.engine.connect() as conn:
        kids = list((await conn.execute(select(t.signing_keys.c.kid))).scalars())
    assert old_kid not in kids


async def test_verify_when_old_key_signs_before_the_ring_reload_accepts_within_grace(
        parts: Parts) -> None:
    # Arrange: the CLI rotates; this service signs with its old key until its next reload.
    cli = parts.token_service()
    await cli.load()
    await cli.rotate()
    _advance_s(parts, 60)
    late = parts.tokens.issue(_principal(), "session-1")
    _advance_s(parts, 300)
    forged_late = parts.tokens.issue(_principal(), "session-1")

    # Act
    await parts.tokens.maintain()

    # Assert: signed within the grace it verifies; dated past it, the old key is not trusted.
    assert parts.tokens.verify(late).session_id == "session-1"
    with pytest.raises(Unauthorized) as caught:
        parts.tokens.verify(forged_late)
    assert caught.value.code == "invalid_token"


async def test_load_when_current_key_older_than_rotation_age_rotates(parts: Parts) -> None:
    # Arrange
    old_kid = parts.tokens.current_kid
    _advance_s(parts, 86_400)

    # Act
    restarted = parts.token_service()
    await restarted.load()

    # Assert
    assert restarted.current_kid != old_kid
    assert (await parts.audit.entries(action="keys.rotated"))[-1].detail["reason"] == "age"


async def test_private_key_when_stored_is_sealed_not_pem(parts: Parts) -> None:
    async with parts.db.engine.connect() as conn:
        rows = (await conn.execute(select(t.signing_keys))).mappings().all()

    assert [r["key_wrapping"] for r in rows] == ["sealed"]
    assert "PRIVATE KEY" not in rows[0]["private_key"]
    assert "PUBLIC KEY" in rows[0]["public_pem"]


async def test_verify_when_token_of_another_process_after_reload_accepts_it(
        parts: Parts) -> None:
    # Arrange: a second process rotates and signs with the new key.
    other = parts.token_service()
    await other.load()
    await other.rotate()
    token = other.issue(_principal(), "session-1")

    # Act
    await parts.tokens.maintain()

    # Assert
    assert parts.tokens.current_kid == other.current_kid
    assert parts.tokens.verify(token).username == "alice"


async def test_verify_when_audience_differs_raises_invalid_token(parts: Parts) -> None:
    other = parts.token_service(TokenConfig(audience="someone-else", rotation_age_s=86_400))
    await other.load()
    token = other.issue(_principal(), "session-1")

    with pytest.raises(Unauthorized) as caught:
        parts.tokens.verify(token)

    assert caught.value.code == "invalid_token"


# -- Sessions and refresh-token families -------------------------------------------------------


async def test_refresh_when_token_unused_returns_successor_and_spends_it(parts: Parts) -> None:
    # Arrange
    user = await parts.add_user("alice")
    opened = await parts.sessions.open(user, LAPTOP)
    _advance_s(parts, 30)

    # Act
    renewed = await parts.sessions.refresh(opened.refresh_token, LAPTOP)

    # Assert
    assert renewed.session.session_id == opened.session.session_id
    assert renewed.refresh_token != opened.refresh_token
    async with parts.db.engine.connect() as conn:
        rows = (await conn.execute(select(t.refresh_tokens.c.token_hash,
                                          t.refresh_tokens.c.used_ns))).all()
    assert len(rows) == 2
    assert all(opened.refresh_token not in h and renewed.refresh_token not in h
               for h, _ in rows)
    assert sorted(u is None for _, u in rows) == [False, True]


async def test_refresh_when_token_reused_revokes_family(parts: Parts) -> None:
    # Arrange
    user = await parts.add_user("alice")
    opened = await parts.sessions.open(user, LAPTOP)
    renewed = await parts.sessions.refresh(opened.refresh_token, LAPTOP)

    # Act
    with pytest.raises(Unauthorized) as caught:
        await parts.sessions.refresh(opened.refresh_token, PHONE)

    # Assert: the family is gone, including its newest token.
    assert caught.value.code == "refresh_token_reused"
    assert parts.sessions.is_revoked(opened.session.session_id)
    with pytest.raises(Unauthorized) as after:
        await parts.sessions.refresh(renewed.refresh_token, LAPTOP)
    assert after.value.code == "invalid_refresh_token"
    reused = await parts.audit.entries(action="auth.refresh_reused")
    assert [(e.target, e.outcome, e.ip) for e in reused] == [
        (opened.session.session_id, "denied", PHONE.ip)]


async def test_refresh_when_same_token_raced_only_one_wins(parts: Parts) -> None:
    user = await parts.add_user("alice")
    opened = await parts.sessions.open(user, LAPTOP)

    results = await asyncio.gather(parts.sessions.refresh(opened.refresh_token, LAPTOP),
                                   parts.sessions.refresh(opened.refresh_token, LAPTOP),
                                   return_exceptions=True)

    codes = sorted(getattr(r, "code", "ok") for r in results)
    assert codes == ["ok", "refresh_token_reused"]


async def test_refresh_when_token_expired_raises_and_keeps_it_unspent(parts: Parts) -> None:
    user = await parts.add_user("alice")
    opened = await parts.sessions.open(user, LAPTOP)
    _advance_s(parts, 3_600)

    with pytest.raises(Unauthorized) as caught:
        await parts.sessions.refresh(opened.refresh_token, LAPTOP)

    assert caught.value.code == "refresh_token_expired"
    assert not parts.sessions.is_revoked(opened.session.session_id)


async def test_refresh_when_token_unknown_raises_invalid_refresh_token(parts: Parts) -> None:
    with pytest.raises(Unauthorized) as caught:
        await parts.sessions.refresh("not-a-token", LAPTOP)

    assert caught.value.code == "invalid_refresh_token"


async def test_load_when_session_revoked_earlier_knows_it_without_a_query(
        parts: Parts) -> None:
    # Arrange
    user = await parts.add_user("alice")
    opened = await parts.sessions.open(user, LAPTOP)
    await parts.sessions.revoke(opened.session.session_id, actor=user.user_id, ctx=LAPTOP)

    # Act
    restarted = parts.session_service()
    await restarted.load()

    # Assert
    assert restarted.is_revoked(opened.session.session_id)


async def test_maintain_when_revocation_outlived_every_token_forgets_it(parts: Parts) -> None:
    user = await parts.add_user("alice")
    opened = await parts.sessions.open(user, LAPTOP)
    await parts.sessions.revoke(opened.session.session_id, actor=user.user_id, ctx=LAPTOP)
    _advance_s(parts, 900 + 11)

    await parts.sessions.maintain()

    assert not parts.sessions.is_revoked(opened.session.session_id)


async def test_maintain_when_refresh_token_expired_long_ago_drops_it(parts: Parts) -> None:
    # Arrange
    user = await parts.add_user("alice")
    old = await parts.sessions.open(user, LAPTOP)
    _advance_s(parts, 3_601)
    fresh = await parts.sessions.open(user, LAPTOP)

    # Act
    await parts.sessions.maintain()

    # Assert: the expired token is gone, the live one stays usable.
    async with parts.db.engine.connect() as conn:
        sessions = list((await conn.execute(select(t.refresh_tokens.c.session_id))).scalars())
    assert sessions == [fresh.session.session_id]
    assert old.session.session_id not in sessions
    assert (await parts.sessions.refresh(fresh.refresh_token, LAPTOP)).session.session_id == (
        fresh.session.session_id)


async def test_revoke_all_when_user_has_sessions_revokes_only_theirs(parts: Parts) -> None:
    # Arrange
    alice = await parts.add_user("alice")
    bob = await parts.add_user("bobby")
    a1 = await parts.sessions.open(alice, LAPTOP)
    a2 = await parts.sessions.open(alice, PHONE)
    b1 = await parts.sessions.open(bob, LAPTOP)

    # Act
    ids = await parts.sessions.revoke_all(alice.user_id, actor=alice.user_id, ctx=LAPTOP)

    # Assert
    assert sorted(ids) == sorted([a1.session.session_id, a2.session.session_id])
    assert await parts.sessions.list_own(alice.user_id) == []
    assert [s.session_id for s in await parts.sessions.list_own(bob.user_id)] == [
        b1.session.session_id]
    assert not parts.sessions.is_revoked(b1.session.session_id)


async def test_revoke_own_when_session_of_another_user_raises_not_found(parts: Parts) -> None:
    alice = await parts.add_user("alice")
    bob = await parts.add_user("bobby")
    theirs = await parts.sessions.open(bob, LAPTOP)

    with pytest.raises(NotFound) as caught:
        await parts.sessions.revoke_own(alice.user_id, theirs.session.session_id, LAPTOP)

    assert caught.value.code == "session_not_found"
    assert not parts.sessions.is_revoked(theirs.session.session_id)
    assert len(await parts.sessions.list_own(bob.user_id)) == 1


# -- Devices and alerts ---------------------------------------------------------------------------


async def test_open_when_device_new_for_user_records_it_and_alerts(parts: Parts) -> None:
    # Arrange
    user = await parts.add_user("alice")
    first = await parts.sessions.open(user, LAPTOP)
    same = await parts.sessions.open(user, RequestContext(ip="198.51.100.99",
                                                          user_agent=LAPTOP.user_agent))

    # Act
    other = await parts.sessions.open(user, PHONE)

    # Assert: the first device and the same network are not alerted; the phone is.
    assert (first.new_device, same.new_device, other.new_device) == (True, False, True)
    alerts = await parts.alerts.list_alerts(user.user_id)
    assert [(a.kind, a.read_ns) for a in alerts] == [("new_device", None)]
    assert PHONE.ip in alerts[0].detail
    devices = await parts.audit.entries(action="auth.new_device")
    assert [e.detail["first"] for e in devices] == [True, False]


async def test_mark_read_when_alert_of_another_user_raises_not_found(parts: Parts) -> None:
    alice = await parts.add_user("alice")
    bob = await parts.add_user("bobby")
    alert = await parts.alerts.raise_alert(bob.user_id, "notice", "Hello")

    with pytest.raises(NotFound):
        await parts.alerts.mark_read(alice.user_id, alert.alert_id)

    assert (await parts.alerts.list_alerts(bob.user_id, unread_only=True))[0].read_ns is None


async def test_list_alerts_when_several_returns_newest_first_and_marks_read(
        parts: Parts) -> None:
    user = await parts.add_user("alice")
    older = await parts.alerts.raise_alert(user.user_id, "notice", "First")
    _advance_s(parts, 1)
    newer = await parts.alerts.raise_alert(user.user_id, "notice", "Second")

    await parts.alerts.mark_read(user.user_id, older.alert_id)

    listed = await parts.alerts.list_alerts(user.user_id)
    assert [a.alert_id for a in listed] == [newer.alert_id, older.alert_id]
    assert [a.alert_id for a in await parts.alerts.list_alerts(
        user.user_id, unread_only=True)] == [newer.alert_id]
    assert await parts.alerts.mark_all_read(user.user_id) == 1
