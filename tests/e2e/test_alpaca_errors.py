"""Bad requests to the Alpaca-compatible API: precise 4xx in the one error shape, nothing changed.

Every refusal answers `{"code", "message", "field"}` with the status Alpaca would use (401
credentials, 403 funds, 404 unknown or foreign ids, 422 bad parameters), and leaves the
account as it was: no order, the same balances. Hypothesis throws random JSON at the order
endpoints and checks that no body ever gets a 500.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.kit.server import TestUser, ThreadedServer, platform_in_thread

_names = itertools.count(1)
GOOD = {"symbol": "BTC/USD", "qty": "0.5", "side": "buy", "type": "limit",
        "time_in_force": "gtc", "limit_price": "100.25"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    with platform_in_thread(tmp_path_factory.mktemp("alpaca-errors")) as srv:
        yield srv


@pytest.fixture
def client(server: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url) as c:
        yield c


def new_user(server: ThreadedServer, **kwargs: Any) -> TestUser:
    return server.create_user(f"user{next(_names)}", **kwargs)


@pytest.fixture
def alice(server: ThreadedServer) -> TestUser:
    return new_user(server)


def assert_error(response: httpx.Response, status: int, code: str,
                 field: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "field"}
    assert body["code"] == code, body
    assert isinstance(body["message"], str)
    assert body["message"]
    if field is not None:
        assert body["field"] == field, body


def assert_nothing_changed(client: httpx.Client, user: TestUser) -> None:
    orders = client.get("/v2/orders", params={"status": "all"}, headers=user.headers)
    assert orders.json() == []
    account = (client.get("/v2/account", headers=user.headers)).json()
    assert account["cash"] == account["buying_power"] == "10000000.00"


def post(client: httpx.Client, user: TestUser, **changes: Any) -> httpx.Response:
    body = {**GOOD, **changes}
    return client.post("/v2/orders", json={k: v for k, v in body.items()
                                                 if v is not None}, headers=user.headers)


@pytest.mark.parametrize(("changes", "code", "field"), [
    ({"limit_price": "100.001"}, "too_many_decimals", "limit_price"),
    ({"qty": "0.00001"}, "too_many_decimals", "qty"),
    ({"qty": "-1"}, "not_positive", "qty"),
    ({"qty": "0"}, "not_positive", "qty"),
    ({"qty": 0}, "not_positive", "qty"),
    ({"qty": "NaN"}, "not_a_number", "qty"),
    ({"limit_price": "Infinity"}, "not_a_number", "limit_price"),
    ({"limit_price": "1e400"}, "not_a_number", "limit_price"),
    ({"qty": 10**40}, "out_of_range", "qty"),
    ({"limit_price": "1" * 29}, "out_of_range", "limit_price"),
    ({"qty": True}, "invalid_field", "qty"),
    ({"qty": None}, "missing_field", "qty"),
    ({"symbol": "DOGE/USD"}, "unknown_symbol", "symbol"),
    ({"side": "hold"}, "invalid_value", "side"),
    ({"type": "trailing_stop"}, "invalid_value", "type"),
    ({"time_in_force": "opg"}, "invalid_value", "time_in_force"),
    ({"type": "market"}, "price_not_allowed", "limit_price"),
    ({"notional": "100"}, "unsupported", "notional"),
    ({"order_class": "bracket"}, "unsupported", "order_class"),
    ({"take_profit": {"limit_price": "1"}}, "unsupported", "take_profit"),
    ({"trail_percent": "1"}, "unsupported", "trail_percent"),
    ({"position_intent": "hold"}, "invalid_value", "position_intent"),
    ({"leverage": "10"}, "unknown_field", "leverage"),
    ({"client_order_id": "x" * 65}, "invalid_client_order_id", "client_order_id"),
])
def test_submit_when_input_is_bad_answers_422_and_changes_nothing(
        client: httpx.Client, alice: TestUser, changes: dict[str, Any], code: str,
        field: str) -> None:
    response = post(client, alice, **changes)

    assert_error(response, 422, code, field)
    assert_nothing_changed(client, alice)


@pytest.mark.parametrize("raw", [b'{"qty": NaN}', b"{", b"", b"[1, 2]", b'"text"',
                                 b'{"qty": 1' + b"0" * 5000 + b"}"])
def test_submit_when_body_is_not_an_object_answers_4xx(
        client: httpx.Client, alice: TestUser, raw: bytes) -> None:
    response = client.post("/v2/orders", content=raw, headers={
        **alice.headers, "content-type": "application/json"})

    assert response.status_code in (400, 422)
    assert set(response.json()) == {"code", "message", "field"}
    assert_nothing_changed(client, alice)


def test_submit_when_json_numbers_are_given_takes_them_exactly(
        client: httpx.Client, alice: TestUser) -> None:
    response = client.post("/v2/orders", headers=alice.headers, content=(
        b'{"symbol": "BTC-USD", "qty": 0.1, "side": "buy", "type": "limit",'
        b' "time_in_force": "gtc", "limit_price": 1e2}'))

    assert response.status_code == 200, response.text
    assert (response.json()["qty"], response.json()["limit_price"]) == ("0.1000", "100.00")


def test_submit_when_funds_are_short_answers_403(
        server: ThreadedServer, client: httpx.Client) -> None:
    poor = new_user(server, deposits={"USD": "10"})

    response = post(client, poor, qty="1", limit_price="100")

    assert_error(response, 403, "insufficient_funds")
    listed = client.get("/v2/orders", params={"status": "all"}, headers=poor.headers)
    assert listed.json() == []


def test_submit_when_client_order_id_is_reused_with_other_content_answers_422(
        client: httpx.Client, alice: TestUser) -> None:
    first = post(client, alice, client_order_id="dup-1")
    same = post(client, alice, client_order_id="dup-1")

    other = post(client, alice, client_order_id="dup-1", limit_price="101")

    assert first.status_code == same.status_code == 200
    assert same.json()["id"] == first.json()["id"]
    assert_error(other, 422, "duplicate_client_order_id", "client_order_id")
    listed = client.get("/v2/orders", params={"status": "all"}, headers=alice.headers)
    assert [o["limit_price"] for o in listed.json()] == ["100.25"]


@pytest.mark.parametrize(("headers", "code"), [
    ({}, "missing_credentials"),
    ({"APCA-API-KEY-ID": "TKNOPE"}, "missing_credentials"),
    ({"APCA-API-KEY-ID": "TKNOPE", "APCA-API-SECRET-KEY": "nope"}, "invalid_api_key"),
    ({"Authorization": "Bearer not-a-token"}, "invalid_token"),
])
def test_request_when_credentials_are_missing_or_wrong_answers_401(
        client: httpx.Client, alice: TestUser, headers: dict[str, str],
        code: str) -> None:
    for method, path in (("GET", "/v2/account"), ("POST", "/v2/orders"),
                         ("GET", "/v2/positions"), ("DELETE", "/v2/orders")):
        response = client.request(method, path, headers=headers,
                                        json=GOOD if method == "POST" else None)
        assert_error(response, 401, code)
    assert_nothing_changed(client, alice)


def test_request_when_secret_is_wrong_for_real_key_answers_401(
        client: httpx.Client, alice: TestUser) -> None:
    headers = {"APCA-API-KEY-ID": alice.key.key_id, "APCA-API-SECRET-KEY": "wrong"}

    response = client.post("/v2/orders", json=GOOD, headers=headers)

    assert_error(response, 401, "invalid_api_key")
    assert_nothing_changed(client, alice)


def test_order_routes_when_id_is_unknown_or_malformed_answer_404_or_422(
        client: httpx.Client, alice: TestUser) -> None:
    unknown = str(uuid.UUID(int=7))
    for method in ("GET", "DELETE", "PATCH"):
        body = {"qty": "1"} if method == "PATCH" else None
        assert_error(client.request(method, f"/v2/orders/{unknown}", json=body,
                                          headers=alice.headers), 404, "order_not_found")
        assert_error(client.request(method, "/v2/orders/not-a-uuid", json=body,
                                          headers=alice.headers), 422, "invalid_order_id")
    by_client = client.get("/v2/orders:by_client_order_id",
                                 params={"client_order_id": "nope"}, headers=alice.headers)
    assert_error(by_client, 404, "order_not_found")


def test_cancel_when_order_is_filled_answers_422(
        server: ThreadedServer, client: httpx.Client, alice: TestUser) -> None:
    # Arrange
    bob = new_user(server)
    resting = post(client, bob, symbol="ETH/USD", side="sell", qty="0.5", limit_price="100")
    filled = post(client, alice, symbol="ETH/USD", type="market", limit_price=None, qty="0.5",
                  time_in_force="ioc")
    assert filled.json()["status"] == "filled"

    # Act
    response = client.delete(f"/v2/orders/{filled.json()['id']}", headers=alice.headers)
    replace = client.patch(f"/v2/orders/{resting.json()['id']}", json={"qty": "1"},
                                 headers=bob.headers)

    # Assert
    assert_error(response, 422, "order_not_cancelable")
    assert_error(replace, 422, "order_not_replaceable")


def test_replace_when_change_is_not_amendable_answers_422(
        client: httpx.Client, alice: TestUser) -> None:
    order_id = (post(client, alice)).json()["id"]
    path = f"/v2/orders/{order_id}"
    cases = [({"stop_price": "90"}, "unsupported", "stop_price"),
             ({"time_in_force": "day"}, "unsupported", "time_in_force"),
             ({"client_order_id": "new-id"}, "unsupported", "client_order_id"),
             ({"trail": "1"}, "unsupported", "trail"),
             ({}, "nothing_to_amend", "qty"),
             ({"qty": "-2"}, "not_positive", "qty"),
             ({"limit_price": "100.001"}, "too_many_decimals", "limit_price"),
             ({"qty": "1", "extra": 1}, "unknown_field", "extra")]

    for body, code, field in cases:
        assert_error(client.patch(path, json=body, headers=alice.headers), 422, code,
                     field)

    order = (client.get(path, headers=alice.headers)).json()
    assert (order["qty"], order["limit_price"]) == ("0.5000", "100.25")


@pytest.mark.parametrize(("params", "field"), [
    ({"status": "pending"}, "status"), ({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"),
    ({"direction": "up"}, "direction"), ({"after": "yesterday"}, "after"),
    ({"symbols": "DOGE/USD"}, "symbols"), ({"side": "both"}, "side"),
])
def test_list_orders_when_params_are_bad_answers_422(
        client: httpx.Client, alice: TestUser, params: dict[str, str], field: str) -> None:
    response = client.get("/v2/orders", params=params, headers=alice.headers)

    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_positions_when_absent_or_bad_close_answers_404_or_422(
        client: httpx.Client, alice: TestUser) -> None:
    assert_error(client.get("/v2/positions/BTC/USD", headers=alice.headers), 404,
                 "no_position")
    assert_error(client.delete("/v2/positions/AAPL", headers=alice.headers), 404,
                 "no_position")
    assert_error(client.get("/v2/positions/DOGE", headers=alice.headers), 404,
                 "unknown_symbol")
    assert_error(client.get("/v2/assets/DOGE", headers=alice.headers), 404,
                 "unknown_symbol")
    assert_nothing_changed(client, alice)


# -- Random bodies --------------------------------------------------------------------------


_scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=12)
            | st.sampled_from(["0.5", "1", "-1", "1e5", "NaN", "100.25", "BTC/USD", "buy",
                               "limit", "gtc", "market", "sell", "stop", "stop_limit"]))
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
_keys = st.sampled_from(["symbol", "qty", "side", "type", "time_in_force", "limit_price",
                         "stop_price", "client_order_id", "notional", "extended_hours",
                         "order_class", "post_only", "position_intent", "trail"])
_bodies = st.dictionaries(_keys, _json, max_size=8) | _json


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_bodies)
def test_order_endpoints_when_body_is_random_never_answer_500(
        server: ThreadedServer, body: Any) -> None:
    user = _fuzz_user(server)
    with httpx.Client(base_url=server.base_url, headers=user.headers) as http:
        created = http.post("/v2/orders", json=body)
        order_id = created.json().get("id") if created.status_code == 200 else str(uuid.UUID(
            int=1))
        replaced = http.patch(f"/v2/orders/{order_id}", json=body)

    for response in (created, replaced):
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert set(response.json()) == {"code", "message", "field"}


_params = st.dictionaries(st.sampled_from(
    ["status", "limit", "after", "until", "direction", "side", "symbols", "nested", "qty",
     "percentage", "cancel_orders", "asset_class", "client_order_id"]),
    st.text(max_size=12) | st.sampled_from(["open", "1", "-1", "0", "100", "true", "BTC/USD",
                                            "2026-01-01T00:00:00Z", "asc", "buy", "NaN"]),
    max_size=5)
_paths = st.sampled_from([("GET", "/v2/orders"), ("GET", "/v2/orders:by_client_order_id"),
                          ("GET", "/v2/assets"), ("GET", "/v2/positions/BTC/USD"),
                          ("DELETE", "/v2/positions/AAPL"), ("GET", "/v2/account"),
                          ("DELETE", "/v2/positions")])


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=_paths, params=_params)
def test_routes_when_query_is_random_never_answer_500(
        server: ThreadedServer, route: tuple[str, str], params: dict[str, str]) -> None:
    user = _fuzz_user(server)
    with httpx.Client(base_url=server.base_url, headers=user.headers) as http:
        response = http.request(route[0], route[1], params=params)

    assert response.status_code < 500, response.text


_users: dict[int, TestUser] = {}


def _fuzz_user(server: ThreadedServer) -> TestUser:
    key = id(server)
    if key not in _users:
        _users[key] = new_user(server)
    return _users[key]
