"""Native funds end to end: balances, withdrawals with Idempotency-Key, admin transfers.

A real platform behind uvicorn and an httpx client; another user's balances never show.
"""

from __future__ import annotations

import httpx
import pytest

from tests.kit.server import RunningServer


def usd(balances: httpx.Response) -> dict[str, str]:
    rows: list[dict[str, str]] = balances.json()["data"]
    [row] = [b for b in rows if b["asset"] == "USD"]
    return row


async def test_balances_when_order_rests_show_held_and_total(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice", deposits={"USD": "1000"})
    await server.create_user("bob", deposits={"USD": "5"})

    await client.post("/v1/orders", headers=alice.headers, json={
        "symbol": "BTC-USD", "side": "buy", "qty": "1", "price": "100.00"})
    response = await client.get("/v1/balances", headers=alice.headers)

    assert response.status_code == 200
    assert [b["asset"] for b in response.json()["data"]] == ["BTC", "USD"]
    assert usd(response) == {"asset": "USD", "available": "900.00", "held": "100.00",
                             "total": "1000.00"}


async def test_withdrawal_when_funded_debits_and_answers_balance_after(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice", deposits={"USD": "1000"})

    response = await client.post("/v1/withdrawals", headers=alice.headers,
                                 json={"asset": "USD", "amount": "250.50"})

    assert response.status_code == 201
    assert response.json() == {"kind": "withdrawal", "account": alice.user.account,
                               "asset": "USD", "amount": "250.50", "available": "749.50"}
    assert usd(await client.get("/v1/balances", headers=alice.headers))["available"] == "749.50"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"asset": "USD", "amount": "5000"}, 403, "insufficient_funds"),
        ({"asset": "USD", "amount": "1.001"}, 422, "too_many_decimals"),
        ({"asset": "USD", "amount": "0"}, 422, "not_positive"),
        ({"asset": "XYZ", "amount": "1"}, 422, "unknown_asset"),
        ({"asset": "USD", "amount": 1.5}, 422, "invalid_field"),
        ({"asset": "USD"}, 422, "invalid_field"),
    ],
)
async def test_withdrawal_when_refused_answers_code_and_keeps_balance(
        server: RunningServer, client: httpx.AsyncClient, body: dict[str, object], status: int,
        code: str) -> None:
    alice = await server.create_user("alice", deposits={"USD": "1000"})

    response = await client.post("/v1/withdrawals", headers=alice.headers, json=body)

    assert response.status_code == status
    assert response.json()["code"] == code
    assert usd(await client.get("/v1/balances", headers=alice.headers))["available"] == "1000.00"


async def test_withdrawal_when_retried_with_same_key_debits_once(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    alice = await server.create_user("alice", deposits={"USD": "1000"})
    headers = {**alice.headers, "Idempotency-Key": "w-1"}
    body = {"asset": "USD", "amount": "100"}

    # Act
    first = await client.post("/v1/withdrawals", headers=headers, json=body)
    again = await client.post("/v1/withdrawals", headers=headers, json=body)
    other = await client.post("/v1/withdrawals", headers=headers,
                              json={"asset": "USD", "amount": "200"})

    # Assert
    assert first.status_code == 201
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert usd(await client.get("/v1/balances", headers=alice.headers))["available"] == "900.00"


async def test_withdrawal_when_keyed_request_failed_can_retry(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice", deposits={"USD": "10"})
    headers = {**alice.headers, "Idempotency-Key": "w-2"}

    failed = await client.post("/v1/withdrawals", headers=headers,
                               json={"asset": "USD", "amount": "100"})
    retried = await client.post("/v1/withdrawals", headers=headers,
                                json={"asset": "USD", "amount": "100"})

    assert failed.status_code == 403
    assert retried.status_code == 403


async def test_admin_deposit_when_admin_credits_any_user(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    admin = await server.create_user("root", roles=("admin",), deposits={})
    alice = await server.create_user("alice", deposits={})

    response = await client.post("/v1/admin/deposits", headers=admin.headers,
                                 json={"username": "alice", "asset": "USD", "amount": "42.00"})
    taken = await client.post("/v1/admin/withdrawals", headers=admin.headers,
                              json={"username": "alice", "asset": "USD", "amount": "2"})

    assert response.status_code == 201
    assert response.json()["available"] == "42.00"
    assert taken.json()["available"] == "40.00"
    assert usd(await client.get("/v1/balances", headers=alice.headers))["total"] == "40.00"


async def test_admin_deposit_when_not_admin_answers_403_and_changes_nothing(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice", deposits={"USD": "1"})

    response = await client.post("/v1/admin/deposits", headers=alice.headers,
                                 json={"username": "alice", "asset": "USD", "amount": "1000"})

    assert response.status_code == 403
    assert response.json()["code"] == "missing_role"
    assert usd(await client.get("/v1/balances", headers=alice.headers))["total"] == "1.00"


async def test_admin_deposit_when_user_unknown_answers_404(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    admin = await server.create_user("root", roles=("admin",), deposits={})

    response = await client.post("/v1/admin/deposits", headers=admin.headers,
                                 json={"username": "nobody", "asset": "USD", "amount": "1"})

    assert response.status_code == 404
    assert response.json()["code"] == "user_not_found"


async def test_balances_when_no_credentials_answer_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/balances", headers={"APCA-API-KEY-ID": "TKNOPE",
                                                         "APCA-API-SECRET-KEY": "wrong"})

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"
