"""Request limits and HTTP hardening end to end: huge bodies 413, deep nesting 400, malformed
bodies 4xx (never 500), floods 429 with Retry-After, security headers on successes and errors,
CORS by allow-list; and the pure parts (JSON depth scan, GCRA buckets) on their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.kit.server import RunningServer, running_platform
from tradehall.config import Settings
from tradehall.entrypoints.api.security import json_depth
from tradehall.identity.ratelimit import MemoryRateLimiter, RateRule
from tradehall.kernel.clock import NANOS_PER_SECOND, TestClock

ORDER = {"symbol": "BTC-USD", "side": "buy", "qty": "0.5", "price": "100.00"}
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "x-frame-options": "DENY",
}


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# -- Pure parts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "limit", "ok"), [
    (b'{"a": [1, 2, {"b": 3}]}', 3, True),
    (b'{"a": [1, 2, {"b": 3}]}', 2, False),
    (nested(32), 32, True),
    (nested(33), 32, False),
    (b'{"s": "' + b"[" * 100 + b'"}', 2, True),  # brackets inside strings do not nest
    (b'{"s": "\\"[[[[", "t": "]]]"}', 1, True),  # escaped quotes stay inside the string
    (b"[" * 40, 32, False),  # unbalanced still counts
    (b"[]" * 1000, 2, True),
])
def test_json_depth_when_nesting_is_counted_outside_strings(body: bytes, limit: int,
                                                            ok: bool) -> None:
    assert json_depth(body, limit) is ok


async def test_memory_rate_limiter_when_burst_spent_waits_then_refills() -> None:
    clock = TestClock(10 * NANOS_PER_SECOND)
    limiter = MemoryRateLimiter(clock)
    rule = RateRule(2, 3)  # 2 a second, 3 at once

    burst = [await limiter.acquire([("k", rule)]) for _ in range(3)]
    refused = await limiter.acquire([("k", rule)])
    clock.advance(NANOS_PER_SECOND // 2)
    refilled = await limiter.acquire([("k", rule)])

    assert burst == [0, 0, 0]
    assert refused == 500
    assert refilled == 0


async def test_memory_rate_limiter_when_one_bucket_empty_takes_from_none() -> None:
    clock = TestClock(10 * NANOS_PER_SECOND)
    limiter = MemoryRateLimiter(clock, capacity=3)
    tight, loose = RateRule(1, 1), RateRule(100, 100)
    assert await limiter.acquire([("tight", tight)]) == 0

    refused = await limiter.acquire([("loose", loose), ("tight", tight)])
    for name in ("a", "b", "c"):
        await limiter.acquire([(name, loose)])

    assert refused == 1000
    assert await limiter.acquire([("loose", RateRule(1, 1))]) == 0  # loose untouched
    assert len(limiter) == 3  # bounded: the oldest buckets were dropped


# -- Request limits end to end ------------------------------------------------------------------


def assert_hardened(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (response.status_code, name)
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "strict-transport-security" not in response.headers


async def test_body_when_over_64_kib_is_413_and_places_nothing(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")
    huge = b'{"symbol": "' + b"A" * 70_000 + b'"}'

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"[" + b" " * 10_000

    sized = await client.post("/v1/orders", content=huge, headers={
        **alice.headers, "Content-Type": "application/json"})
    streamed = await client.post("/v1/orders", content=chunks(), headers={
        **alice.headers, "Content-Type": "application/json"})

    assert (sized.status_code, sized.json()["code"]) == (413, "body_too_large")
    assert (streamed.status_code, streamed.json()["code"]) == (413, "body_too_large")
    assert_hardened(sized)
    orders = await client.get("/v1/orders", params={"status": "all"}, headers=alice.headers)
    assert orders.json()["data"] == []


@pytest.mark.parametrize("depth", [33, 1000, 30_000])
async def test_body_when_nested_too_deep_is_400(
        server: RunningServer, client: httpx.AsyncClient, depth: int) -> None:
    alice = await server.create_user("alice")

    response = await client.post("/v1/orders", content=nested(depth), headers={
        **alice.headers, "Content-Type": "application/json"})

    assert (response.status_code, response.json()["code"]) == (400, "too_deeply_nested")
    assert_hardened(response)


@pytest.mark.parametrize(("body", "content_type", "status"), [
    (b'{"symbol": "BTC-USD", ', "application/json", 422),
    (b"\xff\xfe\xfa", "application/json", 400),
    (b"[1, 2, 3]", "application/json", 422),
    (b'{"symbol": {"a": {"b": {"c": 1}}}}', "application/json", 422),
    (b"{}", "text/plain", 422),
    (b'{"symbol": "BTC-USD"' + b', "x": 1' * 5000 + b"}", "application/json", 422),
    (b"1e999999", "application/json", 422),
    (b"", "application/json", 422),
])
async def test_body_when_malformed_is_4xx_never_500(
        server: RunningServer, client: httpx.AsyncClient, body: bytes, content_type: str,
        status: int) -> None:
    alice = await server.create_user("alice")

    response = await client.post("/v1/orders", content=body, headers={
        **alice.headers, "Content-Type": content_type})

    assert response.status_code == status, response.text
    assert set(response.json()) == {"code", "message", "field"}


@pytest.fixture
async def tight_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A platform with small rate limits: 3 requests at once per key, 6 per address."""
    async with running_platform(tmp_path, rate_limit_key_per_s=1, rate_limit_key_burst=3,
                                rate_limit_ip_per_s=1, rate_limit_ip_burst=6) as srv:
        yield srv


async def test_requests_when_flooding_with_a_key_are_429_with_retry_after(
        tight_server: RunningServer) -> None:
    alice = await tight_server.create_user("alice")
    async with httpx.AsyncClient(base_url=tight_server.base_url) as client:

        responses = [await client.get("/v1/balances", headers=alice.headers)
                     for _ in range(4)]

    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    limited = responses[-1]
    assert limited.json()["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1
    assert_hardened(limited)


async def test_requests_when_flooding_from_one_address_are_429_never_500(
        tight_server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=tight_server.base_url) as client:

        responses = await asyncio.gather(*(client.get("/healthz") for _ in range(20)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(429) >= 14
    assert set(statuses) <= {200, 429}
    limited = next(r for r in responses if r.status_code == 429)
    assert limited.json()["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1
    assert_hardened(limited)


# -- Security headers and CORS --------------------------------------------------------------


async def test_security_headers_when_success_or_error_are_present(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")

    responses = [
        await client.get("/v1/balances", headers=alice.headers),
        await client.get("/v1/balances"),
        await client.get("/v1/no-such-route"),
        await client.post("/v1/orders", json={**ORDER, "qty": "x"}, headers=alice.headers),
        await client.get("/healthz"),
    ]

    assert [r.status_code for r in responses] == [200, 401, 404, 422, 200]
    for response in responses:
        assert_hardened(response)
    assert "access-control-allow-origin" not in responses[0].headers


async def test_security_headers_when_configured_send_hsts_and_frame_ancestors(
        tmp_path: Path) -> None:
    async with running_platform(tmp_path, hsts_max_age_s=31_536_000,
                                frame_ancestors=["https://broker.example"],
                                market=False) as srv, \
            httpx.AsyncClient(base_url=srv.base_url) as client:

        response = await client.get("/healthz")

    assert response.headers["strict-transport-security"] == (
        "max-age=31536000; includeSubDomains")
    assert "frame-ancestors https://broker.example" in response.headers[
        "content-security-policy"]
    assert "x-frame-options" not in response.headers


async def test_cors_when_origin_allowed_answers_preflight_and_others_get_no_grant(
        tmp_path: Path) -> None:
    async with running_platform(tmp_path, cors_allow_origins=["https://app.example"],
                                market=False) as srv, \
            httpx.AsyncClient(base_url=srv.base_url) as client:
        preflight = {"Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "content-type,th-api-signature"}

        allowed = await client.options("/v1/orders", headers={
            "Origin": "https://app.example", **preflight})
        refused = await client.options("/v1/orders", headers={
            "Origin": "https://evil.example", **preflight})
        simple = await client.get("/healthz", headers={"Origin": "https://evil.example"})
        granted = await client.get("/healthz", headers={"Origin": "https://app.example"})

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "th-api-signature" in allowed.headers["access-control-allow-headers"].lower()
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert "access-control-allow-origin" not in simple.headers
    assert granted.headers["access-control-allow-origin"] == "https://app.example"
    assert_hardened(refused)


@pytest.mark.parametrize(("field", "value"), [
    ("frame_ancestors", "x; script-src *"),
    ("cors_allow_origins", "https://a.example\r\nSet-Cookie: x"),
])
def test_settings_when_origin_is_not_an_origin_are_refused(tmp_path: Path, field: str,
                                                           value: str) -> None:
    with pytest.raises(ValueError, match=f"TRADEHALL_{field.upper()}"):
        Settings(data_dir=tmp_path, **{field: [value]})  # type: ignore[arg-type]


async def test_security_headers_when_docs_page_allow_its_cdn_and_api_stays_strict(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    api = await client.get("/healthz")

    assert docs.status_code == 200
    assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]
    assert "cdn.jsdelivr.net" not in api.headers["content-security-policy"]
    assert_hardened(docs)
