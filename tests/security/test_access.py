"""Access control through the real API: no credentials is 401 on every non-public route (the
list comes from the permission table), a trader on back-office routes is 403 `missing_role`,
another user's order, position, API key or session is 404 exactly like a missing one and
changes nothing, and a body with a field the caller may not set (`role`, `balance`, `status`,
`fee_rate`) is 422 on every route that takes a JSON body."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.kit.accounts import bearer
from tests.kit.server import RunningServer, TestUser
from tradehall.identity.permissions import RULES, WEBSOCKET, Rule

EXTRA_FIELDS = ("role", "balance", "status", "fee_rate")
ORDER = {"symbol": "BTC-USD", "side": "buy", "qty": "0.5", "price": "100.00"}
ALPACA_ORDER = {"symbol": "BTC/USD", "qty": "0.5", "side": "buy", "type": "limit",
                "time_in_force": "gtc", "limit_price": "100.00"}
_PARAM = re.compile(r"\{([a-z_]+)(:path)?\}")


def _protected() -> list[tuple[str, str, Rule]]:
    return sorted((m, p, r) for (m, p), r in RULES.items() if not r.public and m != WEBSOCKET)


def _concrete(path: str) -> str:
    """A path of the template with a made-up value for each parameter."""
    return _PARAM.sub(lambda m: str(uuid.UUID(int=7)) if m.group(1).endswith("id")
                      else "BTC-USD", path)


async def _balances(client: httpx.AsyncClient, user: TestUser) -> Any:
    response = await client.get("/v1/balances", headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()


def _assert_error(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "field"}
    if code is not None:
        assert body["code"] == code, body


# -- 401 without credentials --------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _ in _protected()])
async def test_protected_route_when_no_credentials_is_401(
        client: httpx.AsyncClient, method: str, path: str) -> None:
    body: dict[str, str] | None = {} if method in ("POST", "PUT", "PATCH") else None
    response = await client.request(method, _concrete(path), json=body)
    _assert_error(response, 401, "missing_credentials")


@pytest.mark.parametrize(("headers", "code"), [
    ({"Authorization": "Bearer not-a-token"}, "invalid_token"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "invalid_token"),
    ({"APCA-API-KEY-ID": "TKNOPE", "APCA-API-SECRET-KEY": "nope"}, "invalid_api_key"),
    ({"APCA-API-KEY-ID": "TKNOPE"}, "missing_credentials"),
])
async def test_protected_routes_when_credentials_are_bad_are_401(
        client: httpx.AsyncClient, headers: dict[str, str], code: str) -> None:
    for method, path, _ in _protected():
        body: dict[str, str] | None = {} if method in ("POST", "PUT", "PATCH") else None
        response = await client.request(method, _concrete(path), json=body, headers=headers)
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["code"] == code, (method, path)


async def test_public_routes_when_no_credentials_are_not_401(
        client: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/v1/instruments", "/v1/markets/tickers", "/udf/config",
                 "/openapi.json", "/docs"):
        response = await client.get(path)
        assert response.status_code == 200, (path, response.text)


# -- 403 for missing roles ----------------------------------------------------------------------

def _back_office() -> list[tuple[str, str]]:
    return [(m, p) for m, p, r in _protected()
            if r.audience == "roles" and "trader" not in r.roles]


def test_back_office_routes_exist_for_every_back_office_role() -> None:
    roles = {role for _, _, r in _protected() if r.audience == "roles" for role in r.roles}
    assert {"admin", "compliance"} <= roles


@pytest.mark.parametrize("credentials", ["api_key", "session"])
async def test_trader_on_back_office_routes_is_403_missing_role_and_changes_nothing(
        client: httpx.AsyncClient, server: RunningServer, credentials: str) -> None:
    # Arrange
    trader = await server.create_user("trader1", deposits={"USD": "100"})
    headers = trader.headers if credentials == "api_key" else await bearer(client, "trader1")
    before = await _balances(client, trader)
    body = {"username": "trader1", "asset": "USD", "amount": "1000",
            "roles": ["admin"], "state": "active"}
    # Act / Assert
    for method, path in _back_office():
        concrete = _concrete(path).replace(str(uuid.UUID(int=7)), "trader1")
        response = await client.request(method, concrete, headers=headers,
                                        json=body if method in ("POST", "PUT") else None)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["code"] == "missing_role", (method, path)
    assert await _balances(client, trader) == before
    user = await server.platform.identity.get_user_by_username("trader1")
    assert user is not None
    assert user.roles == ["trader"]


async def test_admin_on_admin_route_passes_the_permission_check(
        client: httpx.AsyncClient, server: RunningServer) -> None:
    admin = await server.create_user("boss", roles=("admin",), deposits={})
    await server.create_user("payee", deposits={})
    response = await client.post("/v1/admin/deposits", headers=admin.headers,
                                 json={"username": "payee", "asset": "USD", "amount": "5"})
    assert response.status_code == 201, response.text


async def test_api_key_without_scope_is_403_missing_scope(
        client: httpx.AsyncClient, server: RunningServer) -> None:
    # Arrange: a key with the read scope only
    user = await server.create_user("reader", deposits={"USD": "1000"})
    pair = await server.platform.auth.create_api_key(user.user, "read only", scopes=("read",))
    headers = {"APCA-API-KEY-ID": pair.key_id, "APCA-API-SECRET-KEY": pair.secret}
    before = await _balances(client, user)
    # Act
    placed = await client.post("/v1/orders", headers=headers, json=ORDER)
    withdrawn = await client.post("/v1/withdrawals", headers=headers,
                                  json={"asset": "USD", "amount": "1"})
    read = await client.get("/v1/orders", headers=headers)
    # Assert
    _assert_error(placed, 403, "missing_scope")
    _assert_error(withdrawn, 403, "missing_scope")
    assert read.status_code == 200
    assert read.json()["data"] == []
    assert await _balances(client, user) == before


# -- 404 for other users' objects ---------------------------------------------------------------

async def test_other_users_order_is_404_on_every_order_route_and_unchanged(
        client: httpx.AsyncClient, server: RunningServer) -> None:
    # Arrange
    alice = await server.create_user("alice")
    bob = await server.create_user("bob")
    placed = await client.post("/v1/orders", headers=bob.headers, json=ORDER)
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order"]["id"]
    missing = str(uuid.UUID(int=99))
    # Act / Assert: the same answer as for an order that does not exist
    for target in (order_id, missing):
        for method, path, body in [
                ("GET", "/v1/orders/{}", None), ("DELETE", "/v1/orders/{}", None),
                ("PATCH", "/v1/orders/{}", {"qty": "0.1"}), ("GET", "/v2/orders/{}", None),
                ("DELETE", "/v2/orders/{}", None), ("PATCH", "/v2/orders/{}", {"qty": "0.1"})]:
            response = await client.request(method, path.format(target), headers=alice.headers,
                                            json=body)
            assert response.status_code == 404, (method, path, response.text)
    cancel_all = await client.delete("/v1/orders", headers=alice.headers)
    assert cancel_all.status_code == 200
    # Bob's order is untouched
    mine = await client.get(f"/v1/orders/{order_id}", headers=bob.headers)
    assert mine.status_code == 200
    assert mine.json()["status"] == "new"
    assert mine.json()["qty"] == "0.5000"
    listed = await client.get("/v1/orders", headers=alice.headers)
    assert listed.json()["data"] == []


async def test_other_users_position_is_404_and_unchanged(
        client: httpx.AsyncClient, server: RunningServer) -> None:
    # Arrange: bob holds a margin position opened against carol
    alice = await server.create_user("alice")
    bob = await server.create_user("bob")
    carol = await server.create_user("carol")
    sell = {"symbol": "EUR-USD", "side": "sell", "qty": "1000", "price": "1.10000"}
    buy = {**sell, "side": "buy"}
    assert (await client.post("/v1/orders", headers=carol.headers, json=sell)).status_code == 201
    assert (await client.post("/v1/orders", headers=bob.headers, json=buy)).status_code == 201
    bob_before = (await client.get("/v1/positions", headers=bob.headers)).json()
    assert bob_before["data"], bob_before
    # Act
    got = await client.get("/v2/positions/EUR-USD", headers=alice.headers)
    got_slash = await client.get("/v2/positions/EUR%2FUSD", headers=alice.headers)
    closed = await client.delete("/v2/positions/EUR-USD", headers=alice.headers)
    closed_native = await client.post("/v1/positions/EUR-USD/close", headers=alice.headers)
    # Assert
    for response in (got, got_slash, closed, closed_native):
        assert response.status_code == 404, response.text
    assert (await client.get("/v1/positions", headers=alice.headers)).json()["data"] == []
    assert (await client.get("/v1/positions", headers=bob.headers)).json() == bob_before


async def test_other_users_api_key_is_404_and_keeps_working(
        client: httpx.AsyncClient, server: RunningServer) -> None:
    # Arrange
    await server.create_user("alice", deposits={})
    bob = await server.create_user("bob", deposits={})
    alice_session = await bearer(client, "alice")
    # Act
    revoked = await client.delete(f"/v1/api-keys/{bob.key.key_id}", headers=alice_session)
    missing = await client.delete("/v1/api-keys/TKDOESNOTEXIST0000", headers=alice_session)
    listed = await client.get("/v1/api-keys", headers=alice_session)
    # Assert
    _assert_error(revoked, 404)
    _assert_error(missing, 404, revoked.json()["code"])
    assert bob.key.key_id not in {k["key_id"] for k in listed.json()["data"]}
    assert (await client.get("/v1/balances", headers=bob.headers)).status_code == 200


async def test_other_users_session_is_404_and_stays_live(
        client: httpx.AsyncClient, server: RunningServer) -> None:
    # Arrange
    await server.create_user("alice", deposits={})
    await server.create_user("bob", deposits={})
    alice_session = await bearer(client, "alice")
    bob_session = await bearer(client, "bob")
    sessions = (await client.get("/v1/auth/sessions", headers=bob_session)).json()["sessions"]
    bob_session_id = sessions[0]["session_id"]
    # Act
    revoked = await client.delete(f"/v1/auth/sessions/{bob_session_id}",
                                  headers=alice_session)
    missing = await client.delete(f"/v1/auth/sessions/{uuid.UUID(int=5)}",
                                  headers=alice_session)
    # Assert
    _assert_error(revoked, 404)
    _assert_error(missing, 404, revoked.json()["code"])
    me = await client.get("/v1/auth/me", headers=bob_session)
    assert me.status_code == 200
    assert me.json()["username"] == "bob"


# -- 422 for fields the caller may not set ------------------------------------------------------

def _json_body_schemas(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if schema is not None:
                found.append((method.upper(), path, schema))
    return found


def _resolve(openapi: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    for option in schema.get("anyOf", ()):  # an optional body: the model or null
        if "$ref" in option:
            return _resolve(openapi, option)
    ref = schema.get("$ref")
    if ref is None:
        return schema
    name = ref.rsplit("/", 1)[-1]
    resolved: dict[str, Any] = openapi["components"]["schemas"][name]
    return resolved


async def test_every_json_body_refuses_unknown_fields_in_its_schema(
        client: httpx.AsyncClient) -> None:
    openapi = (await client.get("/openapi.json")).json()
    bodies = _json_body_schemas(openapi)
    assert len(bodies) >= 10
    for method, path, schema in bodies:
        resolved = _resolve(openapi, schema)
        assert resolved.get("additionalProperties") is False, (
            f"{method} {path}: its body model needs model_config = ConfigDict(extra='forbid')")


@pytest.mark.parametrize("extra", EXTRA_FIELDS)
async def test_body_routes_when_extra_field_is_422_and_nothing_changes(
        client: httpx.AsyncClient, server: RunningServer, extra: str) -> None:
    # Arrange: valid bodies for each route, which would succeed without the extra field
    alice = await server.create_user("alice", deposits={"USD": "1000", "BTC": "1"})
    admin = await server.create_user("boss", roles=("admin",), deposits={})
    resting = await client.post("/v1/orders", headers=alice.headers, json=ORDER)
    order_id = resting.json()["order"]["id"]
    session = await bearer(client, "alice")
    before = await _balances(client, alice)
    cases: list[tuple[str, str, dict[str, str], dict[str, Any]]] = [
        ("POST", "/v1/orders", alice.headers, ORDER),
        ("PATCH", f"/v1/orders/{order_id}", alice.headers, {"qty": "0.25"}),
        ("POST", "/v1/withdrawals", alice.headers, {"asset": "USD", "amount": "1"}),
        ("POST", "/v1/admin/deposits", admin.headers,
         {"username": "alice", "asset": "USD", "amount": "1"}),
        ("POST", "/v1/admin/withdrawals", admin.headers,
         {"username": "alice", "asset": "USD", "amount": "1"}),
        ("POST", "/v2/orders", alice.headers, ALPACA_ORDER),
        ("PATCH", f"/v2/orders/{order_id}", alice.headers, {"qty": "0.25"}),
        ("POST", "/v1/auth/login", {}, {"username": "alice",
                                        "password": "correct horse battery"}),
        ("POST", "/v1/api-keys", session, {"label": "bot", "scopes": ["read"]}),
        ("POST", "/v1/account/register", {}, {"username": "mallory",
                                              "password": "correct horse battery",
                                              "email": "mallory@example.com"}),
    ]
    # Act / Assert
    for method, path, headers, body in cases:
        response = await client.request(method, path, headers=headers,
                                        json={**body, extra: "admin" if extra == "role"
                                              else "0"})
        assert response.status_code == 422, (method, path, response.text)
        assert response.json()["field"] == extra, (method, path, response.text)
    assert await _balances(client, alice) == before
    orders = (await client.get("/v1/orders", headers=alice.headers)).json()["data"]
    assert [(o["id"], o["qty"]) for o in orders] == [(order_id, "0.5000")]
    assert await server.platform.identity.get_user_by_username("mallory") is None
    keys = (await client.get("/v1/api-keys", headers=session)).json()["data"]
    assert [k["key_id"] for k in keys] == [alice.key.key_id]
