"""The fallback role: an API process without an engine keeps serving users and dealers while
the platform process is gone, and what the desk decided there executes once the platform is
back. Both processes share the data directory (journal and SQLite read models)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from tests.kit.oidc import running_provider
from tests.kit.server import TestUser, running_platform
from tradehall.fallback.model import PlatformMode
from tradehall.kernel.ids import AccountId


async def order(client: httpx.AsyncClient, user: TestUser, **body: Any) -> httpx.Response:
    sent: dict[str, Any] = {"symbol": "EUR-USD", "side": "buy", "qty": "10",
                            "price": "1.05000"}
    sent.update(body)
    return await client.post("/v1/orders", json=sent, headers=user.headers)


async def test_the_fallback_role_serves_while_the_platform_is_down(tmp_path: Path) -> None:
    # The platform: alice is long 100 EUR-USD and has a resting bid; a maker bids 1.09.
    async with running_platform(tmp_path) as server, httpx.AsyncClient(
            base_url=server.base_url) as client:
        alice = await server.create_user("alice")
        maker = await server.create_user("maker")
        dealer = await server.create_user("dealer", roles=("dealer",))
        assert (await order(client, maker, side="sell", qty="100", price="1.10000")
                ).status_code == 201
        assert (await order(client, alice, qty="100", price="1.10000")).status_code == 201
        assert (await order(client, maker, qty="1000", price="1.09000")).status_code == 201
        resting = (await order(client, alice, qty="10", price="1.01000")).json()["order"]
    # The platform process is gone; the fallback role starts on the same data.
    async with running_platform(tmp_path, market=False, role="fallback") as fb, \
            httpx.AsyncClient(base_url=fb.base_url) as client:
        health = await client.get("/healthz")
        to_fallback = await client.put("/v1/desk/mode", headers=dealer.headers,
                                       json={"mode": "fallback", "reason": "maintenance"})
        login = await client.post("/v1/auth/login", json={"username": "alice",
                                                          "password": alice.password})
        user = {"Authorization": f"Bearer {login.json()['access_token']}"}
        snapshot = (await client.get("/v1/fallback/snapshot", headers=user)).json()
        refused = await client.post("/v1/orders", headers=user, json={
            "symbol": "EUR-USD", "side": "sell", "qty": "1", "type": "market"})
        close = await client.post("/v1/fallback/requests", headers=user, json={
            "kind": "close_position", "symbol": "EUR-USD"})
        cancel = await client.post("/v1/fallback/requests", headers=user, json={
            "kind": "cancel_order", "order_id": resting["id"]})
        close_id, cancel_id = close.json()["requests"][0]["id"], \
            cancel.json()["requests"][0]["id"]
        executed = await client.post(f"/v1/desk/requests/{close_id}/execute",
                                     headers=dealer.headers)
        rejected = await client.post(f"/v1/desk/requests/{cancel_id}/reject",
                                     headers=dealer.headers, json={"reason": "call us"})

        assert health.status_code == 200, health.text
        assert health.json()["role"] == "fallback"
        assert to_fallback.status_code == 200, to_fallback.text
        assert login.status_code == 200, login.text
        assert [p["symbol"] for p in snapshot["positions"]] == ["EUR-USD"]
        assert [o["id"] for o in snapshot["orders"]] == [resting["id"]]
        assert refused.status_code == 422
        assert refused.json()["code"] == "platform_fallback"
        assert (close.status_code, cancel.status_code) == (201, 201)
        assert executed.json()["status"] == "approved"
        assert rejected.json()["status"] == "rejected"
    # The platform is back; the desk returns to normal; the close executes once.
    async with running_platform(tmp_path, market=False) as server, httpx.AsyncClient(
            base_url=server.base_url) as client:
        back = await client.put("/v1/desk/mode", headers=dealer.headers,
                                json={"mode": "normal", "reason": "maintenance over"})
        assert back.status_code == 200, back.text
        for _ in range(200):
            done = (await client.get(f"/v1/fallback/requests/{close_id}",
                                     headers=alice.headers)).json()
            if done["status"] == "executed":
                break
            await asyncio.sleep(0.05)
        assert (done["status"], done["executed_qty"], done["price"]) == (
            "executed", "100", "1.09000")
        assert await server.platform.fallback.dispatcher.run_once() == 0
        positions = (await client.get("/v1/positions", headers=alice.headers)).json()
        assert positions["data"] == []
        still = (await client.get(f"/v1/orders/{resting['id']}", headers=alice.headers)).json()
        assert still["status"] == "new"
        fills = (await client.get("/v1/fills", headers=alice.headers)).json()["data"]
        assert [f["side"] for f in fills].count("sell") == 1


async def test_the_fallback_role_accepts_the_external_identity_providers_users(
        tmp_path: Path) -> None:
    async with running_provider() as provider:
        oidc: dict[str, Any] = {
            "oidc_issuer": provider.issuer, "oidc_audience": provider.audience,
            "oidc_discovery_url": provider.discovery_url, "oidc_auto_provision": True}
        bearer = {"Authorization": f"Bearer {provider.token('ext-erin', 'erin')}"}
        async with running_platform(tmp_path, **oidc) as server, httpx.AsyncClient(
                base_url=server.base_url) as client:
            maker = await server.create_user("maker")
            assert (await client.get("/v1/auth/me", headers=bearer)).status_code == 200
            await server.platform.trading.deposit(AccountId("erin"), "USD", "100000")
            assert (await order(client, maker, side="sell", qty="50", price="1.10000")
                    ).status_code == 201
            bought = await client.post("/v1/orders", headers=bearer, json={
                "symbol": "EUR-USD", "side": "buy", "qty": "50", "price": "1.10000"})
            assert bought.status_code == 201, bought.text
        async with running_platform(tmp_path, market=False, role="fallback", **oidc) as fb, \
                httpx.AsyncClient(base_url=fb.base_url) as client:
            await fb.platform.fallback.modes.set(PlatformMode.FALLBACK, actor="ops",
                                                 reason="maintenance")
            snapshot = await client.get("/v1/fallback/snapshot", headers=bearer)
            filed = await client.post("/v1/fallback/requests", headers=bearer,
                                      json={"kind": "close_all"})

            assert snapshot.status_code == 200, snapshot.text
            assert [(p["symbol"], p["qty"]) for p in snapshot.json()["positions"]] == [
                ("EUR-USD", "50")]
            assert filed.status_code == 201, filed.text
            assert [r["symbol"] for r in filed.json()["requests"]] == ["EUR-USD"]
