"""Fallback mode and the dealing desk end to end: a real platform behind uvicorn, httpx clients.

The modes as users meet them (close_only refuses new risk, fallback refuses every order), filing
requests (idempotency, one open request per target, withdrawing, bad input storing nothing),
who may see what (another user's request is 404, traders get 403 on the desk, no token 401),
the desk claiming, executing and rejecting, and the dispatcher executing an approved close
exactly once when the mode is back to normal, also across a restart. `tradehall mode` last.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.kit.server import RunningServer, TestUser, running_platform
from tradehall.entrypoints.cli.main import app as cli

DESK_ROUTES = (
    ("GET", "/v1/desk/queue"), ("GET", "/v1/desk/summary"),
    ("GET", "/v1/desk/requests/x"), ("GET", "/v1/desk/accounts/x"),
    ("POST", "/v1/desk/requests/x/claim"), ("POST", "/v1/desk/requests/x/release"),
    ("POST", "/v1/desk/requests/x/execute"), ("POST", "/v1/desk/requests/x/approve"),
    ("POST", "/v1/desk/requests/x/reject"), ("POST", "/v1/desk/bulk"),
    ("GET", "/v1/desk/mode"), ("PUT", "/v1/desk/mode"),
)


async def order(client: httpx.AsyncClient, user: TestUser, **body: Any) -> httpx.Response:
    sent: dict[str, Any] = {"symbol": "EUR-USD", "side": "buy", "qty": "10",
                            "price": "1.05000"}
    sent.update(body)
    return await client.post("/v1/orders", json=sent, headers=user.headers)


async def set_mode(client: httpx.AsyncClient, dealer: TestUser, mode: str) -> None:
    response = await client.put("/v1/desk/mode", json={"mode": mode, "reason": "test"},
                                headers=dealer.headers)
    assert response.status_code == 200, response.text
    assert response.json()["mode"] == mode


async def file(client: httpx.AsyncClient, user: TestUser, key: str | None = None,
               **body: Any) -> httpx.Response:
    headers = dict(user.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post("/v1/fallback/requests", json=body, headers=headers)


async def requests_of(client: httpx.AsyncClient, user: TestUser) -> list[dict[str, Any]]:
    response = await client.get("/v1/fallback/requests", headers=user.headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["requests"]
    return found


async def eventually(client: httpx.AsyncClient, user: TestUser, request_id: str,
                     status: str) -> dict[str, Any]:
    for _ in range(200):
        body: dict[str, Any] = (await client.get(f"/v1/fallback/requests/{request_id}",
                                                 headers=user.headers)).json()
        if body.get("status") == status:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"request {request_id} did not become {status}: {body}")


async def long_position(server: RunningServer, client: httpx.AsyncClient
                        ) -> tuple[TestUser, TestUser]:
    """Alice long 100 EUR-USD; the maker bids below so a close at market fills."""
    alice = await server.create_user("alice")
    maker = await server.create_user("maker")
    assert (await order(client, maker, side="sell", qty="100", price="1.10000")).status_code == 201
    bought = await order(client, alice, side="buy", qty="100", price="1.10000")
    assert bought.json()["order"]["status"] == "filled"
    assert (await order(client, maker, side="buy", qty="1000", price="1.09000")).status_code == 201
    return alice, maker


async def test_status_is_public_and_normal_mode_refuses_requests(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")

    status = await client.get("/v1/fallback/status")
    filed = await file(client, alice, kind="close_all")

    assert status.status_code == 200
    assert status.json()["mode"] == "normal"
    assert filed.status_code == 422
    assert filed.json()["code"] == "fallback_not_active"
    assert await requests_of(client, alice) == []


async def test_close_only_refuses_new_risk_but_lets_reduce_only_and_cancels_pass(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice, _ = await long_position(server, client)
    dealer = await server.create_user("dealer", roles=("dealer",))
    resting = (await order(client, alice, side="buy", qty="10", price="1.01000")).json()

    await set_mode(client, dealer, "close_only")
    risk = await order(client, alice, side="buy", qty="10", price="1.02000")
    reduce = await order(client, alice, side="sell", qty="10", price="1.20000",
                         reduce_only=True)
    cancel = await client.delete(f"/v1/orders/{resting['order']['id']}", headers=alice.headers)

    assert (await client.get("/v1/fallback/status")).json()["mode"] == "close_only"
    assert risk.status_code == 422
    assert risk.json()["code"] == "close_only_mode"
    assert reduce.status_code == 201, reduce.text
    assert cancel.status_code == 200, cancel.text


async def test_fallback_refuses_orders(server: RunningServer, client: httpx.AsyncClient) -> None:
    alice, _ = await long_position(server, client)
    dealer = await server.create_user("dealer", roles=("dealer",))

    await set_mode(client, dealer, "fallback")
    refused = await order(client, alice, side="sell", qty="10", price="1.20000",
                          reduce_only=True)

    assert refused.status_code == 422
    assert refused.json()["code"] == "platform_fallback"
    status = (await client.get("/v1/fallback/status")).json()
    assert (status["mode"], status["reason"]) == ("fallback", "test")
    assert status["since"]


async def test_filing_when_input_is_bad_answers_its_code_and_stores_nothing(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice, _ = await long_position(server, client)
    dealer = await server.create_user("dealer", roles=("dealer",))
    await set_mode(client, dealer, "fallback")
    cases: list[tuple[dict[str, Any], str, str | None]] = [
        ({"kind": "sell_everything"}, "invalid_field", "kind"),
        ({"kind": "cancel_order"}, "missing_field", "order_id"),
        ({"kind": "close_position"}, "missing_field", "symbol"),
        ({"kind": "close_all", "symbol": "EUR-USD"}, "field_not_allowed", "symbol"),
        ({"kind": "close_position", "symbol": "EUR-USD", "qty": 1.5}, "invalid_field", "qty"),
        ({"kind": "close_all", "price": "1"}, "invalid_field", "price"),
        ({"kind": "close_all", "note": "x" * 501}, "text_too_long", "note"),
    ]

    for body, code, field in cases:
        response = await file(client, alice, **body)
        assert response.status_code == 422, (body, response.text)
        assert (response.json()["code"], response.json()["field"]) == (code, field), body
    bad_qty = await file(client, alice, kind="close_position", symbol="EUR-USD", qty="abc")
    zero_qty = await file(client, alice, kind="close_position", symbol="EUR-USD", qty="0")
    unknown = await file(client, alice, kind="cancel_order",
                         order_id="00000000-0000-0000-0000-000000000000")

    assert bad_qty.status_code == 422, bad_qty.text
    assert zero_qty.status_code == 422, zero_qty.text
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "order_not_found"
    assert await requests_of(client, alice) == []


async def test_permissions_of_the_fallback_and_desk_routes(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice, _ = await long_position(server, client)
    bob = await server.create_user("bob")
    dealer = await server.create_user("dealer", roles=("dealer",))
    await set_mode(client, dealer, "fallback")
    filed = (await file(client, alice, kind="close_position", symbol="EUR-USD")).json()
    request_id = filed["requests"][0]["id"]

    foreign = await client.get(f"/v1/fallback/requests/{request_id}", headers=bob.headers)
    foreign_withdraw = await client.delete(f"/v1/fallback/requests/{request_id}",
                                           headers=bob.headers)
    anonymous = await client.get("/v1/fallback/snapshot")

    assert foreign.status_code == 404
    assert foreign.json()["code"] == "request_not_found"
    assert foreign_withdraw.status_code == 404
    assert anonymous.status_code == 401
    assert await requests_of(client, bob) == []
    for method, path in DESK_ROUTES:
        path = path.replace("/x", f"/{request_id}")
        as_trader = await client.request(method, path, headers=alice.headers, json={})
        assert as_trader.status_code == 403, (method, path, as_trader.text)
        assert as_trader.json()["code"] == "missing_role"
        assert (await client.request(method, path, json={})).status_code == 401, path
    assert (await eventually(client, alice, request_id, "pending"))["status"] == "pending"


async def test_fallback_from_filing_to_dispatch_executes_the_close_exactly_once(
        tmp_path: Path) -> None:
    async with running_platform(tmp_path) as server, httpx.AsyncClient(
            base_url=server.base_url) as client:
        # Arrange: a position, a resting order, two dealers, fallback.
        alice, _ = await long_position(server, client)
        resting = (await order(client, alice, side="buy", qty="10", price="1.01000")).json()
        other = (await order(client, alice, side="buy", qty="5", price="1.00000")).json()
        d1 = await server.create_user("dealer1", roles=("dealer",))
        d2 = await server.create_user("dealer2", roles=("dealer",))
        await set_mode(client, d1, "fallback")

        # Filing, idempotency, one open request per target, withdrawing.
        close = await file(client, alice, "k-close", kind="close_position", symbol="EUR-USD",
                           note="please close")
        again = await file(client, alice, "k-close", kind="close_position", symbol="EUR-USD",
                           note="please close")
        other_body = await file(client, alice, "k-close", kind="close_all")
        same_target = await file(client, alice, kind="close_position", symbol="EUR-USD")
        cancel = await file(client, alice, kind="cancel_order",
                            order_id=resting["order"]["id"])
        extra = await file(client, alice, kind="cancel_order", order_id=other["order"]["id"])
        withdrawn = await client.delete(
            f"/v1/fallback/requests/{extra.json()['requests'][0]['id']}", headers=alice.headers)

        assert close.status_code == 201, close.text
        [close_req] = close.json()["requests"]
        assert (close_req["kind"], close_req["status"], close_req["qty"]) == (
            "close_position", "pending", None)
        assert close_req["known_qty"] == "100"
        assert again.status_code == 200
        assert [r["id"] for r in again.json()["requests"]] == [close_req["id"]]
        assert other_body.status_code == 409
        assert other_body.json()["code"] == "idempotency_key_reused"
        assert same_target.status_code == 409
        assert same_target.json()["code"] == "request_open_for_target"
        assert cancel.status_code == 201, cancel.text
        [cancel_req] = cancel.json()["requests"]
        assert withdrawn.status_code == 200
        assert withdrawn.json()["status"] == "withdrawn"
        snapshot = (await client.get("/v1/fallback/snapshot", headers=alice.headers)).json()
        assert snapshot["mode"]["mode"] == "fallback"
        assert {r["id"] for r in snapshot["requests"]} == {close_req["id"], cancel_req["id"]}
        assert [p["symbol"] for p in snapshot["positions"]] == ["EUR-USD"]

        # The desk: queue, claims, execute, reject with a preset.
        queue = (await client.get("/v1/desk/queue", headers=d1.headers)).json()["requests"]
        assert {r["id"] for r in queue} == {close_req["id"], cancel_req["id"]}
        assert all(r["username"] == "alice" and r["sla"] == "ok" for r in queue)
        claimed = await client.post(f"/v1/desk/requests/{close_req['id']}/claim",
                                    headers=d1.headers)
        seen = await client.get(f"/v1/desk/requests/{close_req['id']}", headers=d2.headers)
        stolen = await client.post(f"/v1/desk/requests/{close_req['id']}/claim",
                                   headers=d2.headers)
        executed = await client.post(f"/v1/desk/requests/{close_req['id']}/execute",
                                     headers=d1.headers)
        rejected = await client.post(f"/v1/desk/requests/{cancel_req['id']}/reject",
                                     json={"code": "market_closed"}, headers=d2.headers)
        summary = (await client.get("/v1/desk/summary", headers=d2.headers)).json()

        assert claimed.status_code == 200, claimed.text
        assert (seen.json()["status"], seen.json()["claimed_by"]) == ("claimed", "dealer1")
        assert stolen.status_code == 409
        assert stolen.json()["code"] == "request_claimed"
        assert executed.status_code == 200, executed.text
        assert executed.json()["status"] == "approved"
        assert rejected.status_code == 200, rejected.text
        assert (rejected.json()["status"], rejected.json()["reject_code"]) == (
            "rejected", "market_closed")
        assert summary["open"].get("approved") == 1
        await asyncio.sleep(1.2)  # worker ticks: nothing executes while in fallback
        assert (await client.get(f"/v1/fallback/requests/{close_req['id']}",
                                 headers=alice.headers)).json()["status"] == "approved"

        # Back to normal: the dispatcher closes the position once.
        await set_mode(client, d1, "normal")
        done = await eventually(client, alice, close_req["id"], "executed")
        assert done["execution"] == "engine"
        assert done["price"] == "1.09000"
        assert done["executed_qty"] == "100"
        positions = (await client.get("/v1/positions", headers=alice.headers)).json()["data"]
        assert positions == []
        fills_before = (await client.get("/v1/fills", headers=alice.headers)).json()["data"]
        assert await server.platform.fallback.dispatcher.run_once() == 0
        assert (await client.get("/v1/fills", headers=alice.headers)).json()["data"] == \
            fills_before

        # The user sees both outcomes and has alerts.
        mine = {r["id"]: r for r in await requests_of(client, alice)}
        assert mine[close_req["id"]]["status"] == "executed"
        assert mine[cancel_req["id"]]["status"] == "rejected"
        assert mine[cancel_req["id"]]["reject_reason"]
        alerts = (await client.get("/v1/account/alerts", headers=alice.headers)).json()
        assert len(alerts["alerts"]) >= 2
        still = (await client.get(f"/v1/orders/{resting['order']['id']}",
                                  headers=alice.headers)).json()
        assert still["status"] == "new"

    # A restart does not execute it again.
    async with running_platform(tmp_path, market=False) as server, httpx.AsyncClient(
            base_url=server.base_url) as client:
        await asyncio.sleep(1.2)
        assert await server.platform.fallback.dispatcher.run_once() == 0
        again_fills = (await client.get("/v1/fills", headers=alice.headers)).json()["data"]
        assert again_fills == fills_before
        assert (await client.get(f"/v1/fallback/requests/{close_req['id']}",
                                 headers=alice.headers)).json()["status"] == "executed"


async def test_manual_execution_over_http_books_at_the_dealers_price(tmp_path: Path) -> None:
    async with running_platform(tmp_path, fallback_house_account="house") as server, \
            httpx.AsyncClient(base_url=server.base_url) as client:
        alice, _ = await long_position(server, client)
        await server.create_user("house")
        dealer = await server.create_user("dealer", roles=("dealer",))
        await set_mode(client, dealer, "fallback")
        filed = (await file(client, alice, kind="close_position", symbol="EUR-USD")).json()
        request_id = filed["requests"][0]["id"]
        path = f"/v1/desk/requests/{request_id}/execute"

        bad = await client.post(path, json={"price": 1.2}, headers=dealer.headers)
        extra = await client.post(path, json={"price": "1.2", "qty": "1"},
                                  headers=dealer.headers)
        done = await client.post(path, json={"price": "1.09700"}, headers=dealer.headers)
        seen = (await client.get(f"/v1/fallback/requests/{request_id}",
                                 headers=alice.headers)).json()

        assert bad.status_code == 422, bad.text
        assert extra.status_code == 422, extra.text
        assert done.status_code == 200, done.text
        assert (done.json()["status"], done.json()["execution"], done.json()["price"]) == (
            "executed", "manual", "1.09700")
        assert (seen["status"], seen["booking"], seen["executed_qty"]) == (
            "executed", "pending", "100")
        await set_mode(client, dealer, "normal")
        for _ in range(200):
            seen = (await client.get(f"/v1/fallback/requests/{request_id}",
                                     headers=alice.headers)).json()
            if seen["booking"] != "pending":
                break
            await asyncio.sleep(0.05)
        assert seen["booking"] == "booked"
        positions = (await client.get("/v1/positions", headers=alice.headers)).json()["data"]
        assert positions == []


async def test_the_platform_enters_fallback_by_itself_when_the_engine_stops(
        tmp_path: Path) -> None:
    async with running_platform(tmp_path, fallback_health_failures=2) as server, \
            httpx.AsyncClient(base_url=server.base_url) as client:
        alice, _ = await long_position(server, client)
        await server.platform.engine.stop()  # the engine stops answering
        for _ in range(100):
            status = (await client.get("/v1/fallback/status")).json()
            if status["mode"] == "fallback":
                break
            await asyncio.sleep(0.05)
        refused = await order(client, alice, side="sell", qty="1", price="1.20000")
        filed = await file(client, alice, kind="close_position", symbol="EUR-USD")
        health = await client.get("/healthz")

        assert (status["mode"], status["automatic"]) == ("fallback", True)
        assert refused.status_code == 422
        assert refused.json()["code"] == "platform_fallback"
        assert filed.status_code == 201, filed.text
        assert health.status_code == 503


def test_cli_mode_show_and_set(tmp_path: Path) -> None:
    runner = CliRunner()
    data_dir = ["--data-dir", str(tmp_path)]

    shown = runner.invoke(cli, ["mode", "show", "--json", *data_dir])
    changed = runner.invoke(cli, ["mode", "set", "close_only", "--reason", "maintenance",
                                  "--json", *data_dir])
    after = runner.invoke(cli, ["mode", "show", *data_dir])
    bad = runner.invoke(cli, ["mode", "set", "sideways", "--reason", "x", *data_dir])
    no_reason = runner.invoke(cli, ["mode", "set", "normal", *data_dir])

    assert shown.exit_code == 0, shown.output
    assert '"mode": "normal"' in shown.output
    assert changed.exit_code == 0, changed.output
    assert '"mode": "close_only"' in changed.output
    assert '"set_by": "cli"' in changed.output
    assert after.exit_code == 0
    assert "mode close_only" in after.output
    assert "maintenance" in after.output
    assert bad.exit_code == 1
    assert "unknown mode" in bad.output
    assert no_reason.exit_code != 0


@pytest.mark.parametrize("mode", ["fallback"])
async def test_cli_mode_set_reaches_a_running_server(tmp_path: Path, mode: str) -> None:
    async with running_platform(tmp_path, market=False) as server, httpx.AsyncClient(
            base_url=server.base_url) as client:
        result = await asyncio.to_thread(CliRunner().invoke, cli, [
            "mode", "set", mode, "--reason", "engine maintenance", "--data-dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
        for _ in range(100):
            status = (await client.get("/v1/fallback/status")).json()
            if status["mode"] == mode:
                break
            await asyncio.sleep(0.05)
        assert (status["mode"], status["reason"]) == (mode, "engine maintenance")
