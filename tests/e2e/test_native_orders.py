"""Native order endpoints end to end: a real platform behind uvicorn, an httpx client.

Placing (resting, crossing, every refusal code), getting, amending, canceling, cancel-all,
duplicates by client order id, and the rule that another user's order answers 404.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.kit.server import RunningServer, TestUser


async def place(client: httpx.AsyncClient, user: TestUser, **body: Any) -> httpx.Response:
    order: dict[str, Any] = {"symbol": "BTC-USD", "side": "buy", "qty": "0.5",
                             "price": "100.00"}
    order.update(body)
    return await client.post("/v1/orders", json=order, headers=user.headers)


async def test_order_when_limit_does_not_cross_rests_new_without_fills(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")

    response = await place(client, alice, client_order_id="a-1")

    assert response.status_code == 201
    body = response.json()
    order = body["order"]
    assert body["fills"] == []
    assert body["duplicate"] is False
    assert order["status"] == "new"
    assert order["client_order_id"] == "a-1"
    assert (order["qty"], order["leaves_qty"], order["price"]) == ("0.5000", "0.5000", "100.00")
    fetched = await client.get(f"/v1/orders/{order['id']}", headers=alice.headers)
    assert fetched.status_code == 200
    assert fetched.json()["status"] == "new"


async def test_order_when_crossing_answers_fills_of_both_sides(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    alice = await server.create_user("alice")
    bob = await server.create_user("bob")
    maker = (await place(client, alice, side="sell", qty="0.3", price="100.25")).json()

    # Act
    response = await place(client, bob, side="buy", qty="0.5", price="100.30")

    # Assert
    assert response.status_code == 201
    body = response.json()
    assert body["order"]["status"] == "partially_filled"
    assert (body["order"]["filled_qty"], body["order"]["leaves_qty"]) == ("0.3000", "0.2000")
    [fill] = body["fills"]
    assert (fill["price"], fill["qty"], fill["liquidity"], fill["side"]) == (
        "100.25", "0.3000", "taker", "buy")
    assert fill["notional"] == "30.07"
    maker_now = await client.get(f"/v1/orders/{maker['order']['id']}", headers=alice.headers)
    assert maker_now.json()["status"] == "filled"
    maker_fills = (await client.get("/v1/fills", headers=alice.headers)).json()["data"]
    assert [(f["liquidity"], f["side"], f["qty"]) for f in maker_fills] == [
        ("maker", "sell", "0.3000")]


async def test_order_when_ioc_finds_nothing_answers_canceled(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")

    response = await place(client, alice, time_in_force="ioc")

    assert response.status_code == 201
    order = response.json()["order"]
    assert order["status"] == "canceled"
    assert order["leaves_qty"] == "0.0000"
    assert order["cancel_reason"]


async def test_order_when_stop_answers_pending_new(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")

    response = await place(client, alice, type="stop_limit", price="120.00",
                           stop_price="119.00")

    assert response.status_code == 201
    assert response.json()["order"]["status"] == "pending_new"
    assert response.json()["order"]["stop_price"] == "119.00"


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"price": "100.005"}, 422, "too_many_decimals", "price"),
        ({"qty": "0.00005"}, 422, "too_many_decimals", "qty"),
        ({"qty": "-1"}, 422, "not_positive", "qty"),
        ({"price": "1e3"}, 422, "not_a_number", "price"),
        ({"price": 100.5}, 422, "invalid_field", "price"),
        ({"symbol": "NOPE-USD"}, 404, "unknown_symbol", None),
        ({"side": "hold"}, 422, "invalid_field", "side"),
        ({"type": "limit", "price": None}, 422, "missing_price", None),
        ({"type": "stop", "price": None}, 422, "missing_stop_price", None),
        ({"qty": "1000000"}, 403, "insufficient_funds", None),
        ({"client_order_id": " padded"}, 422, "invalid_client_order_id", "client_order_id"),
        ({"unknown": 1}, 422, "invalid_field", "unknown"),
    ],
)
async def test_order_when_refused_answers_precise_code_and_changes_nothing(
        server: RunningServer, client: httpx.AsyncClient, body: dict[str, Any], status: int,
        code: str, field: str | None) -> None:
    # Arrange
    alice = await server.create_user("alice")
    before = (await client.get("/v1/balances", headers=alice.headers)).json()

    # Act
    response = await place(client, alice, **body)

    # Assert
    assert response.status_code == status, response.text
    error = response.json()
    assert error["code"] == code
    if field is not None:
        assert error["field"] == field
    assert (await client.get("/v1/balances", headers=alice.headers)).json() == before
    orders = await client.get("/v1/orders?status=all", headers=alice.headers)
    assert orders.json()["data"] == []


async def test_order_when_post_only_would_cross_answers_422(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")
    bob = await server.create_user("bob")
    await place(client, alice, side="sell", price="100.00")

    response = await place(client, bob, side="buy", price="100.00", post_only=True)

    assert response.status_code == 422
    assert response.json()["code"] == "post_only_would_cross"


async def test_order_when_resubmitted_same_client_id_answers_original(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")
    first = (await place(client, alice, client_order_id="dup")).json()

    again = await place(client, alice, client_order_id="dup")
    clash = await place(client, alice, client_order_id="dup", price="99.00")

    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["order"]["id"] == first["order"]["id"]
    assert clash.status_code == 409
    assert clash.json()["code"] == "duplicate_client_order_id"


async def test_order_when_amended_answers_new_price_and_qty(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")
    order = (await place(client, alice)).json()["order"]

    response = await client.patch(f"/v1/orders/{order['id']}", headers=alice.headers,
                                  json={"qty": "0.2", "price": "99.50"})

    assert response.status_code == 200, response.text
    assert (response.json()["qty"], response.json()["price"]) == ("0.2000", "99.50")
    empty = await client.patch(f"/v1/orders/{order['id']}", headers=alice.headers, json={})
    assert empty.status_code == 422
    assert empty.json()["code"] == "nothing_to_amend"


async def test_order_when_canceled_twice_answers_canceled_then_409(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")
    order = (await place(client, alice)).json()["order"]

    first = await client.delete(f"/v1/orders/{order['id']}", headers=alice.headers)
    second = await client.delete(f"/v1/orders/{order['id']}", headers=alice.headers)

    assert first.status_code == 200
    assert first.json()["status"] == "canceled"
    assert second.status_code == 409
    assert second.json()["code"] == "order_not_open"


async def test_order_when_cancel_all_by_symbol_keeps_other_symbols(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    alice = await server.create_user("alice")
    btc = [(await place(client, alice, price=p)).json()["order"]["id"]
           for p in ("90.00", "91.00")]
    eth = (await place(client, alice, symbol="ETH-USD", qty="1", price="10.00")).json()

    # Act
    response = await client.delete("/v1/orders?symbol=BTC-USD", headers=alice.headers)

    # Assert
    assert response.status_code == 200
    assert sorted(response.json()["canceled"]) == sorted(btc)
    open_now = (await client.get("/v1/orders", headers=alice.headers)).json()["data"]
    assert [o["id"] for o in open_now] == [eth["order"]["id"]]


async def test_order_when_another_user_asks_answers_404_like_unknown(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    alice = await server.create_user("alice")
    mallory = await server.create_user("mallory")
    order_id = (await place(client, alice)).json()["order"]["id"]
    unknown = "00000000-0000-0000-0000-000000000000"

    # Act
    answers = [
        await client.get(f"/v1/orders/{order_id}", headers=mallory.headers),
        await client.delete(f"/v1/orders/{order_id}", headers=mallory.headers),
        await client.patch(f"/v1/orders/{order_id}", headers=mallory.headers,
                           json={"qty": "0.1"}),
        await client.get(f"/v1/fills?order_id={order_id}", headers=mallory.headers),
    ]
    missing = await client.get(f"/v1/orders/{unknown}", headers=mallory.headers)

    # Assert
    for answer in answers:
        assert answer.status_code == 404
        assert answer.json()["code"] == "order_not_found"
    assert missing.json()["code"] == "order_not_found"
    still = await client.get(f"/v1/orders/{order_id}", headers=alice.headers)
    assert still.json()["status"] == "new"
    assert (await client.delete("/v1/orders", headers=mallory.headers)).json()["canceled"] == []


async def test_order_when_no_credentials_answers_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/orders", json={"symbol": "BTC-USD", "side": "buy",
                                                     "qty": "1", "price": "1"})

    assert response.status_code == 401
    assert response.json()["code"] == "missing_credentials"


async def test_order_when_bearer_token_used_is_accepted(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")
    login = await client.post("/v1/auth/login", json={"username": "alice",
                                                      "password": alice.password})
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

    response = await client.post("/v1/orders", headers=headers, json={
        "symbol": "BTC-USD", "side": "buy", "qty": "0.1", "price": "50.00"})

    assert response.status_code == 201
