"""Sessions and tokens end to end: a real server on loopback, an httpx client.

Login hands out an access and a refresh token; refresh rotates; a reused refresh token revokes
its family; logout and logout-all end sessions at once; a user lists and revokes their own
sessions only; a new device raises an alert; key rotation keeps old tokens valid; the JWKS
document verifies a token with pyjwt; the refresh cookie is HttpOnly, Secure, SameSite=Strict.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.kit.server import RunningServer, TestUser, running_platform
from tradehall.entrypoints.cli.signing_keys import on_data_dir, rotate_signing_key

LAPTOP = {"User-Agent": "Firefox/140 (laptop)"}
PHONE = {"User-Agent": "Safari/19 (phone)"}


@pytest.fixture
async def srv(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A platform without the test market (sessions need none)."""
    async with running_platform(tmp_path, market=False) as server:
        yield server


@pytest.fixture
async def http(srv: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=srv.base_url, headers=LAPTOP) as c:
        yield c


async def _user(srv: RunningServer, name: str = "alice") -> TestUser:
    return await srv.create_user(name, deposits={})


async def _login(http: httpx.AsyncClient, user: TestUser,
                 headers: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    response = await http.post("/v1/auth/login", headers=headers, json={
        "username": user.user.username, "password": user.password, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def _me(http: httpx.AsyncClient, tokens: dict[str, Any]) -> httpx.Response:
    return await http.get("/v1/auth/me", headers=_bearer(tokens))


async def test_login_when_credentials_valid_returns_access_refresh_and_session(
        srv: RunningServer, http: httpx.AsyncClient) -> None:
    # Arrange
    alice = await _user(srv)

    # Act
    tokens = await _login(http, alice)

    # Assert
    assert tokens["token_type"] == "bearer"
    assert (tokens["username"], tokens["account"], tokens["roles"]) == (
        "alice", "alice", ["trader"])
    assert (tokens["expires_in"], tokens["refresh_expires_in"]) == (900, 14 * 86_400)
    assert jwt.get_unverified_header(tokens["access_token"])["alg"] == "RS256"
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["sid"] == tokens["session_id"]
    assert (await _me(http, tokens)).json()["username"] == "alice"
    logins = await srv.platform.audit.entries(action="auth.login", actor=alice.user.user_id)
    assert [e.detail["session_id"] for e in logins] == [tokens["session_id"]]


async def test_refresh_when_token_valid_rotates_both_tokens(
        srv: RunningServer, http: httpx.AsyncClient) -> None:
    # Arrange
    tokens = await _login(http, await _user(srv))

    # Act
    response = await http.post("/v1/auth/refresh",
                               json={"refresh_token": tokens["refresh_token"]})

    # Assert
    assert response.status_code == 200
    renewed = response.json()
    assert renewed["session_id"] == tokens["session_id"]
    assert renewed["refresh_token"] != tokens["refresh_token"]
    assert (await _me(http, renewed)).status_code == 200
    assert (await _me(http, tokens)).status_code == 200  # the old access token lives on


async def test_refresh_when_token_reused_revokes_family(
        srv: RunningServer, http: httpx.AsyncClient) -> None:
    # Arrange
    alice = await _user(srv)
    tokens = await _login(http, alice)
    renewed = (await http.post("/v1/auth/refresh",
                               json={"refresh_token": tokens["refresh_token"]})).json()

    # Act
    reused = await http.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})

    # Assert: the thief and the owner are both out; the event is audited.
    assert (reused.status_code, reused.json()["code"]) == (401, "refresh_token_reused")
    newest = await http.post("/v1/auth/refresh", json={"refresh_token": renewed["refresh_token"]})
    assert (newest.status_code, newest.json()["code"]) == (401, "invalid_refresh_token")
    me = await _me(http, renewed)
    assert (me.status_code, me.json()["code"]) == (401, "session_revoked")
    audited = await srv.platform.audit.entries(action="auth.refresh_reused")
    assert [e.target for e in audited] == [tokens["session_id"]]


async def test_logout_when_called_ends_the_session_at_once(
        srv: RunningServer, http: httpx.AsyncClient) -> None:
    # Arrange
    alice = await _user(srv)
    tokens = await _login(http, alice)
    other = await _login(http, alice)

    # Act
    response = await http.post("/v1/auth/logout", headers=_bearer(tokens))

    # Assert
    assert response.status_code == 204
    me = await _me(http, tokens)
    assert (me.status_code, me.json()["code"]) == (401, "session_revoked")
    refresh = await http.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401
    assert (await _me(http, other)).status_code == 200
    logouts = await srv.platform.audit.entries(action="auth.logout")
    assert [(e.target, e.actor) for e in logouts] == [(tokens["session_id"], alice.user.user_id)]


async def test_logout_all_when_called_ends_every_session_of_the_user(
        srv: RunningServer, http: httpx.AsyncClient) -> None:
    # Arrange
    alice, bob = await _user(srv), await _user(srv, "bobby")
    first, second = await _login(http, alice), await _login(http, alice, PHONE)
    bobs = await _login(http, bob)

    # Act
    response = await http.post("/v1/auth/logout-all", headers=_bearer(second))

    # Assert
    assert (response.status_code, response.json()) == (200, {"revoked": 2})
    assert (await _me(http, first)).status_code == 401
    assert (await _me(http, second)).status_code == 401
    assert (await _me(http, bobs)).status_code == 200
    audited = await srv.platform.audit.entries(action="auth.logout_all")
    assert [(e.target, len(e.detail["sessions"])) for e in audited] == [(alice.user.user_id, 2)]


async def test_sessions_when_listed_show_own_and_revoke_one(
        srv: RunningServer, http: httpx.AsyncClient) -> None:
    # Arrange
    alice = await _user(srv)
    laptop = await _login(http, alice)
    phone = await _login(http, alice, PHONE)

    # Act
    listed = await http.get("/v1/auth/sessions", headers=_bearer(laptop))
    revoked = await http.delete(f"/v1/auth/sessions/{phone['session_id']}",
                                headers=_bearer(laptop))

    # Assert
    assert listed.status_code == 200
    sessions = listed.json()["sessions"]
    assert [(s["session_id"], s["current"], s["user_agent"]) for s in sessions] == [
        (phone["session_id"], False, PHONE["User-Agent"]),
        (laptop["session_id"], True, LAPTOP["User-Agent"])]
    assert sessions[0]["ip"] == "127.0.0.1"
    assert revoked.status_code == 204
    assert (await _me(http, phone)).status_code == 401
    after = (await http.get("/v1/auth/sessions", headers=_bearer(laptop))).json()
    assert [s["session_id"] for s in after["sessions"]] == [laptop["session_id"]]


async def test_revoke_session_when_it_belongs_to_another_user_answers_404(
        srv: RunningServer, http: httpx.AsyncClient) -> None:
    # Arrange
    alice, bob = await _user(srv), await _user(srv, "bobby")
    mine, theirs = await _login(http, alice), await _login(http, bob)

    # Act
    response = await http.delete(f"/v1/auth/sessions/{theirs['session_id']}",
                                 headers=_bearer(mine))

    # Assert
    assert (response.status_code, response.json()["code"]) == (404, "session_not_found")
    assert (await _me(http, theirs)).status_code == 200
    listed = (await http.get("/v1/auth/sessions", headers=_bearer(theirs))).json()
    assert [s["session_id"] for s in listed["sessions"]] == [theirs["session_id"]]


async def test_session_routes_when_called_with_an_api_key_answer_403(
        srv: RunningServer, http: httpx.AsyncClient) -> None:
    alice = await _user(srv)

    response = await http.post("/v1/auth/logout", headers=alice.headers)

    assert (response.status_code, response.json()["code"]) == (403, "session_required")


async def test_login_when_device_new_raises_alert_the_user_sees(
        srv: RunningServer, http: httpx.AsyncClient) -> None:
    # Arrange: the first device is the baseline; the same device again is not news.
    alice = await _user(srv)
    laptop = await _login(http, alice)
    await _login(http, alice)

    # Act
    await _login(http, alice, PHONE)

    # Assert
    listed = await http.get("/v1/account/alerts", headers=_bearer(laptop))
    assert listed.status_code == 200
    alerts = listed.json()["alerts"]
    assert [(a["kind"], a["read"]) for a in alerts] == [("new_device", False)]
    assert PHONE["User-Agent"] in alerts[0]["detail"]
    marked = await http.post(f"/v1/account/alerts/{alerts[0]['alert_id']}/read",
                             headers=_bearer(laptop))
    assert marked.status_code == 204
    unread = await http.get("/v1/account/alerts", params={"unread": "true"},
                            headers=_bearer(laptop))
    assert unread.json()["alerts"] == []
    devices = await srv.platform.audit.entries(action="auth.new_device",
                                               actor=alice.user.user_id)
    assert len(devices) == 2


async def test_mark_alert_read_when_alert_of_another_user_answers_404(
        srv: RunningServer, http: httpx.AsyncClient) -> None:
    alice, bob = await _user(srv), await _user(srv, "bobby")
    alert = await srv.platform.auth.alerts.raise_alert(bob.user.user_id, "notice", "Hi")

    response = await http.post(f"/v1/account/alerts/{alert.alert_id}/read",
                               headers=alice.headers)

    assert (response.status_code, response.json()["code"]) == (404, "alert_not_found")
    theirs = await srv.platform.auth.alerts.list_alerts(bob.user.user_id, unread_only=True)
    assert [a.alert_id for a in theirs] == [alert.alert_id]


async def test_rotation_when_key_rotated_keeps_old_tokens_valid(
        srv: RunningServer, http: httpx.AsyncClient) -> None:
    # Arrange
    tokens = await _login(http, await _user(srv))
    old_kid = jwt.get_unverified_header(tokens["access_token"])["kid"]

    # Act: rotate as `tradehall keys rotate` does (its own database connection), then let the
    # server's upkeep pick the new key up.
    new_kid = await on_data_dir(srv.platform.settings.data_dir, rotate_signing_key)
    await srv.platform.auth.tokens.maintain()

    # Assert
    assert new_kid != old_kid
    assert (await _me(http, tokens)).status_code == 200
    renewed = (await http.post("/v1/auth/refresh",
                               json={"refresh_token": tokens["refresh_token"]})).json()
    assert jwt.get_unverified_header(renewed["access_token"])["kid"] == new_kid
    assert (await _me(http, renewed)).status_code == 200


async def test_jwks_when_fetched_verifies_an_access_token_with_pyjwt(
        srv: RunningServer, http: httpx.AsyncClient) -> None:
    # Arrange
    tokens = await _login(http, await _user(srv))

    # Act
    config = (await http.get("/.well-known/openid-configuration")).json()
    jwks = await http.get(config["jwks_uri"].removeprefix(srv.base_url))

    # Assert
    assert jwks.status_code == 200
    key_set = jwt.PyJWKSet.from_dict(jwks.json())
    kid = jwt.get_unverified_header(tokens["access_token"])["kid"]
    key = next(k for k in key_set.keys if k.key_id == kid)
    claims = jwt.decode(tokens["access_token"], key.key, algorithms=["RS256"],
                        audience="tradehall-api", issuer=config["issuer"])
    assert claims["usr"] == "alice"
    assert all("d" not in k for k in jwks.json()["keys"])  # no private parameters


async def test_login_when_cookie_requested_sets_strict_httponly_refresh_cookie(
        srv: RunningServer, http: httpx.AsyncClient) -> None:
    # Arrange
    alice = await _user(srv)

    # Act
    response = await http.post("/v1/auth/login", json={
        "username": "alice", "password": alice.password, "cookie": True})

    # Assert
    cookie = response.headers["set-cookie"]
    token = response.json()["refresh_token"]
    assert cookie.startswith(f"tradehall_refresh={token};")
    for attribute in ("HttpOnly", "Path=/v1/auth", "SameSite=strict", "Secure"):
        assert attribute in cookie
    refreshed = await http.post("/v1/auth/refresh", json={},
                                headers={"Cookie": f"tradehall_refresh={token}"})
    assert refreshed.status_code == 200
    assert refreshed.headers["set-cookie"].startswith(
        f"tradehall_refresh={refreshed.json()['refresh_token']};")


async def test_refresh_when_nothing_sent_answers_401_and_unknown_field_422(
        srv: RunningServer, http: httpx.AsyncClient) -> None:
    missing = await http.post("/v1/auth/refresh", json={})
    unknown = await http.post("/v1/auth/refresh", json={"refresh_token": "x", "role": "admin"})

    assert (missing.status_code, missing.json()["code"]) == (401, "missing_credentials")
    assert unknown.status_code == 422
