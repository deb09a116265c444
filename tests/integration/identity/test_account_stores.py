"""The SQL stores of accounts on SQLite and PostgreSQL: single use holds under concurrency
(one-time tokens, TOTP time steps, recovery codes), expiry and purpose are checked in the
same statement, the outbox keeps pending mail until it is marked sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tradehall.adapters.sql import SqlDatabase
from tradehall.adapters.sql.accounts import SqlAccountStore, SqlMailOutbox, SqlMfaStore
from tradehall.identity.account_store import OneTimeToken
from tradehall.identity.mail import MailMessage
from tradehall.identity.mfa import TotpRecord
from tradehall.identity.ports import UserRecord
from tradehall.kernel.clock import TestClock
from tradehall.kernel.errors import Conflict
from tradehall.kernel.ids import AccountId, random_uuid

NOW = 1_800_000_000_000_000_000


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[SqlDatabase]:
    database = await SqlDatabase.open(db_url)
    try:
        yield database
    finally:
        await database.close()


async def _user(db: SqlDatabase, name: str = "bob") -> UserRecord:
    user = UserRecord(user_id=random_uuid(), username=name, password_hash="-",
                      account=AccountId(name), roles=["trader"], created_ns=NOW,
                      email=f"{name}@example.com")
    await db.identity.add_user(user)
    return user


def _token(user: UserRecord, digest: str = "a" * 64) -> OneTimeToken:
    return OneTimeToken(token_hash=digest, purpose="verify_email", user_id=user.user_id,
                        created_ns=NOW, expires_ns=NOW + 1_000)


async def test_consume_token_when_raced_lets_exactly_one_win(db: SqlDatabase) -> None:
    # Arrange
    store = SqlAccountStore(db.engine, db.writer)
    user = await _user(db)
    await store.add_token(_token(user))

    # Act
    got = await asyncio.gather(*(store.consume_token("a" * 64, "verify_email", NOW + 1)
                                 for _ in range(6)))

    # Assert
    winners = [g for g in got if g is not None]
    assert len(winners) == 1
    assert winners[0].used_ns == NOW + 1


@pytest.mark.parametrize(("purpose", "at"), [("password_reset", NOW + 1),
                                             ("verify_email", NOW + 1_000)])
async def test_consume_token_when_other_purpose_or_expired_finds_nothing_and_keeps_it(
        db: SqlDatabase, purpose: str, at: int) -> None:
    store = SqlAccountStore(db.engine, db.writer)
    user = await _user(db)
    await store.add_token(_token(user))
    assert await store.consume_token("a" * 64, purpose, at) is None  # type: ignore[arg-type]
    assert await store.consume_token("a" * 64, "verify_email", NOW + 2) is not None


async def test_revoke_tokens_when_called_spends_only_that_users_purpose(db: SqlDatabase) -> None:
    # Arrange
    store = SqlAccountStore(db.engine, db.writer)
    bob, eve = await _user(db, "bob"), await _user(db, "eve")
    await store.add_token(_token(bob, "b" * 64))
    await store.add_token(_token(eve, "e" * 64))

    # Act
    revoked = await store.revoke_tokens(bob.user_id, "verify_email", NOW)

    # Assert
    assert revoked == 1
    assert await store.consume_token("b" * 64, "verify_email", NOW + 1) is None
    assert await store.consume_token("e" * 64, "verify_email", NOW + 1) is not None


async def test_user_changes_when_written_are_read_back(db: SqlDatabase) -> None:
    # Arrange
    store = SqlAccountStore(db.engine, db.writer)
    user = await _user(db)

    # Act
    await store.set_lockout(user.user_id, 7, NOW + 5)
    await store.set_mfa_enabled(user.user_id, True)
    await store.set_roles(user.user_id, ["dealer", "trader"])
    changed = await store.set_state(user.user_id, "closed", email_verified=True)

    # Assert
    assert changed is not None
    assert (changed.failed_logins, changed.locked_until_ns, changed.mfa_enabled,
            changed.roles, changed.state, changed.email_verified) == (
        7, NOW + 5, True, ["dealer", "trader"], "closed", True)
    assert await store.get_user_by_email("bob@example.com") == changed
    assert await store.set_state(random_uuid(), "active") is None


async def _confirmed_totp(db: SqlDatabase, user: UserRecord) -> SqlMfaStore:
    store = SqlMfaStore(db.engine, db.writer)
    await store.put_totp(TotpRecord(user_id=user.user_id, secret_sealed=b"\x00sealed\xff",
                                    confirmed=False, created_ns=NOW))
    assert await store.confirm_totp(user.user_id, 100, ["c" * 64, "d" * 64])
    return store


async def test_advance_step_when_raced_for_one_step_lets_exactly_one_win(
        db: SqlDatabase) -> None:
    # Arrange
    user = await _user(db)
    store = await _confirmed_totp(db, user)

    # Act
    got = await asyncio.gather(*(store.advance_step(user.user_id, 101) for _ in range(6)))

    # Assert
    assert got.count(True) == 1
    assert not await store.advance_step(user.user_id, 100)
    record = await store.get_totp(user.user_id)
    assert record is not None
    assert (record.last_step, record.secret_sealed) == (101, b"\x00sealed\xff")


async def test_use_recovery_code_when_raced_lets_exactly_one_win(db: SqlDatabase) -> None:
    user = await _user(db)
    store = await _confirmed_totp(db, user)
    got = await asyncio.gather(*(store.use_recovery_code(user.user_id, "c" * 64, NOW)
                                 for _ in range(6)))
    assert got.count(True) == 1
    assert await store.recovery_codes_left(user.user_id) == 1


async def test_put_totp_when_already_confirmed_is_a_conflict_and_keeps_the_secret(
        db: SqlDatabase) -> None:
    # Arrange
    user = await _user(db)
    store = await _confirmed_totp(db, user)

    # Act
    with pytest.raises(Conflict) as raised:
        await store.put_totp(TotpRecord(user_id=user.user_id, secret_sealed=b"other",
                                        confirmed=False, created_ns=NOW))

    # Assert
    assert raised.value.code == "mfa_already_enabled"
    record = await store.get_totp(user.user_id)
    assert record is not None
    assert record.confirmed


async def test_delete_totp_when_called_removes_secret_and_codes(db: SqlDatabase) -> None:
    user = await _user(db)
    store = await _confirmed_totp(db, user)
    await store.delete_totp(user.user_id)
    assert await store.get_totp(user.user_id) is None
    assert await store.recovery_codes_left(user.user_id) == 0


async def test_outbox_when_mail_marked_sent_leaves_pending(db: SqlDatabase) -> None:
    # Arrange
    clock = TestClock(NOW)
    box = SqlMailOutbox(db.engine, db.writer, clock=clock)
    for to in ("a@example.com", "b@example.com"):
        await box.send(MailMessage(kind="notice", to=to, subject="hi", body="hello"))
        clock.advance(1)
    first = (await box.pending())[0]

    # Act
    marked = await box.mark_sent(first.mail_id)
    again = await box.mark_sent(first.mail_id)

    # Assert
    assert (marked, again) == (True, False)
    assert [m.message.to for m in await box.pending()] == ["b@example.com"]
    assert await box.pending(to="a@example.com") == []
