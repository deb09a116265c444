"""Login abuse through the real API: guessing is slowed (429 with Retry-After), then locked;
a locked account refuses even the right password; answers never tell whether a username
exists; refusals are audited without the password; tokens never reach the logs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.kit.accounts import PASSWORD, bearer, login, mailed_token, totp_code
from tests.kit.clocks import ShiftedClock
from tests.kit.server import RunningServer, running_platform

WRONG = "not the password"
LOCKOUT = 10
QUICK_LOCKOUT = 5
QUICK_IP_FREE = 6
TIMEOUT_S = 60  # password hashing on a loaded machine


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
async def server(tmp_path: Path, clock: ShiftedClock) -> AsyncIterator[RunningServer]:
    async with running_platform(tmp_path, market=False, clock=clock) as srv:
        clock.freeze()  # only the tests move time: no delay passes on its own on a slow machine
        yield srv


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=TIMEOUT_S) as c:
        yield c


@pytest.fixture
async def quick(tmp_path: Path, clock: ShiftedClock) -> AsyncIterator[
        tuple[RunningServer, httpx.AsyncClient]]:
    """A server that locks a username after 5 failures and delays an address after 6 (fewer
    password hashes per test)."""
    async with running_platform(tmp_path, market=False, clock=clock,
                                login_lockout_failures=QUICK_LOCKOUT,
                                login_ip_free_failures=QUICK_IP_FREE) as srv, \
            httpx.AsyncClient(base_url=srv.base_url, timeout=TIMEOUT_S) as c:
        clock.freeze()
        yield srv, c


async def _guess_until_locked(client: httpx.AsyncClient, clock: ShiftedClock,
                              username: str) -> list[tuple[int, str, str | None]]:
    """Guess wrong passwords, waiting out each 429, until the lockout answers."""
    answers: list[tuple[int, str, str | None]] = []
    while len(answers) < 60:
        answer = await login(client, username, WRONG)
        answers.append((answer.status_code, answer.json()["code"],
                        answer.headers.get("retry-after")))
        if answer.json()["code"] == "account_locked":
            break
        if answer.status_code == 429:
            clock.advance(int(answer.headers["retry-after"]))
    return answers


async def test_brute_force_when_guessing_gets_429_with_growing_retry_after_then_locked(
        server: RunningServer, client: httpx.AsyncClient, clock: ShiftedClock) -> None:
    # Arrange
    await server.create_user("bob", deposits={})

    # Act
    answers = await _guess_until_locked(client, clock, "bob")

    # Assert
    failures = [a for a in answers if a[1] == "invalid_credentials"]
    throttled = [a for a in answers if a[0] == 429]
    assert len(failures) == LOCKOUT
    assert answers[:4] == [(401, "invalid_credentials", None)] * 3 + [
        (429, "login_throttled", "1")]
    assert [int(a[2] or 0) for a in throttled] == [1, 2, 4, 8, 16, 32, 64]
    assert answers[-1][:2] == (401, "account_locked")
    user = await server.platform.identity.get_user_by_username("bob")
    assert user is not None
    assert user.state == "active"
    assert user.failed_logins == LOCKOUT
    assert user.locked_until_ns is not None


async def test_login_when_locked_refuses_the_right_password_until_the_lock_ends(
        quick: tuple[RunningServer, httpx.AsyncClient], clock: ShiftedClock) -> None:
    # Arrange
    server, client = quick
    await server.create_user("bob", deposits={})
    await _guess_until_locked(client, clock, "bob")

    # Act
    locked = await login(client, "bob")
    clock.advance(15 * 60 + 1)
    after = await login(client, "bob")

    # Assert
    assert (locked.status_code, locked.json()["code"]) == (401, "account_locked")
    assert after.status_code == 200
    user = await server.platform.identity.get_user_by_username("bob")
    assert user is not None
    assert (user.failed_logins, user.locked_until_ns) == (0, None)


async def test_admin_unlock_when_locked_lets_the_right_password_in(
        quick: tuple[RunningServer, httpx.AsyncClient], clock: ShiftedClock) -> None:
    # Arrange
    server, client = quick
    admin = await server.create_user("root", roles=("admin",), deposits={})
    await server.create_user("bob", deposits={})
    await _guess_until_locked(client, clock, "bob")
    seen = await client.get("/v1/admin/users/bob", headers=admin.headers)

    # Act
    unlocked = await client.post("/v1/admin/users/bob/unlock", headers=admin.headers)
    answer = await login(client, "bob")

    # Assert
    assert seen.json()["locked_until"] is not None
    assert seen.json()["failed_logins"] == QUICK_LOCKOUT
    assert unlocked.status_code == 200
    assert (unlocked.json()["locked_until"], unlocked.json()["failed_logins"]) == (None, 0)
    assert answer.status_code == 200
    actions = [e.action for e in await server.platform.audit.entries(limit=1000)]
    assert "auth.account_locked" in actions
    assert "user.unlocked" in actions


async def test_login_when_throttled_does_not_check_even_the_right_password(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    await server.create_user("bob", deposits={})
    for _ in range(3):
        await login(client, "bob", WRONG)

    # Act
    answer = await login(client, "bob")

    # Assert
    assert (answer.status_code, answer.json()["code"]) == (429, "login_throttled")
    assert answer.headers["retry-after"] == "1"


async def test_login_when_username_unknown_answers_like_a_wrong_password(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    await server.create_user("bob", deposits={})

    # Act
    unknown = await login(client, "nobody", WRONG)
    wrong = await login(client, "bob", WRONG)

    # Assert
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json() == {
        "code": "invalid_credentials", "message": "wrong username or password", "field": None}
    assert unknown.headers.get("retry-after") == wrong.headers.get("retry-after")


async def test_brute_force_when_username_unknown_throttles_and_locks_alike(
        quick: tuple[RunningServer, httpx.AsyncClient], clock: ShiftedClock) -> None:
    # Arrange
    server, client = quick
    await server.create_user("bob", deposits={})

    # Act
    known = await _guess_until_locked(client, clock, "bob")
    clock.advance(15 * 60 + 1)  # the address's failures are forgotten
    unknown = await _guess_until_locked(client, clock, "nobody")

    # Assert
    assert unknown == known
    assert (await login(client, "nobody")).json()["code"] == "account_locked"


async def test_login_when_one_address_guesses_many_usernames_is_throttled(
        quick: tuple[RunningServer, httpx.AsyncClient]) -> None:
    # Arrange: the per-address count catches spraying across usernames
    _, client = quick
    for i in range(QUICK_IP_FREE):
        assert (await login(client, f"user{i}", WRONG)).status_code == 401

    # Act
    answer = await login(client, "someone-else", WRONG)

    # Assert
    assert (answer.status_code, answer.json()["code"]) == (429, "login_throttled")


async def test_login_when_2fa_codes_guessed_counts_failures(
        server: RunningServer, client: httpx.AsyncClient, clock: ShiftedClock) -> None:
    # Arrange
    await server.create_user("bob", deposits={})
    headers = await bearer(client, "bob")
    secret = (await client.post("/v1/account/2fa/enroll", headers=headers)).json()["secret"]
    await client.post("/v1/account/2fa/confirm", headers=headers,
                      json={"code": totp_code(secret, clock)})
    wrong = f"{(int(totp_code(secret, clock)) + 500_000) % 1_000_000:06d}"
    for _ in range(3):
        assert (await login(client, "bob", totp_code=wrong)).json()["code"] == (
            "invalid_mfa_code")

    # Act
    answer = await login(client, "bob", totp_code=wrong)

    # Assert
    assert (answer.status_code, answer.json()["code"]) == (429, "login_throttled")


async def test_login_failures_when_audited_carry_the_reason_and_never_the_password(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    bob = await server.create_user("bob", deposits={})

    # Act
    await login(client, "bob", WRONG)
    await login(client, "nobody", WRONG)

    # Assert
    entries = await server.platform.audit.entries(action="auth.login_failed")
    assert [(e.actor, e.detail["reason"]) for e in entries] == [
        (bob.user.user_id, "invalid_credentials"), (None, "invalid_credentials")]
    assert all(WRONG not in repr(e) and PASSWORD not in repr(e) for e in entries)


async def test_tokens_when_mailed_never_reach_the_logs(
        server: RunningServer, client: httpx.AsyncClient,
        caplog: pytest.LogCaptureFixture) -> None:
    # Arrange
    caplog.set_level(logging.INFO)
    email = "carol@example.com"

    # Act
    await client.post("/v1/account/register", json={
        "username": "carol", "email": email, "password": PASSWORD})
    verify = await mailed_token(server, email, "verify_email")
    await client.post("/v1/account/verify-email", json={"token": verify})
    await client.post("/v1/account/password-reset", json={"email": email})
    reset = await mailed_token(server, email, "password_reset")
    await client.post("/v1/account/password-reset/confirm",
                      json={"token": reset, "new_password": "brand new password"})

    # Assert
    assert verify not in caplog.text
    assert reset not in caplog.text
    assert PASSWORD not in caplog.text


async def test_brute_force_when_guesses_sent_in_parallel_checks_one_at_a_time(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    import asyncio
    await server.create_user("bob", deposits={})

    # Act
    answers = await asyncio.gather(*(login(client, "bob", WRONG) for _ in range(8)))

    # Assert: a burst cannot get more guesses checked than one at a time would
    codes = [a.json()["code"] for a in answers]
    assert set(codes) <= {"invalid_credentials", "login_throttled"}
    assert "login_throttled" in codes
    entries = await server.platform.audit.entries(action="auth.login_failed", limit=100)
    assert sum(e.detail["reason"] == "invalid_credentials" for e in entries) == codes.count(
        "invalid_credentials")
