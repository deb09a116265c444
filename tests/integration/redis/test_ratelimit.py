"""Redis rate limits and nonces against a real Redis on loopback (skipped outside CI when none
answers; started and required with CI=true).

Two limiters on one server stand for two API processes: they share the buckets. Each test uses
its own key prefix, so tests never see each other's buckets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from tests.kit.server import running_platform
from tests.kit.services import REDIS_HOST, REDIS_PORT, Service
from tradehall.adapters.redis.ratelimit import RedisNonceStore, RedisRateLimiter, connect
from tradehall.identity.principal import Principal
from tradehall.identity.ratelimit import RateLimitConfig, RateLimits, RateRule
from tradehall.identity.signing import sign_request
from tradehall.kernel.errors import TemporaryError, TooManyRequests
from tradehall.kernel.ids import AccountId, random_token

pytestmark = pytest.mark.redis


@pytest.fixture
async def redis(redis_server: Service) -> AsyncIterator[Redis]:
    client = Redis(host=REDIS_HOST, port=REDIS_PORT)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def prefix() -> str:
    return f"th-test-{random_token(6)}:"


async def test_redis_limiter_when_burst_spent_refuses_with_wait(redis: Redis,
                                                                prefix: str) -> None:
    limiter = RedisRateLimiter(redis, prefix)
    rule = RateRule(1, 3)

    taken = [await limiter.acquire([("key:a", rule)]) for _ in range(3)]
    refused = await limiter.acquire([("key:a", rule)])

    assert taken == [0, 0, 0]
    assert 900 <= refused <= 1000


async def test_redis_limiter_when_two_processes_share_a_bucket_counts_both(
        redis: Redis, prefix: str) -> None:
    one, two = RedisRateLimiter(redis, prefix), RedisRateLimiter(redis, prefix)
    rule = RateRule(1, 4)

    results = await asyncio.gather(*(limiter.acquire([("user:u", rule)])
                                     for limiter in (one, two) * 5))

    assert sum(1 for r in results if r == 0) == 4
    assert all(r > 0 for r in results if r != 0)


async def test_redis_limiter_when_one_bucket_empty_takes_from_none(redis: Redis,
                                                                   prefix: str) -> None:
    limiter = RedisRateLimiter(redis, prefix)
    tight, loose = RateRule(1, 1), RateRule(1, 2)
    assert await limiter.acquire([("tight", tight)]) == 0

    refused = await limiter.acquire([("loose", loose), ("tight", tight)])

    assert refused > 0
    assert [await limiter.acquire([("loose", loose)]) for _ in range(2)] == [0, 0]


async def test_redis_limiter_when_bucket_refills_expires_its_key(redis: Redis,
                                                                  prefix: str) -> None:
    limiter = RedisRateLimiter(redis, prefix)

    await limiter.acquire([("ip:1", RateRule(20, 1))])
    ttl_ms = await redis.pttl(f"{prefix}rl:ip:1")
    await asyncio.sleep(0.06)

    assert 0 < ttl_ms <= 51
    assert await redis.exists(f"{prefix}rl:ip:1") == 0
    assert await limiter.acquire([("ip:1", RateRule(20, 1))]) == 0


async def test_rate_limits_when_redis_bucket_empty_raise_429_error(redis: Redis,
                                                                   prefix: str) -> None:
    limits = RateLimits(RedisRateLimiter(redis, prefix), RateLimitConfig(
        per_ip=None, per_key=RateRule(1, 1), per_user=None))
    alice = Principal("u-1", "alice", AccountId("alice"), ("trader",), method="api_key",
                      key_id="TKA")
    await limits.check_principal(alice)

    with pytest.raises(TooManyRequests) as refused:
        await limits.check_principal(alice)

    assert refused.value.code == "rate_limited"
    assert refused.value.retry_after_s == 1


async def test_redis_nonce_store_when_nonce_seen_by_any_process_refuses_it(
        redis: Redis, prefix: str) -> None:
    one, two = RedisNonceStore(redis, prefix), RedisNonceStore(redis, prefix)

    first = await one.claim("TKA:nonce-1", 60_000)
    again = await two.claim("TKA:nonce-1", 60_000)
    other = await two.claim("TKA:nonce-2", 60_000)

    assert (first, again, other) == (True, False, True)
    assert 0 < await redis.pttl(f"{prefix}nonce:TKA:nonce-1") <= 60_000


async def test_platform_when_redis_url_set_limits_keys_and_refuses_replays(
        redis: Redis, tmp_path: Path) -> None:
    # Arrange
    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
    async with running_platform(tmp_path, redis_url=url, rate_limit_key_per_s=1,
                                rate_limit_key_burst=2) as server, \
            httpx.AsyncClient(base_url=server.base_url) as client:
        alice = await server.create_user("alice")
        signed = sign_request(alice.key.key_id, alice.key.secret, "GET", "/v1/orders")

        # Act
        first = await client.get("/v1/orders", headers=signed)
        replay = await client.get("/v1/orders", headers=signed)
        flood = [await client.get("/v1/balances", headers=alice.headers) for _ in range(2)]

    # Assert
    assert first.status_code == 200
    assert (replay.status_code, replay.json()["code"]) == (401, "replayed_request")
    assert [r.status_code for r in flood] == [200, 429]
    assert int(flood[-1].headers["retry-after"]) >= 1
    assert await redis.exists(f"th:nonce:{alice.key.key_id}:{signed['TH-API-NONCE']}") == 1


async def test_redis_parts_when_redis_does_not_answer_limits_pass_and_nonces_refuse(
        caplog: pytest.LogCaptureFixture) -> None:
    dead = connect(f"redis://{REDIS_HOST}:1/0")  # nothing listens on port 1
    try:
        limiter, nonces = RedisRateLimiter(dead), RedisNonceStore(dead)
        started = time.monotonic()

        waits = [await limiter.acquire([("ip:x", RateRule(1, 1))]) for _ in range(50)]
        with pytest.raises(TemporaryError) as refused:
            await nonces.claim("TKA:nonce", 1_000)
        with pytest.raises(TemporaryError):
            await nonces.claim("TKA:nonce", 1_000)
        elapsed = time.monotonic() - started
    finally:
        await dead.aclose()

    assert waits == [0] * 50
    assert elapsed < 3
    assert refused.value.code == "nonce_store_unavailable"
    assert sum("rate limits are off" in r.getMessage() for r in caplog.records) == 1
