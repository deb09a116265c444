"""API key management end to end: create with scopes, list, revoke at once, IP allow-lists,
scope enforcement on the order and withdrawal routes, audit entries.

Keys are managed with a session login (a bearer access token), never with an API key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.kit.accounts import bearer, totp_code
from tests.kit.clocks import ShiftedClock
from tests.kit.server import RunningServer, TestUser, running_platform

ORDER = {"symbol": "BTC-USD", "side": "buy", "qty": "0.5", "price": "100.00"}


async def session(client: httpx.AsyncClient, user: TestUser) -> dict[str, str]:
    response = await client.post("/v1/auth/login", json={"username": user.user.username,
                                                         "password": user.password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def create_key(client: httpx.AsyncClient, headers: dict[str, str],
                     **body: Any) -> httpx.Response:
    return await client.post("/v1/api-keys", json=body, headers=headers)


async def key_ids(server: RunningServer, user: TestUser) -> list[str]:
    return [k.key_id for k in await server.platform.auth.keys.list(user.user.user_id)]


def key_headers(created: dict[str, Any]) -> dict[str, str]:
    return {"APCA-API-KEY-ID": created["key_id"], "APCA-API-SECRET-KEY": created["secret"]}


async def test_create_api_key_when_session_returns_secret_once_with_scopes(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    alice = await server.create_user("alice")
    login = await session(client, alice)

    # Act
    response = await create_key(client, login, label="bot", scopes=["trade"],
                                ip_allow=["127.0.0.1"])

    # Assert
    assert response.status_code == 201
    created = response.json()
    assert created["key_id"].startswith("TK")
    assert len(created["key_id"]) == 20
    assert created["secret"]
    assert (created["label"], created["scopes"], created["ip_allow"], created["revoked"]) == (
        "bot", ["read", "trade"], ["127.0.0.1/32"], False)
    balances = await client.get("/v1/balances", headers=key_headers(created))
    assert balances.status_code == 200
    listed = await client.get("/v1/api-keys", headers=login)
    assert listed.status_code == 200
    mine = [k for k in listed.json()["data"] if k["key_id"] == created["key_id"]]
    assert len(mine) == 1
    assert "secret" not in mine[0]
    assert created["secret"] not in listed.text
    assert mine[0]["last_used_at"] is not None
    entries = await server.platform.audit.entries(action="api_key.created",
                                                  actor=alice.user.user_id)
    [entry] = [e for e in entries if e.target == created["key_id"]]
    assert entry.detail["scopes"] == ["read", "trade"]


async def test_create_api_key_when_no_scopes_given_grants_read_and_trade(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")

    response = await create_key(client, await session(client, alice))

    assert response.status_code == 201
    assert response.json()["scopes"] == ["read", "trade"]


async def test_create_api_key_when_called_with_an_api_key_is_403_and_adds_nothing(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")
    before = await key_ids(server, alice)

    response = await create_key(client, alice.headers, scopes=["read", "trade", "withdraw"])

    assert response.status_code == 403
    assert response.json()["code"] == "session_required"
    assert await key_ids(server, alice) == before
    listing = await client.get("/v1/api-keys", headers=alice.headers)
    assert listing.status_code == 403


async def test_create_api_key_when_scope_or_block_invalid_is_422(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")
    login = await session(client, alice)
    before = await key_ids(server, alice)

    bad_scope = await create_key(client, login, scopes=["admin"])
    bad_block = await create_key(client, login, ip_allow=["300.1.2.3/8"])
    extra = await create_key(client, login, role="admin")

    assert (bad_scope.status_code, bad_scope.json()["field"]) == (422, "scopes.0")
    assert (bad_block.status_code, bad_block.json()["code"]) == (422, "invalid_ip_allow")
    assert extra.status_code == 422
    assert await key_ids(server, alice) == before


async def test_revoke_api_key_when_revoked_is_refused_at_once(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    alice = await server.create_user("alice")
    login = await session(client, alice)
    created = (await create_key(client, login)).json()
    headers = key_headers(created)
    assert (await client.get("/v1/balances", headers=headers)).status_code == 200  # cached

    # Act
    revoked = await client.delete(f"/v1/api-keys/{created['key_id']}", headers=login)

    # Assert
    assert revoked.status_code == 204
    after = await client.get("/v1/balances", headers=headers)
    assert (after.status_code, after.json()["code"]) == (401, "invalid_api_key")
    listed = (await client.get("/v1/api-keys", headers=login)).json()["data"]
    assert [k["revoked"] for k in listed if k["key_id"] == created["key_id"]] == [True]
    [entry] = await server.platform.audit.entries(action="api_key.revoked")
    assert (entry.actor, entry.target) == (alice.user.user_id, created["key_id"])


async def test_revoke_api_key_when_another_users_key_is_404_and_key_keeps_working(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")
    mallory = await server.create_user("mallory")

    response = await client.delete(f"/v1/api-keys/{alice.key.key_id}",
                                   headers=await session(client, mallory))

    assert (response.status_code, response.json()["code"]) == (404, "api_key_not_found")
    assert (await client.get("/v1/balances", headers=alice.headers)).status_code == 200
    missing = await client.delete("/v1/api-keys/TKNOSUCHKEY",
                                  headers=await session(client, mallory))
    assert missing.status_code == 404


async def test_api_key_when_called_from_outside_its_allow_list_is_403(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")
    login = await session(client, alice)
    outside = (await create_key(client, login, ip_allow=["203.0.113.0/24"])).json()
    inside = (await create_key(client, login, ip_allow=["10.0.0.0/8", "127.0.0.0/8"])).json()

    refused = await client.get("/v1/balances", headers=key_headers(outside))
    allowed = await client.get("/v1/balances", headers=key_headers(inside))

    assert (refused.status_code, refused.json()["code"]) == (403, "ip_not_allowed")
    assert allowed.status_code == 200


async def test_order_when_key_is_read_only_is_403_missing_scope_and_places_nothing(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")
    created = (await create_key(client, await session(client, alice), scopes=["read"])).json()
    headers = key_headers(created)

    response = await client.post("/v1/orders", json=ORDER, headers=headers)
    alpaca = await client.post("/v2/orders", headers=headers, json={
        "symbol": "BTCUSD", "qty": "0.5", "side": "buy", "type": "limit",
        "time_in_force": "gtc", "limit_price": "100"})

    assert (response.status_code, response.json()["code"]) == (403, "missing_scope")
    assert (alpaca.status_code, alpaca.json()["code"]) == (403, "missing_scope")
    orders = await client.get("/v1/orders", params={"status": "all"}, headers=headers)
    assert orders.status_code == 200
    assert orders.json()["data"] == []


async def test_withdrawal_when_key_lacks_withdraw_scope_is_403_and_balance_unchanged(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice", deposits={"USD": "100"})
    created = (await create_key(client, await session(client, alice))).json()
    headers = key_headers(created)

    response = await client.post("/v1/withdrawals", json={"asset": "USD", "amount": "10"},
                                 headers=headers)

    assert (response.status_code, response.json()["code"]) == (403, "missing_scope")
    balances = (await client.get("/v1/balances", headers=headers)).json()["data"]
    assert [b["available"] for b in balances if b["asset"] == "USD"] == ["100.00"]


async def test_withdrawal_when_key_has_withdraw_scope_is_allowed(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice", deposits={"USD": "100"})
    created = (await create_key(client, await session(client, alice),
                                scopes=["read", "withdraw"])).json()

    response = await client.post("/v1/withdrawals", json={"asset": "USD", "amount": "10"},
                                 headers=key_headers(created))

    assert response.status_code == 201
    assert response.json()["available"] == "90.00"


async def test_create_api_key_when_user_has_2fa_needs_the_step_up_code(
        tmp_path: Path) -> None:
    # Arrange
    clock = ShiftedClock()
    async with running_platform(tmp_path, clock=clock, market=False) as srv, \
            httpx.AsyncClient(base_url=srv.base_url) as client:
        bob = await srv.create_user("bob", deposits={})
        login = await bearer(client, "bob", bob.password)
        secret = (await client.post("/v1/account/2fa/enroll", headers=login)).json()["secret"]
        confirmed = await client.post("/v1/account/2fa/confirm", headers=login,
                                      json={"code": totp_code(secret, clock)})
        assert confirmed.status_code == 200, confirmed.text
        clock.advance(30)  # the confirming code's time step is spent
        before = await key_ids(srv, bob)

        # Act
        missing = await create_key(client, login)
        code = totp_code(secret, clock)
        other = f"{(int(code) + 1) % 10**6:06d}"
        wrong = await create_key(client, {**login, "X-Tradehall-OTP": other})
        after_refusals = await key_ids(srv, bob)
        created = await create_key(client, {**login, "X-Tradehall-OTP": code})

    # Assert
    assert (missing.status_code, missing.json()["code"]) == (401, "mfa_required")
    assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_mfa_code")
    assert after_refusals == before
    assert created.status_code == 201, created.text


async def test_api_key_when_admin_closes_its_user_is_refused_at_once(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")
    root = await server.create_user("root", roles=("admin",))
    assert (await client.get("/v1/balances", headers=alice.headers)).status_code == 200

    closed = await client.put("/v1/admin/users/alice/state", json={"state": "closed"},
                              headers=await session(client, root))
    after = await client.get("/v1/balances", headers=alice.headers)

    assert closed.status_code == 200, closed.text
    assert (after.status_code, after.json()["code"]) == (401, "invalid_api_key")
