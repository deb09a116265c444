"""Two-factor authentication through the real API: enrolment, confirmation with recovery
codes, login with a code, one use per code and per recovery code, step-up on withdrawals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.kit.accounts import bearer, login, totp_code
from tests.kit.clocks import ShiftedClock
from tests.kit.server import RunningServer, TestUser, running_platform
from tradehall.identity.mfa import OTP_HEADER

_STEP_S = 30


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
async def server(tmp_path: Path, clock: ShiftedClock) -> AsyncIterator[RunningServer]:
    async with running_platform(tmp_path, clock=clock) as srv:
        yield srv


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    """The e2e client with a longer timeout (password hashing on a loaded machine)."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as c:
        yield c


async def _enrolled(client: httpx.AsyncClient, clock: ShiftedClock,
                    username: str = "bob") -> tuple[str, list[str], dict[str, str]]:
    """Enroll and confirm 2FA; return the secret, the recovery codes and the session header."""
    headers = await bearer(client, username)
    enrolled = await client.post("/v1/account/2fa/enroll", headers=headers)
    assert enrolled.status_code == 200, enrolled.text
    secret = enrolled.json()["secret"]
    confirmed = await client.post("/v1/account/2fa/confirm", headers=headers,
                                  json={"code": totp_code(secret, clock)})
    assert confirmed.status_code == 200, confirmed.text
    clock.advance(_STEP_S)  # the confirming code's step is used up
    return secret, confirmed.json()["recovery_codes"], headers


def _other_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def _bob(server: RunningServer) -> TestUser:
    return await server.create_user("bob", deposits={"USD": "1000"})


# -- Enrolment ----------------------------------------------------------------------------------


async def test_enroll_when_started_answers_otpauth_uri_and_svg_qr(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    await _bob(server)
    headers = await bearer(client, "bob")

    # Act
    answer = await client.post("/v1/account/2fa/enroll", headers=headers)

    # Assert
    assert answer.status_code == 200
    body = answer.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/tradehall:bob?secret=")
    assert f"secret={body['secret']}" in body["otpauth_uri"]
    assert body["qr_svg"].startswith("<svg")
    status = await client.get("/v1/account/2fa", headers=headers)
    assert status.json() == {"enabled": False, "recovery_codes_left": 0}


async def test_enroll_when_stored_keeps_the_secret_sealed(
        server: RunningServer, client: httpx.AsyncClient, clock: ShiftedClock) -> None:
    # Arrange
    from sqlalchemy import select

    from tradehall.adapters.sql.tables_accounts import recovery_codes, totp_secrets
    await _bob(server)
    secret, codes, _ = await _enrolled(client, clock)

    # Act
    async with server.platform.db.engine.connect() as conn:
        sealed = (await conn.execute(select(totp_secrets.c.secret_sealed))).scalar_one()
        hashes = (await conn.execute(select(recovery_codes.c.code_hash))).scalars().all()

    # Assert
    assert secret not in sealed
    assert len(hashes) == 10
    assert not {c.replace("-", "") for c in codes} & set(hashes)


async def test_confirm_when_code_wrong_leaves_2fa_off(
        server: RunningServer, client: httpx.AsyncClient, clock: ShiftedClock) -> None:
    # Arrange
    await _bob(server)
    headers = await bearer(client, "bob")
    secret = (await client.post("/v1/account/2fa/enroll", headers=headers)).json()["secret"]
    wrong = _other_code(totp_code(secret, clock))

    # Act
    answer = await client.post("/v1/account/2fa/confirm", headers=headers,
                               json={"code": wrong})

    # Assert
    assert (answer.status_code, answer.json()["code"]) == (401, "invalid_mfa_code")
    assert (await login(client, "bob")).status_code == 200


async def test_confirm_when_done_returns_ten_recovery_codes_once(
        server: RunningServer, client: httpx.AsyncClient, clock: ShiftedClock) -> None:
    # Arrange
    await _bob(server)
    secret, codes, headers = await _enrolled(client, clock)

    # Act
    again = await client.post("/v1/account/2fa/confirm", headers=headers,
                              json={"code": totp_code(secret, clock)})
    enroll_again = await client.post("/v1/account/2fa/enroll", headers=headers)
    status = await client.get("/v1/account/2fa", headers=headers)

    # Assert
    assert len(codes) == len(set(codes)) == 10
    assert (again.status_code, again.json()["code"]) == (409, "mfa_not_enrolling")
    assert (enroll_again.status_code, enroll_again.json()["code"]) == (
        409, "mfa_already_enabled")
    assert status.json() == {"enabled": True, "recovery_codes_left": 10}


async def test_enroll_when_called_with_api_key_needs_a_session(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    bob = await _bob(server)
    answer = await client.post("/v1/account/2fa/enroll", headers=bob.headers)
    assert (answer.status_code, answer.json()["code"]) == (403, "session_required")


# -- Login --------------------------------------------------------------------------------------


async def test_login_when_2fa_on_needs_a_code(
        server: RunningServer, client: httpx.AsyncClient, clock: ShiftedClock) -> None:
    # Arrange
    await _bob(server)
    secret, _, _ = await _enrolled(client, clock)

    # Act
    without = await login(client, "bob")
    wrong = await login(client, "bob", totp_code=_other_code(totp_code(secret, clock)))
    right = await login(client, "bob", totp_code=totp_code(secret, clock))

    # Assert
    assert (without.status_code, without.json()["code"]) == (401, "mfa_required")
    assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_mfa_code")
    assert right.status_code == 200


async def test_login_when_code_reused_is_refused(
        server: RunningServer, client: httpx.AsyncClient, clock: ShiftedClock) -> None:
    # Arrange
    await _bob(server)
    secret, _, _ = await _enrolled(client, clock)
    code = totp_code(secret, clock)
    assert (await login(client, "bob", totp_code=code)).status_code == 200

    # Act
    reused = await login(client, "bob", totp_code=code)
    clock.advance(_STEP_S)
    next_step = await login(client, "bob", totp_code=totp_code(secret, clock))

    # Assert
    assert (reused.status_code, reused.json()["code"]) == (401, "invalid_mfa_code")
    assert next_step.status_code == 200


async def test_login_when_code_of_previous_step_after_newer_one_is_refused(
        server: RunningServer, client: httpx.AsyncClient, clock: ShiftedClock) -> None:
    # Arrange: the window accepts one step of drift, but never a step before the last used
    await _bob(server)
    secret, _, _ = await _enrolled(client, clock)
    older = totp_code(secret, clock)
    clock.advance(_STEP_S)
    assert (await login(client, "bob", totp_code=totp_code(secret, clock))).status_code == 200

    # Act
    answer = await login(client, "bob", totp_code=older)

    # Assert
    assert (answer.status_code, answer.json()["code"]) == (401, "invalid_mfa_code")


async def test_login_when_recovery_code_given_works_once(
        server: RunningServer, client: httpx.AsyncClient, clock: ShiftedClock) -> None:
    # Arrange
    await _bob(server)
    _, codes, headers = await _enrolled(client, clock)

    # Act
    first = await login(client, "bob", totp_code=codes[0].upper())
    second = await login(client, "bob", totp_code=codes[0])

    # Assert
    assert first.status_code == 200
    assert (second.status_code, second.json()["code"]) == (401, "invalid_mfa_code")
    status = await client.get("/v1/account/2fa", headers=headers)
    assert status.json() == {"enabled": True, "recovery_codes_left": 9}


async def test_disable_when_code_given_turns_2fa_off(
        server: RunningServer, client: httpx.AsyncClient, clock: ShiftedClock) -> None:
    # Arrange
    await _bob(server)
    secret, _, headers = await _enrolled(client, clock)

    # Act
    refused = await client.post("/v1/account/2fa/disable", headers=headers,
                                json={"code": "12345"})
    disabled = await client.post("/v1/account/2fa/disable", headers=headers,
                                 json={"code": totp_code(secret, clock)})

    # Assert
    assert (refused.status_code, refused.json()["code"]) == (401, "invalid_mfa_code")
    assert disabled.status_code == 200
    assert (await login(client, "bob")).status_code == 200
    actions = [e.action for e in await server.platform.audit.entries(limit=1000)]
    assert "mfa.enabled" in actions
    assert "mfa.disabled" in actions


# -- Step-up ------------------------------------------------------------------------------------


async def test_withdrawal_when_2fa_on_needs_a_fresh_code_in_the_header(
        server: RunningServer, client: httpx.AsyncClient, clock: ShiftedClock) -> None:
    # Arrange
    bob = await _bob(server)
    secret, _, _ = await _enrolled(client, clock)
    body = {"asset": "USD", "amount": "10"}

    # Act
    without = await client.post("/v1/withdrawals", headers=bob.headers, json=body)
    code = totp_code(secret, clock)
    with_code = await client.post("/v1/withdrawals", json=body,
                                  headers={**bob.headers, OTP_HEADER: code})
    reused = await client.post("/v1/withdrawals", json=body,
                               headers={**bob.headers, OTP_HEADER: code})

    # Assert
    assert (without.status_code, without.json()["code"]) == (401, "mfa_required")
    assert with_code.status_code == 201
    assert (reused.status_code, reused.json()["code"]) == (401, "invalid_mfa_code")
    balances = (await client.get("/v1/balances", headers=bob.headers)).json()["data"]
    assert [b["available"] for b in balances if b["asset"] == "USD"] == ["990.00"]
    rejected = await server.platform.audit.entries(action="mfa.code_rejected")
    assert [(e.actor, e.ip) for e in rejected] == [(bob.user.user_id, "127.0.0.1")]


async def test_withdrawal_when_2fa_off_passes_without_a_code(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    bob = await _bob(server)
    answer = await client.post("/v1/withdrawals", headers=bob.headers,
                               json={"asset": "USD", "amount": "10"})
    assert answer.status_code == 201


async def test_withdrawal_when_setting_requires_2fa_refuses_users_without_it(
        tmp_path: Path) -> None:
    # Arrange
    async with running_platform(tmp_path, require_mfa_for_withdrawals=True) as srv:
        bob = await srv.create_user("bob", deposits={"USD": "1000"})
        async with httpx.AsyncClient(base_url=srv.base_url, timeout=60) as client:

            # Act
            answer = await client.post("/v1/withdrawals", headers=bob.headers,
                                       json={"asset": "USD", "amount": "10"})
            balances = (await client.get("/v1/balances", headers=bob.headers)).json()["data"]

    # Assert
    assert (answer.status_code, answer.json()["code"]) == (403, "mfa_enrollment_required")
    assert [b["available"] for b in balances if b["asset"] == "USD"] == ["1000.00"]


async def test_step_up_when_2fa_on_checks_codes_for_other_actions(
        server: RunningServer, client: httpx.AsyncClient, clock: ShiftedClock) -> None:
    # Arrange: what the API key routes call before creating a key
    from tradehall.kernel.errors import Unauthorized
    bob = await _bob(server)
    secret, _, _ = await _enrolled(client, clock)
    mfa = server.platform.auth.mfa

    # Act / Assert
    with pytest.raises(Unauthorized) as missing:
        await mfa.require_step_up(bob.user.user_id, None)
    await mfa.require_step_up(bob.user.user_id, totp_code(secret, clock))
    assert missing.value.code == "mfa_required"
