"""Hostile order input through the real API (`/v1` native and `/v2` Alpaca-compatible):
impossible quantities and prices are 4xx and hold nothing, duplicate client order ids give the
original order or a conflict, never a second order, and concurrent orders never spend more
than the balance."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.kit.server import RunningServer, TestUser

ORDER = {"symbol": "BTC-USD", "side": "buy", "qty": "0.5", "price": "100.00"}
ALPACA_ORDER = {"symbol": "BTC/USD", "qty": "0.5", "side": "buy", "type": "limit",
                "time_in_force": "gtc", "limit_price": "100.00"}
# BTC-USD: tick 0.01, lot 0.0001.
BAD_NUMBERS = ["0", "-1", "-0.5", "NaN", "nan", "Infinity", "-Infinity", "inf", "1e400",
               "1E+400", "", " ", "1e3", "0x10", "1_0"]
BAD_QTY = [*BAD_NUMBERS, "0.00001", "0.123456789", "0." + "0" * 40 + "1"]
BAD_PRICE = [*BAD_NUMBERS, "100.001", "100.123456789", "9" * 60]


async def _funds(client: httpx.AsyncClient, user: TestUser) -> dict[str, tuple[str, str]]:
    response = await client.get("/v1/balances", headers=user.headers)
    assert response.status_code == 200, response.text
    return {b["asset"]: (b["available"], b["held"]) for b in response.json()["data"]}


async def _orders(client: httpx.AsyncClient, user: TestUser) -> list[dict[str, Any]]:
    response = await client.get("/v1/orders", params={"status": "all"}, headers=user.headers)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


@pytest.fixture
async def trader(server: RunningServer) -> TestUser:
    return await server.create_user("trader", deposits={"USD": "1000", "BTC": "1"})


async def _assert_refused_and_nothing_held(client: httpx.AsyncClient, server: RunningServer,
                                           trader: TestUser, cases: list[tuple[str, Any]],
                                           before: dict[str, tuple[str, str]]) -> None:
    for path, body in cases:
        response = await client.post(path, headers=trader.headers, json=body)
        assert 400 <= response.status_code < 500, (path, body, response.text)
        assert set(response.json()) == {"code", "message", "field"}
    await server.platform.read_model.wait_for(server.platform.engine.last_seq)
    assert await _funds(client, trader) == before
    assert await _orders(client, trader) == []


@pytest.mark.parametrize("field", ["qty", "price"])
async def test_native_order_when_number_is_impossible_is_4xx_and_holds_nothing(
        client: httpx.AsyncClient, server: RunningServer, trader: TestUser,
        field: str) -> None:
    before = await _funds(client, trader)
    values = BAD_QTY if field == "qty" else BAD_PRICE
    cases = [("/v1/orders", {**ORDER, field: value}) for value in values]
    cases += [("/v1/orders", {**ORDER, "side": "sell", field: value}) for value in values]
    await _assert_refused_and_nothing_held(client, server, trader, cases, before)


@pytest.mark.parametrize("field", ["qty", "limit_price"])
async def test_alpaca_order_when_number_is_impossible_is_4xx_and_holds_nothing(
        client: httpx.AsyncClient, server: RunningServer, trader: TestUser,
        field: str) -> None:
    before = await _funds(client, trader)
    values = BAD_QTY if field == "qty" else BAD_PRICE
    cases: list[tuple[str, Any]] = [("/v2/orders", {**ALPACA_ORDER, field: value})
                                    for value in values]
    # JSON numbers too: -1, 0, a float with too many decimals
    cases += [("/v2/orders", {**ALPACA_ORDER, field: value}) for value in (0, -1, 0.123456789)]
    await _assert_refused_and_nothing_held(client, server, trader, cases, before)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
@pytest.mark.parametrize("path", ["/v1/orders", "/v2/orders"])
async def test_order_when_body_has_non_finite_json_number_is_4xx_and_holds_nothing(
        client: httpx.AsyncClient, server: RunningServer, trader: TestUser, literal: str,
        path: str) -> None:
    # Arrange: raw JSON with a number literal Python's json would read as nan or inf
    before = await _funds(client, trader)
    base = ORDER if path == "/v1/orders" else ALPACA_ORDER
    raw = json.dumps({**base, "qty": "QTY"}).replace('"QTY"', literal)
    # Act
    response = await client.post(path, headers={**trader.headers,
                                                "Content-Type": "application/json"},
                                 content=raw.encode())
    # Assert
    assert 400 <= response.status_code < 500, response.text
    assert await _funds(client, trader) == before
    assert await _orders(client, trader) == []


async def test_amend_when_number_is_impossible_is_4xx_and_order_unchanged(
        client: httpx.AsyncClient, server: RunningServer, trader: TestUser) -> None:
    # Arrange
    placed = await client.post("/v1/orders", headers=trader.headers, json=ORDER)
    assert placed.status_code == 201
    order_id = placed.json()["order"]["id"]
    before = await _funds(client, trader)
    # Act / Assert
    for path in (f"/v1/orders/{order_id}", f"/v2/orders/{order_id}"):
        for field in ("qty", "price" if path.startswith("/v1") else "limit_price"):
            for value in ("0", "-1", "NaN", "Infinity", "1e400", "100.001", "0.00001"):
                if field == "qty" and value == "100.001":
                    continue
                response = await client.patch(path, headers=trader.headers,
                                              json={field: value})
                assert 400 <= response.status_code < 500, (path, field, value, response.text)
    order = (await client.get(f"/v1/orders/{order_id}", headers=trader.headers)).json()
    assert (order["qty"], order["price"], order["status"]) == ("0.5000", "100.00", "new")
    assert await _funds(client, trader) == before


# -- Duplicate client order ids -----------------------------------------------------------------

async def test_native_duplicate_client_order_id_same_body_is_original_other_body_is_409(
        client: httpx.AsyncClient, server: RunningServer, trader: TestUser) -> None:
    # Arrange
    body = {**ORDER, "client_order_id": "dup-1"}
    first = await client.post("/v1/orders", headers=trader.headers, json=body)
    held = await _funds(client, trader)
    # Act
    again = await client.post("/v1/orders", headers=trader.headers, json=body)
    other = await client.post("/v1/orders", headers=trader.headers,
                              json={**body, "price": "99.00"})
    # Assert
    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True
    assert again.json()["order"]["id"] == first.json()["order"]["id"]
    assert other.status_code == 409, other.text
    assert other.json()["code"] == "duplicate_client_order_id"
    assert [o["id"] for o in await _orders(client, trader)] == [first.json()["order"]["id"]]
    assert await _funds(client, trader) == held


async def test_alpaca_duplicate_client_order_id_same_body_is_original_other_body_is_422(
        client: httpx.AsyncClient, server: RunningServer, trader: TestUser) -> None:
    # Alpaca answers 422 for a reused client_order_id; the same body gives the original.
    body = {**ALPACA_ORDER, "client_order_id": "dup-2"}
    first = await client.post("/v2/orders", headers=trader.headers, json=body)
    again = await client.post("/v2/orders", headers=trader.headers, json=body)
    other = await client.post("/v2/orders", headers=trader.headers,
                              json={**body, "limit_price": "99.00"})
    assert first.status_code == 200, first.text
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 422
    assert other.json()["code"] == "duplicate_client_order_id"
    assert len(await _orders(client, trader)) == 1


@pytest.mark.parametrize("path", ["/v1/orders", "/v2/orders"])
async def test_duplicate_client_order_id_when_20_concurrent_makes_exactly_one_order(
        client: httpx.AsyncClient, server: RunningServer, trader: TestUser,
        path: str) -> None:
    # Arrange
    base = ORDER if path == "/v1/orders" else ALPACA_ORDER
    body = {**base, "client_order_id": "race-1"}
    # Act
    responses = await asyncio.gather(*(client.post(path, headers=trader.headers, json=body)
                                       for _ in range(20)))
    # Assert
    assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses]
    ids = {(r.json()["order"]["id"] if path == "/v1/orders" else r.json()["id"])
           for r in responses}
    assert len(ids) == 1
    orders = await _orders(client, trader)
    assert [o["id"] for o in orders] == list(ids)
    funds = await _funds(client, trader)
    assert funds["USD"][1] != "0.00"  # held once, for the one order
    assert Decimal(funds["USD"][1]) <= Decimal("50.00") * Decimal("1.01")


# -- Concurrent orders against one balance ------------------------------------------------------

@pytest.mark.parametrize("path", ["/v1/orders", "/v2/orders"])
async def test_concurrent_orders_against_one_balance_never_overspend(
        client: httpx.AsyncClient, server: RunningServer, path: str) -> None:
    # Arrange: 1,000 USD; each order holds about 100 USD, so at most 10 fit
    user = await server.create_user("spender", deposits={"USD": "1000"})
    body = ({**ORDER, "qty": "1", "price": "100.00"} if path == "/v1/orders"
            else {**ALPACA_ORDER, "qty": "1", "limit_price": "100.00"})
    # Act
    responses = await asyncio.gather(*(client.post(path, headers=user.headers, json=body)
                                       for _ in range(50)))
    # Assert
    accepted = [r for r in responses if r.status_code in (200, 201)]
    refused = [r for r in responses if r.status_code not in (200, 201)]
    assert 1 <= len(accepted) <= 10
    assert all(r.status_code == 403 and r.json()["code"] == "insufficient_funds"
               for r in refused), [r.text for r in refused]
    await server.platform.read_model.wait_for(server.platform.engine.last_seq)
    available, held = (Decimal(v) for v in (await _funds(client, user))["USD"])
    assert available >= 0
    assert held <= Decimal("1000")
    assert available + held == Decimal("1000")
    assert held >= len(accepted) * Decimal("100")
    open_orders = [o for o in await _orders(client, user) if o["status"] == "new"]
    assert len(open_orders) == len(accepted)
