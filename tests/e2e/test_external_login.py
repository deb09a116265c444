"""External identity provider end to end: a real OIDC-style issuer on loopback, tradehall
configured to trust it, tokens presented as bearers and exchanged for sessions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.kit.oidc import OidcProvider, running_provider
from tests.kit.server import RunningServer, running_platform


@pytest.fixture
async def provider() -> AsyncIterator[OidcProvider]:
    async with running_provider() as p:
        yield p


def _oidc_settings(provider: OidcProvider, **more: Any) -> dict[str, Any]:
    return {"oidc_issuer": provider.issuer, "oidc_audience": provider.audience,
            "oidc_discovery_url": provider.discovery_url, **more}


@pytest.fixture
async def trusting(tmp_path: Path, provider: OidcProvider) -> AsyncIterator[RunningServer]:
    """A platform trusting the provider, auto-provisioning its users."""
    async with running_platform(tmp_path, market=False,
                                **_oidc_settings(provider, oidc_auto_provision=True)) as srv:
        yield srv


@pytest.fixture
async def client(trusting: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=trusting.base_url) as c:
        yield c


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_external_bearer_when_valid_authenticates_and_provisions_once(
        client: httpx.AsyncClient, provider: OidcProvider, trusting: RunningServer) -> None:
    # Arrange
    token = provider.token("ext-sub-1", "erin")
    # Act
    first = await client.get("/v1/auth/me", headers=_bearer(token))
    second = await client.get("/v1/auth/me", headers=_bearer(provider.token("ext-sub-1",
                                                                            "erin")))
    # Assert
    assert first.status_code == 200, first.text
    assert first.json()["username"] == "erin"
    assert first.json()["roles"] == ["trader"]
    assert second.json()["user_id"] == first.json()["user_id"]
    users = [u for u in await trusting.platform.identity.list_users() if u.username == "erin"]
    assert len(users) == 1
    assert users[0].account == "erin"


async def test_external_bearer_when_provider_renames_user_stays_same_user(
        client: httpx.AsyncClient, provider: OidcProvider) -> None:
    first = await client.get("/v1/auth/me", headers=_bearer(provider.token("ext-2", "frank")))
    renamed = await client.get("/v1/auth/me",
                               headers=_bearer(provider.token("ext-2", "franklin")))
    assert renamed.status_code == 200
    assert renamed.json()["user_id"] == first.json()["user_id"]
    assert renamed.json()["username"] == "frank"


async def test_external_bearer_reaches_trading_routes(
        client: httpx.AsyncClient, provider: OidcProvider) -> None:
    response = await client.get("/v1/balances", headers=_bearer(provider.token("ext-3", "gus")))
    assert response.status_code == 200, response.text
    assert response.json() == {"data": []}


async def test_external_exchange_when_valid_opens_tradehall_session(
        client: httpx.AsyncClient, provider: OidcProvider) -> None:
    # Act
    response = await client.post("/v1/auth/external",
                                 json={"id_token": provider.token("ext-4", "hana")})
    # Assert
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["username"] == "hana"
    assert body["token_type"] == "bearer"
    assert body["refresh_token"]
    me = await client.get("/v1/auth/me", headers=_bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["username"] == "hana"


@pytest.mark.parametrize("case", ["wrong_audience", "wrong_issuer", "expired", "not_yet_valid",
                                  "unknown_kid", "alg_none", "alg_hs256", "no_subject",
                                  "garbage_signature"])
async def test_external_token_when_invalid_is_401_and_provisions_nobody(
        client: httpx.AsyncClient, provider: OidcProvider, trusting: RunningServer,
        case: str) -> None:
    # Arrange
    now = provider.claims("x")["iat"]
    token = {
        "wrong_audience": lambda: provider.token("bad-1", "bad1", aud="someone-else"),
        "wrong_issuer": lambda: provider.token("bad-2", "bad2", iss="https://evil.example"),
        "expired": lambda: provider.token("bad-3", "bad3", exp=now - 3600, iat=now - 7200,
                                          nbf=now - 7200),
        "not_yet_valid": lambda: provider.token("bad-4", "bad4", nbf=now + 3600),
        "unknown_kid": lambda: provider.unpublished_token("bad-5", "bad5"),
        "alg_none": lambda: provider.none_token("bad-6", "bad6"),
        "alg_hs256": lambda: provider.hs256_token("bad-7", "bad7"),
        "no_subject": lambda: provider.token("", "bad8", sub=None),
        "garbage_signature": lambda: provider.token("bad-9", "bad9")[:-8] + "AAAAAAAA",
    }[case]()
    users_before = len(await trusting.platform.identity.list_users())
    # Act
    direct = await client.get("/v1/auth/me", headers=_bearer(token))
    exchanged = await client.post("/v1/auth/external", json={"id_token": token})
    # Assert
    assert direct.status_code == 401, direct.text
    assert exchanged.status_code == 401, exchanged.text
    assert direct.json()["code"] in {"invalid_token", "token_expired"}
    assert len(await trusting.platform.identity.list_users()) == users_before


async def test_external_key_rotation_when_new_kid_refreshes_keys_once(
        tmp_path: Path, provider: OidcProvider) -> None:
    settings = _oidc_settings(provider, oidc_auto_provision=True, oidc_jwks_min_refresh_s=1)
    async with running_platform(tmp_path, market=False, **settings) as srv, \
            httpx.AsyncClient(base_url=srv.base_url) as client:
        # Arrange: the keys are fetched and cached by a first login
        old_kid = provider.kid
        first = await client.get("/v1/auth/me", headers=_bearer(provider.token("rot-1", "ivy")))
        fetched = provider.jwks_fetches
        await asyncio.sleep(1.1)
        # Act: the provider rotates; tokens with the new kid arrive, old ones still verify
        provider.rotate()
        rotated = await client.get("/v1/auth/me",
                                   headers=_bearer(provider.token("rot-1", "ivy")))
        cached = await client.get("/v1/auth/me", headers=_bearer(provider.token("rot-1", "ivy")))
        old = await client.get("/v1/auth/me",
                               headers=_bearer(provider.token("rot-1", "ivy", kid=old_kid)))
    # Assert
    assert first.status_code == 200, first.text
    assert rotated.status_code == 200, rotated.text
    assert cached.status_code == 200
    assert old.status_code == 200
    assert provider.jwks_fetches == fetched + 1


async def test_external_unknown_kids_when_repeated_refresh_is_bounded(
        client: httpx.AsyncClient, provider: OidcProvider) -> None:
    assert (await client.get("/v1/auth/me",
                             headers=_bearer(provider.token("kid-1", "jay")))).status_code == 200
    fetched = provider.jwks_fetches
    statuses = [(await client.get("/v1/auth/me", headers=_bearer(
        provider.unpublished_token("kid-1", "jay")))).status_code for _ in range(10)]
    assert statuses == [401] * 10
    assert provider.jwks_fetches - fetched <= 1


async def test_external_username_taken_by_local_user_is_never_linked(
        client: httpx.AsyncClient, provider: OidcProvider, trusting: RunningServer) -> None:
    # Arrange: a local user named like the provider's user
    local = await trusting.create_user("kim", deposits={})
    # Act
    response = await client.get("/v1/auth/me", headers=_bearer(provider.token("ext-k", "kim")))
    # Assert
    assert response.status_code == 403
    assert response.json()["code"] == "external_username_taken"
    me = await client.get("/v1/auth/me", headers=local.headers)
    assert me.json()["user_id"] == local.user.user_id


async def test_external_roles_claim_maps_known_roles_only(
        tmp_path: Path, provider: OidcProvider) -> None:
    settings = _oidc_settings(provider, oidc_auto_provision=True, oidc_roles_claim="groups")
    async with running_platform(tmp_path, market=False, **settings) as srv, \
            httpx.AsyncClient(base_url=srv.base_url) as client:
        token = provider.token("ops-1", "olga", groups=["compliance", "wheel", "root"])
        response = await client.get("/v1/auth/me", headers=_bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["roles"] == ["compliance"]


async def test_external_when_auto_provision_disabled_unknown_user_is_403(
        tmp_path: Path, provider: OidcProvider) -> None:
    async with running_platform(tmp_path, market=False, **_oidc_settings(provider)) as srv, \
            httpx.AsyncClient(base_url=srv.base_url) as client:
        users_before = len(await srv.platform.identity.list_users())
        token = provider.token("nobody-1", "nobody")
        direct = await client.get("/v1/auth/me", headers=_bearer(token))
        exchanged = await client.post("/v1/auth/external", json={"id_token": token})
        users_after = len(await srv.platform.identity.list_users())
    assert direct.status_code == 403
    assert direct.json()["code"] == "unknown_external_user"
    assert exchanged.status_code == 403
    assert exchanged.json()["code"] == "unknown_external_user"
    assert users_after == users_before


async def test_external_exchange_when_not_configured_is_404(
        tmp_path: Path, provider: OidcProvider) -> None:
    async with running_platform(tmp_path, market=False) as srv, \
            httpx.AsyncClient(base_url=srv.base_url) as client:
        exchanged = await client.post("/v1/auth/external",
                                      json={"id_token": provider.token("s", "sam")})
        direct = await client.get("/v1/auth/me", headers=_bearer(provider.token("s", "sam")))
    assert exchanged.status_code == 404
    assert exchanged.json()["code"] == "external_login_disabled"
    assert direct.status_code == 401


async def test_external_websocket_auth_with_provider_token(
        provider: OidcProvider, trusting: RunningServer) -> None:
    token = provider.token("ws-1", "wendy")
    async with connect(f"{trusting.ws_url}/v1/ws") as ws:
        await ws.send(json.dumps({"type": "auth", "token": token, "id": 1}))
        reply = json.loads(await ws.recv())
    assert reply["type"] == "authenticated", reply
    assert reply["username"] == "wendy"
