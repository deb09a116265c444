"""Signed requests of the native API: the canonical string and its worked example, and, end to
end, that a valid signature passes while a replay, a stale or future timestamp, a changed body,
query, path or method, or a wrong secret is 401 and changes nothing.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.kit.server import RunningServer, TestUser
from tradehall.identity.signing import (
    MemoryNonceStore,
    canonical_query,
    canonical_string,
    derive_signing_key,
    sign_request,
)
from tradehall.kernel.clock import NANOS_PER_SECOND, TestClock
from tradehall.kernel.errors import TemporaryError

ORDER = {"symbol": "BTC-USD", "side": "buy", "qty": "0.5", "price": "100.00"}
EXAMPLE_BODY = b'{"symbol":"BTC-USD","side":"buy","qty":"0.5","price":"100.00"}'


# -- The canonical string (docs/api.md's worked example) ---------------------------------------


def test_sign_request_when_docs_example_gives_documented_signature() -> None:
    headers = sign_request("TKEXAMPLE00000000000", "s3cr3t-example-only", "POST", "/v1/orders",
                           body=EXAMPLE_BODY, timestamp_ms=1796194133000,
                           nonce="q3Hn0cXrVb5m2KcYw8pLzA")

    assert derive_signing_key("s3cr3t-example-only").hex() == (
        "b815c34ad3a9603141c12d845cb1fb75dd685458a1bac7a69f0132c6e8889b05")
    assert canonical_string("TKEXAMPLE00000000000", "1796194133000", "q3Hn0cXrVb5m2KcYw8pLzA",
                            "post", "/v1/orders", "", EXAMPLE_BODY) == (
        "TH-HMAC-SHA256\nTKEXAMPLE00000000000\n1796194133000\nq3Hn0cXrVb5m2KcYw8pLzA\nPOST\n"
        "/v1/orders\n\n49386b51cf4a8f3b1c6bb84dd3c8a694b94775924f98abb322f85e0c6ee50c80")
    assert headers == {
        "TH-API-KEY": "TKEXAMPLE00000000000", "TH-API-TIMESTAMP": "1796194133000",
        "TH-API-NONCE": "q3Hn0cXrVb5m2KcYw8pLzA",
        "TH-API-SIGNATURE": "d065dc5d809332f25cbfc24fc85566492c848a57b5cf86ee59c7f4ac298e4668"}


@pytest.mark.parametrize(("query", "canonical"), [
    ("", ""),
    ("status=all&limit=5", "limit=5&status=all"),
    ("b=2&a=1&a=0", "a=0&a=1&b=2"),
    ("q=a+b&r=%7e&s=%2F", "q=a%20b&r=~&s=%2F"),
    ("flag", "flag="),
    ({"symbol": "BTC-USD", "after": "x y"}, "after=x%20y&symbol=BTC-USD"),
    ([("z", "1"), ("a", "é")], "a=%C3%A9&z=1"),
])
def test_canonical_query_when_order_or_encoding_differs_is_the_same(
        query: Any, canonical: str) -> None:
    assert canonical_query(query) == canonical


async def test_memory_nonce_store_when_full_refuses_and_forgets_expired_nonces() -> None:
    clock = TestClock(1_000 * NANOS_PER_SECOND)
    store = MemoryNonceStore(clock, capacity=2)

    assert await store.claim("k:a", 1_000)
    assert not await store.claim("k:a", 1_000)
    assert await store.claim("k:b", 1_000)
    with pytest.raises(TemporaryError) as full:
        await store.claim("k:c", 1_000)
    clock.advance(2 * NANOS_PER_SECOND)
    assert await store.claim("k:c", 1_000)
    assert await store.claim("k:a", 1_000)  # expired, so new again

    assert full.value.code == "nonce_store_full"
    assert len(store) == 2


# -- End to end ---------------------------------------------------------------------------------


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def signed(user: TestUser, method: str, path: str, *, query: Any = "", body: bytes = b"",
           **kwargs: Any) -> dict[str, str]:
    headers = sign_request(user.key.key_id, user.key.secret, method, path, query=query,
                           body=body, **kwargs)
    return {**headers, "Content-Type": "application/json"}


async def order_count(client: httpx.AsyncClient, user: TestUser) -> int:
    response = await client.get("/v1/orders", params={"status": "all"}, headers=user.headers)
    assert response.status_code == 200
    return len(response.json()["data"])


async def test_signed_request_when_valid_places_the_order(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")
    body = json.dumps(ORDER).encode()

    response = await client.post("/v1/orders", content=body,
                                 headers=signed(alice, "POST", "/v1/orders", body=body))

    assert response.status_code == 201, response.text
    assert response.json()["order"]["status"] == "new"
    assert await order_count(client, alice) == 1


async def test_signed_request_when_get_with_query_is_authenticated_as_signed(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")
    params = {"status": "all", "limit": "5"}

    listed = await client.get("/v1/orders", params=params,
                              headers=signed(alice, "GET", "/v1/orders", query=params))
    me = await client.get("/v1/auth/me", headers=signed(alice, "GET", "/v1/auth/me"))

    assert listed.status_code == 200, listed.text
    assert me.status_code == 200
    assert me.json()["username"] == "alice"


async def test_signed_request_when_replayed_is_401_and_places_nothing_more(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")
    body = json.dumps(ORDER).encode()
    headers = signed(alice, "POST", "/v1/orders", body=body)
    first = await client.post("/v1/orders", content=body, headers=headers)
    assert first.status_code == 201

    replay = await client.post("/v1/orders", content=body, headers=headers)

    assert (replay.status_code, replay.json()["code"]) == (401, "replayed_request")
    assert await order_count(client, alice) == 1


@pytest.mark.parametrize("skew_ms", [-31_000, 31_000, -3_600_000])
async def test_signed_request_when_timestamp_outside_window_is_401_stale(
        server: RunningServer, client: httpx.AsyncClient, skew_ms: int) -> None:
    alice = await server.create_user("alice")
    body = json.dumps(ORDER).encode()

    response = await client.post("/v1/orders", content=body, headers=signed(
        alice, "POST", "/v1/orders", body=body, timestamp_ms=now_ms() + skew_ms))

    assert (response.status_code, response.json()["code"]) == (401, "stale_request")
    assert await order_count(client, alice) == 0


async def test_signed_request_when_body_changed_after_signing_is_401(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")
    headers = signed(alice, "POST", "/v1/orders", body=json.dumps(ORDER).encode())
    tampered = json.dumps({**ORDER, "qty": "50"}).encode()

    response = await client.post("/v1/orders", content=tampered, headers=headers)

    assert (response.status_code, response.json()["code"]) == (401, "invalid_signature")
    assert await order_count(client, alice) == 0


async def test_signed_request_when_query_changed_after_signing_is_401(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")
    headers = signed(alice, "GET", "/v1/orders", query={"status": "open"})

    response = await client.get("/v1/orders", params={"status": "all"}, headers=headers)
    added = await client.get("/v1/orders", params={"status": "open", "limit": "1"},
                             headers=signed(alice, "GET", "/v1/orders",
                                            query={"status": "open"}))

    assert (response.status_code, response.json()["code"]) == (401, "invalid_signature")
    assert (added.status_code, added.json()["code"]) == (401, "invalid_signature")


async def test_signed_request_when_path_or_method_changed_is_401(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")

    other_path = await client.get("/v1/balances", headers=signed(alice, "GET", "/v1/orders"))
    other_method = await client.delete("/v1/orders", headers=signed(alice, "GET", "/v1/orders"))

    assert (other_path.status_code, other_path.json()["code"]) == (401, "invalid_signature")
    assert (other_method.status_code, other_method.json()["code"]) == (401, "invalid_signature")


async def test_signed_request_when_wrong_secret_is_401_and_places_nothing(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")
    body = json.dumps(ORDER).encode()
    headers = sign_request(alice.key.key_id, alice.key.secret + "x", "POST", "/v1/orders",
                           body=body)

    response = await client.post("/v1/orders", content=body,
                                 headers={**headers, "Content-Type": "application/json"})

    assert (response.status_code, response.json()["code"]) == (401, "invalid_signature")
    assert await order_count(client, alice) == 0


async def test_signed_request_when_headers_missing_or_malformed_is_401(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")
    good = signed(alice, "GET", "/v1/orders")
    cases = [
        ({k: v for k, v in good.items() if k != "TH-API-NONCE"}, "missing_credentials"),
        ({**good, "TH-API-NONCE": "short"}, "invalid_signature"),
        ({**good, "TH-API-TIMESTAMP": "soon"}, "invalid_signature"),
        ({**good, "TH-API-SIGNATURE": "zz"}, "invalid_signature"),
        ({**good, "TH-API-KEY": "TKNOSUCHKEY"}, "invalid_api_key"),
    ]

    for headers, code in cases:
        response = await client.get("/v1/orders", headers=headers)
        assert (response.status_code, response.json()["code"]) == (401, code), headers


async def test_signed_request_when_key_revoked_is_401(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")
    assert (await client.get("/v1/orders", headers=signed(alice, "GET", "/v1/orders"))
            ).status_code == 200

    await server.platform.auth.keys.revoke(alice.user.user_id, alice.key.key_id)
    response = await client.get("/v1/orders", headers=signed(alice, "GET", "/v1/orders"))

    assert (response.status_code, response.json()["code"]) == (401, "invalid_api_key")


async def test_signed_request_when_signing_key_row_is_read_it_is_sealed_not_the_secret(
        server: RunningServer) -> None:
    alice = await server.create_user("alice")

    sealed = await server.platform.identity.get_sealed_signing_key(  # type: ignore[attr-defined]
        alice.key.key_id)

    assert isinstance(sealed, bytes)
    assert alice.key.secret.encode() not in sealed
    assert derive_signing_key(alice.key.secret) not in sealed
