"""Open WebSockets of revoked credentials, in one embedded process (no Redis): a logout, a
password change, a reused refresh token, a revoked API key and a closed user close the sockets
authenticated with them (`/v1/ws` and `/stream`) with 4001 at once, and only those; a role
change keeps them open. A revocation this process learns only from its periodic re-read (made
by another process, no Redis) closes them at the next sweep."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.kit.server import RunningServer, TestUser, running_platform
from tests.kit.ws_auth import close_code, stream_authenticated, ws_authenticated
from tradehall.entrypoints.api.ws.connection import CLOSE_REVOKED
from tradehall.entrypoints.api.ws.revocation import revocation_guard

AT_ONCE_S = 2.0
STAYS_OPEN_S = 0.3


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_platform(tmp_path, market=False) as srv:
        yield srv


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        yield client


async def login(http: httpx.AsyncClient, user: TestUser) -> tuple[str, str]:
    """A new session: its access token and refresh token."""
    answer = await http.post("/v1/auth/login", json={"username": user.user.username,
                                                     "password": user.password})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"], answer.json()["refresh_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_logout_when_sockets_are_open_closes_only_that_sessions(
        server: RunningServer, http: httpx.AsyncClient) -> None:
    # Arrange
    alice = await server.create_user("alice", deposits={})
    (ending, _), (other, _) = await login(http, alice), await login(http, alice)
    ending_ws = await ws_authenticated(server.ws_url, {"token": ending})
    other_ws = await ws_authenticated(server.ws_url, {"token": other})

    # Act
    logout = await http.post("/v1/auth/logout", headers=bearer(ending))

    # Assert
    assert logout.status_code == 204
    assert await close_code(ending_ws, AT_ONCE_S) == CLOSE_REVOKED
    assert await close_code(other_ws, STAYS_OPEN_S) is None


async def test_password_change_when_other_session_has_a_socket_closes_it_keeps_callers(
        server: RunningServer, http: httpx.AsyncClient) -> None:
    # Arrange
    alice = await server.create_user("alice", deposits={})
    (caller, _), (other, _) = await login(http, alice), await login(http, alice)
    caller_ws = await ws_authenticated(server.ws_url, {"token": caller})
    other_ws = await ws_authenticated(server.ws_url, {"token": other})

    # Act
    changed = await http.post("/v1/account/password", headers=bearer(caller), json={
        "current_password": alice.password, "new_password": "a new horse battery"})

    # Assert
    assert changed.json()["sessions_revoked"] == 1, changed.text
    assert await close_code(other_ws, AT_ONCE_S) == CLOSE_REVOKED
    assert await close_code(caller_ws, STAYS_OPEN_S) is None


async def test_refresh_token_when_reused_closes_the_sessions_socket(
        server: RunningServer, http: httpx.AsyncClient) -> None:
    # Arrange
    alice = await server.create_user("alice", deposits={})
    access, refresh = await login(http, alice)
    ws = await ws_authenticated(server.ws_url, {"token": access})
    assert (await http.post("/v1/auth/refresh", json={"refresh_token": refresh})
            ).status_code == 200

    # Act
    reused = await http.post("/v1/auth/refresh", json={"refresh_token": refresh})

    # Assert
    assert reused.json()["code"] == "refresh_token_reused"
    assert await close_code(ws, AT_ONCE_S) == CLOSE_REVOKED


async def test_api_key_when_revoked_closes_its_ws_and_stream_sockets_only(
        server: RunningServer, http: httpx.AsyncClient) -> None:
    # Arrange
    bob = await server.create_user("bobby", deposits={})
    access, _ = await login(http, bob)
    key = {"key_id": bob.key.key_id, "secret_key": bob.key.secret}
    ws = await ws_authenticated(server.ws_url, key)
    stream = await stream_authenticated(server.ws_url, bob.key.key_id, bob.key.secret)
    session_ws = await ws_authenticated(server.ws_url, {"token": access})

    # Act
    revoked = await http.delete(f"/v1/api-keys/{bob.key.key_id}", headers=bearer(access))

    # Assert
    assert revoked.status_code == 204
    assert await close_code(ws, AT_ONCE_S) == CLOSE_REVOKED
    assert await close_code(stream, AT_ONCE_S) == CLOSE_REVOKED
    assert await close_code(session_ws, STAYS_OPEN_S) is None


async def test_user_when_closed_by_admin_closes_key_sockets_and_role_change_keeps_them(
        server: RunningServer, http: httpx.AsyncClient) -> None:
    # Arrange
    admin = await server.create_user("admin", roles=("admin",), deposits={})
    carol = await server.create_user("carol", deposits={})
    dave = await server.create_user("dave", deposits={})
    admin_bearer = bearer((await login(http, admin))[0])
    carol_ws = await ws_authenticated(server.ws_url, {"key_id": carol.key.key_id,
                                                      "secret_key": carol.key.secret})
    dave_ws = await ws_authenticated(server.ws_url, {"key_id": dave.key.key_id,
                                                     "secret_key": dave.key.secret})

    # Act
    promoted = await http.put("/v1/admin/users/dave/roles", headers=admin_bearer,
                              json={"roles": ["trader", "provider"]})
    closed = await http.put("/v1/admin/users/carol/state", headers=admin_bearer,
                            json={"state": "closed"})

    # Assert
    assert (promoted.status_code, closed.status_code) == (200, 200)
    assert await close_code(carol_ws, AT_ONCE_S) == CLOSE_REVOKED
    assert await close_code(dave_ws, STAYS_OPEN_S) is None


async def test_session_when_revoked_by_another_process_without_redis_closes_at_the_sweep(
        server: RunningServer, http: httpx.AsyncClient) -> None:
    # Arrange
    revocation_guard(server.platform).sweep_s = 0.2
    erin = await server.create_user("erin", deposits={})
    access, _ = await login(http, erin)
    ws = await ws_authenticated(server.ws_url, {"token": access})
    sessions = server.platform.auth.sessions
    session_id = server.platform.auth.tokens.verify(access).session_id
    assert session_id is not None

    # Act: another process revokes it in the shared database; this one's upkeep re-reads
    await sessions.store.revoke_session(session_id, server.platform.clock.now_ns(), "revoked")
    unknown_before_the_reread = not sessions.is_revoked(session_id)
    await sessions.maintain()

    # Assert
    assert unknown_before_the_reread
    assert await close_code(ws, AT_ONCE_S) == CLOSE_REVOKED
