"""Accounts through the real API: registration, e-mail verification via the outbox, login
states, password change and reset; tokens single-use and expiring; admin user routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.kit.accounts import PASSWORD, bearer, login, mailed_token, outbox
from tests.kit.clocks import ShiftedClock
from tests.kit.server import RunningServer, running_platform

EMAIL = "alice@example.com"


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
async def server(tmp_path: Path, clock: ShiftedClock) -> AsyncIterator[RunningServer]:
    async with running_platform(tmp_path, market=False, clock=clock) as srv:
        yield srv


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    """The e2e client with a longer timeout (password hashing on a loaded machine)."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as c:
        yield c


async def _register(client: httpx.AsyncClient, username: str = "alice",
                    email: str = EMAIL) -> httpx.Response:
    return await client.post("/v1/account/register", json={
        "username": username, "email": email, "password": PASSWORD})


async def _registered_and_verified(server: RunningServer, client: httpx.AsyncClient) -> None:
    assert (await _register(client)).status_code == 201
    token = await mailed_token(server, EMAIL, "verify_email")
    assert (await client.post("/v1/account/verify-email",
                              json={"token": token})).status_code == 200


# -- Registration and verification --------------------------------------------------------------


async def test_register_when_verified_through_outbox_then_login_succeeds(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    registered = await _register(client)
    assert registered.status_code == 201
    assert registered.json()["state"] == "pending"
    token = await mailed_token(server, EMAIL, "verify_email")

    # Act
    verified = await client.post("/v1/account/verify-email", json={"token": token})
    answer = await login(client, "alice")

    # Assert
    assert verified.status_code == 200
    assert verified.json() == {**registered.json(), "state": "active", "email_verified": True}
    assert answer.status_code == 200
    assert answer.json()["username"] == "alice"


async def test_login_when_email_not_verified_answers_account_pending(
        client: httpx.AsyncClient) -> None:
    # Arrange
    assert (await _register(client)).status_code == 201

    # Act
    answer = await login(client, "alice")

    # Assert
    assert answer.status_code == 401
    assert answer.json()["code"] == "account_pending"


async def test_login_when_pending_and_wrong_password_does_not_reveal_the_state(
        client: httpx.AsyncClient) -> None:
    assert (await _register(client)).status_code == 201
    answer = await login(client, "alice", "not the password")
    assert answer.status_code == 401
    assert answer.json()["code"] == "invalid_credentials"


async def test_verify_email_when_token_reused_is_refused(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    await _registered_and_verified(server, client)
    token = await mailed_token(server, EMAIL, "verify_email")

    # Act
    again = await client.post("/v1/account/verify-email", json={"token": token})

    # Assert
    assert again.status_code == 422
    assert again.json()["code"] == "invalid_account_token"


async def test_verify_email_when_token_expired_is_refused_and_user_stays_pending(
        server: RunningServer, client: httpx.AsyncClient, clock: ShiftedClock) -> None:
    # Arrange
    assert (await _register(client)).status_code == 201
    token = await mailed_token(server, EMAIL, "verify_email")
    clock.advance(24 * 3600 + 1)

    # Act
    answer = await client.post("/v1/account/verify-email", json={"token": token})

    # Assert
    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_account_token"
    user = await server.platform.identity.get_user_by_username("alice")
    assert user is not None
    assert user.state == "pending"


async def test_verify_email_when_token_unknown_is_refused(client: httpx.AsyncClient) -> None:
    answer = await client.post("/v1/account/verify-email", json={"token": "x" * 43})
    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_account_token"


async def test_register_when_username_or_email_taken_answers_409(
        client: httpx.AsyncClient) -> None:
    # Arrange
    assert (await _register(client)).status_code == 201

    # Act
    same_name = await _register(client, "alice", "other@example.com")
    same_mail = await _register(client, "bob", "Alice@Example.com")

    # Assert
    assert (same_name.status_code, same_name.json()["code"]) == (409, "username_taken")
    assert (same_mail.status_code, same_mail.json()["code"]) == (409, "email_taken")


@pytest.mark.parametrize(("body", "code"), [
    ({"username": "alice", "email": EMAIL, "password": PASSWORD, "roles": ["admin"]},
     "invalid_field"),
    ({"username": "alice", "email": "not-an-address", "password": PASSWORD}, "invalid_email"),
    ({"username": "Al", "email": EMAIL, "password": PASSWORD}, "invalid_username"),
    ({"username": "alice", "email": EMAIL, "password": "short"}, "invalid_password"),
])
async def test_register_when_body_invalid_answers_422_and_creates_nothing(
        server: RunningServer, client: httpx.AsyncClient, body: dict[str, object],
        code: str) -> None:
    answer = await client.post("/v1/account/register", json=body)
    assert answer.status_code == 422
    assert answer.json()["code"] == code
    assert await server.platform.identity.list_users() == []
    assert await outbox(server, EMAIL) == []


# -- Password change ----------------------------------------------------------------------------


async def test_change_password_when_current_given_ends_other_sessions(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    await server.create_user("bob", deposits={})
    mine = await bearer(client, "bob")
    other = await bearer(client, "bob")

    # Act
    answer = await client.post("/v1/account/password", headers=mine, json={
        "current_password": PASSWORD, "new_password": "a new long password"})

    # Assert
    assert answer.status_code == 200
    assert answer.json() == {"sessions_revoked": 1}
    assert (await client.get("/v1/auth/me", headers=mine)).status_code == 200
    assert (await client.get("/v1/auth/me", headers=other)).status_code == 401
    assert (await login(client, "bob")).status_code == 401
    assert (await login(client, "bob", "a new long password")).status_code == 200


async def test_change_password_when_current_wrong_is_refused_and_password_stays(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    await server.create_user("bob", deposits={})
    headers = await bearer(client, "bob")

    # Act
    answer = await client.post("/v1/account/password", headers=headers, json={
        "current_password": "wrong password", "new_password": "a new long password"})

    # Assert
    assert (answer.status_code, answer.json()["code"]) == (422, "wrong_password")
    assert (await login(client, "bob")).status_code == 200


async def test_change_password_when_called_with_api_key_needs_a_session(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    bob = await server.create_user("bob", deposits={})
    answer = await client.post("/v1/account/password", headers=bob.headers, json={
        "current_password": PASSWORD, "new_password": "a new long password"})
    assert (answer.status_code, answer.json()["code"]) == (403, "session_required")


# -- Password reset -----------------------------------------------------------------------------


async def test_password_reset_when_token_mailed_sets_new_password_once(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    await _registered_and_verified(server, client)
    session = await bearer(client, "alice")
    requested = await client.post("/v1/account/password-reset", json={"email": EMAIL})
    token = await mailed_token(server, EMAIL, "password_reset")

    # Act
    reset = await client.post("/v1/account/password-reset/confirm", json={
        "token": token, "new_password": "brand new password"})
    reused = await client.post("/v1/account/password-reset/confirm", json={
        "token": token, "new_password": "another new password"})

    # Assert
    assert requested.status_code == 202
    assert reset.status_code == 200
    assert reset.json() == {"sessions_revoked": 1}
    assert (await client.get("/v1/auth/me", headers=session)).status_code == 401
    assert (reused.status_code, reused.json()["code"]) == (422, "invalid_account_token")
    assert (await login(client, "alice")).status_code == 401
    assert (await login(client, "alice", "another new password")).status_code == 401
    assert (await login(client, "alice", "brand new password")).status_code == 200


async def test_password_reset_when_address_unknown_answers_the_same_and_mails_nothing(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    await _registered_and_verified(server, client)

    # Act
    known = await client.post("/v1/account/password-reset", json={"email": EMAIL})
    unknown = await client.post("/v1/account/password-reset",
                                json={"email": "nobody@example.com"})
    malformed = await client.post("/v1/account/password-reset", json={"email": "nobody"})

    # Assert
    assert known.status_code == unknown.status_code == malformed.status_code == 202
    assert known.json() == unknown.json() == malformed.json()
    assert await outbox(server, "nobody@example.com") == []
    assert [m.message.kind for m in await outbox(server, EMAIL)] == [
        "verify_email", "password_reset"]


async def test_password_reset_when_token_expired_is_refused_and_password_stays(
        server: RunningServer, client: httpx.AsyncClient, clock: ShiftedClock) -> None:
    # Arrange
    await _registered_and_verified(server, client)
    await client.post("/v1/account/password-reset", json={"email": EMAIL})
    token = await mailed_token(server, EMAIL, "password_reset")
    clock.advance(3600 + 1)

    # Act
    answer = await client.post("/v1/account/password-reset/confirm", json={
        "token": token, "new_password": "brand new password"})

    # Assert
    assert (answer.status_code, answer.json()["code"]) == (422, "invalid_account_token")
    assert (await login(client, "alice")).status_code == 200


async def test_password_reset_when_requested_again_only_newest_token_works(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    await _registered_and_verified(server, client)
    await client.post("/v1/account/password-reset", json={"email": EMAIL})
    first = await mailed_token(server, EMAIL, "password_reset")
    await client.post("/v1/account/password-reset", json={"email": EMAIL})
    second = await mailed_token(server, EMAIL, "password_reset")

    # Act
    old = await client.post("/v1/account/password-reset/confirm", json={
        "token": first, "new_password": "brand new password"})
    new = await client.post("/v1/account/password-reset/confirm", json={
        "token": second, "new_password": "brand new password"})

    # Assert
    assert first != second
    assert (old.status_code, new.status_code) == (422, 200)


async def test_password_reset_when_new_password_invalid_keeps_the_token(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    await _registered_and_verified(server, client)
    await client.post("/v1/account/password-reset", json={"email": EMAIL})
    token = await mailed_token(server, EMAIL, "password_reset")

    # Act
    short = await client.post("/v1/account/password-reset/confirm", json={
        "token": token, "new_password": "short"})
    good = await client.post("/v1/account/password-reset/confirm", json={
        "token": token, "new_password": "brand new password"})

    # Assert
    assert (short.status_code, short.json()["code"]) == (422, "invalid_password")
    assert good.status_code == 200


async def test_tokens_when_stored_keep_only_digests(server: RunningServer,
                                                    client: httpx.AsyncClient) -> None:
    # Arrange
    from sqlalchemy import select

    from tradehall.adapters.sql.tables_accounts import account_tokens
    assert (await _register(client)).status_code == 201
    token = await mailed_token(server, EMAIL, "verify_email")

    # Act
    async with server.platform.db.engine.connect() as conn:
        stored = (await conn.execute(select(account_tokens.c.token_hash))).scalars().all()

    # Assert
    assert len(stored) == 1
    assert token not in stored[0]
    assert len(stored[0]) == 64


# -- States and administration ------------------------------------------------------------------


@pytest.mark.parametrize(("state", "code"), [("locked", "account_locked"),
                                             ("closed", "account_closed")])
async def test_login_when_admin_set_state_is_refused_and_sessions_end(
        server: RunningServer, client: httpx.AsyncClient, state: str, code: str) -> None:
    # Arrange
    admin = await server.create_user("root", roles=("admin",), deposits={})
    await server.create_user("bob", deposits={})
    session = await bearer(client, "bob")

    # Act
    changed = await client.put("/v1/admin/users/bob/state", headers=admin.headers,
                               json={"state": state})
    answer = await login(client, "bob")

    # Assert
    assert changed.status_code == 200
    assert changed.json()["state"] == state
    assert (answer.status_code, answer.json()["code"]) == (401, code)
    assert (await client.get("/v1/auth/me", headers=session)).status_code == 401


async def test_admin_set_state_when_active_again_lets_user_log_in(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    admin = await server.create_user("root", roles=("admin",), deposits={})
    await server.create_user("bob", deposits={})
    for state in ("closed", "active"):
        await client.put("/v1/admin/users/bob/state", headers=admin.headers,
                         json={"state": state})
    assert (await login(client, "bob")).status_code == 200


async def test_admin_set_roles_when_changed_is_audited(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    admin = await server.create_user("root", roles=("admin",), deposits={})
    bob = await server.create_user("bob", deposits={})

    # Act
    answer = await client.put("/v1/admin/users/bob/roles", headers=admin.headers,
                              json={"roles": ["trader", "provider"]})

    # Assert
    assert answer.status_code == 200
    assert answer.json()["roles"] == ["provider", "trader"]
    entries = await server.platform.audit.entries(action="user.roles_changed")
    assert [(e.actor, e.target, e.detail) for e in entries] == [
        (admin.user.user_id, bob.user.user_id,
         {"before": ["trader"], "after": ["provider", "trader"]})]


async def test_admin_routes_when_caller_not_admin_are_forbidden_and_roles_stay(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    bob = await server.create_user("bob", deposits={})
    listed = await client.get("/v1/admin/users", headers=bob.headers)
    changed = await client.put("/v1/admin/users/bob/roles", headers=bob.headers,
                               json={"roles": ["admin"]})
    assert (listed.status_code, changed.status_code) == (403, 403)
    user = await server.platform.identity.get_user_by_username("bob")
    assert user is not None
    assert user.roles == ["trader"]


async def test_admin_set_roles_when_unknown_role_or_own_admin_removed_is_refused(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    admin = await server.create_user("root", roles=("admin",), deposits={})
    unknown = await client.put("/v1/admin/users/root/roles", headers=admin.headers,
                               json={"roles": ["wizard"]})
    demote = await client.put("/v1/admin/users/root/roles", headers=admin.headers,
                              json={"roles": ["trader"]})
    assert (unknown.status_code, unknown.json()["code"]) == (422, "invalid_role")
    assert (demote.status_code, demote.json()["code"]) == (409, "cannot_demote_self")


async def test_admin_get_user_when_listed_shows_state_and_unknown_is_404(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    admin = await server.create_user("root", roles=("admin",), deposits={})
    assert (await _register(client)).status_code == 201
    listed = await client.get("/v1/admin/users", headers=admin.headers)
    one = await client.get("/v1/admin/users/alice", headers=admin.headers)
    missing = await client.get("/v1/admin/users/nobody", headers=admin.headers)
    assert [u["username"] for u in listed.json()["data"]] == ["root", "alice"]
    assert one.json()["state"] == "pending"
    assert one.json()["email"] == EMAIL
    assert (missing.status_code, missing.json()["code"]) == (404, "user_not_found")


# -- Outbox CLI ---------------------------------------------------------------------------------


async def test_users_outbox_cli_when_server_runs_shows_pending_mail_with_token(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    import asyncio
    import json

    from tests.kit.serve_process import tradehall
    assert (await _register(client)).status_code == 201
    token = await mailed_token(server, EMAIL, "verify_email")
    data_dir = str(server.platform.settings.data_dir)

    # Act
    shown = await asyncio.to_thread(tradehall, "users", "outbox", "--json", "--to", EMAIL,
                                    "--data-dir", data_dir)
    other = await asyncio.to_thread(tradehall, "users", "outbox", "--to", "x@example.com",
                                    "--data-dir", data_dir)

    # Assert
    assert shown.returncode == 0, shown.stderr
    mails = json.loads(shown.stdout)
    assert [(m["kind"], m["to"]) for m in mails] == [("verify_email", EMAIL)]
    assert f"Token: {token}" in mails[0]["body"]
    assert (other.returncode, other.stdout.strip()) == (0, "no pending mail")


async def test_resend_verification_when_pending_mails_a_new_token_and_spends_the_old(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    assert (await _register(client)).status_code == 201
    first = await mailed_token(server, EMAIL, "verify_email")

    # Act
    resent = await client.post("/v1/account/verify-email/resend", json={"email": EMAIL})
    unknown = await client.post("/v1/account/verify-email/resend",
                                json={"email": "nobody@example.com"})
    second = await mailed_token(server, EMAIL, "verify_email")
    old = await client.post("/v1/account/verify-email", json={"token": first})
    new = await client.post("/v1/account/verify-email", json={"token": second})

    # Assert
    assert resent.status_code == unknown.status_code == 202
    assert resent.json() == unknown.json()
    assert await outbox(server, "nobody@example.com") == []
    assert first != second
    assert (old.status_code, new.status_code) == (422, 200)


async def test_admin_set_state_when_closed_stops_the_users_api_keys(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    admin = await server.create_user("root", roles=("admin",), deposits={})
    bob = await server.create_user("bob", deposits={})
    assert (await client.get("/v1/auth/me", headers=bob.headers)).status_code == 200

    # Act
    await client.put("/v1/admin/users/bob/state", headers=admin.headers,
                     json={"state": "closed"})
    answer = await client.get("/v1/auth/me", headers=bob.headers)

    # Assert
    assert answer.status_code == 401
