"""The login throttle's Redis counter against a real Redis on loopback (skipped outside CI when
none answers): two throttles on one server stand for two API processes and share the counts;
an unreachable Redis falls back to counting in process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from tests.kit.server import free_port, running_platform
from tests.kit.services import REDIS_HOST, REDIS_PORT, Service
from tradehall.adapters.redis.ratelimit import connect
from tradehall.adapters.redis.throttle import RedisFailureCounter
from tradehall.identity.throttle import LoginThrottle, MemoryFailureCounter, ThrottleConfig
from tradehall.kernel.clock import NANOS_PER_SECOND, TestClock
from tradehall.kernel.errors import TooManyRequests
from tradehall.kernel.ids import random_token

pytestmark = pytest.mark.redis
S = NANOS_PER_SECOND


@pytest.fixture
async def redis(redis_server: Service) -> AsyncIterator[Redis]:
    client = Redis(host=REDIS_HOST, port=REDIS_PORT)
    try:
        yield client
    finally:
        await client.aclose()


def _counter(redis: Redis, prefix: str) -> RedisFailureCounter:
    return RedisFailureCounter(redis, MemoryFailureCounter(), prefix=prefix)


async def test_counts_when_two_processes_fail_are_shared(redis: Redis) -> None:
    # Arrange
    prefix = f"test:{random_token(6)}:"
    clock = TestClock(1_000 * S)
    first = LoginThrottle(_counter(redis, prefix), clock, ThrottleConfig())
    second = LoginThrottle(_counter(redis, prefix), clock, ThrottleConfig())

    # Act
    await first.failed("bob", "10.0.0.1")
    await second.failed("bob", "10.0.0.2")
    counted = await first.failed("bob", "10.0.0.3")

    # Assert
    assert counted == 3
    with pytest.raises(TooManyRequests) as raised:
        await second.check("bob", "")
    assert raised.value.retry_after_s == 1


async def test_clear_when_called_forgets_the_key_and_key_expires_after_window(
        redis: Redis) -> None:
    # Arrange
    prefix = f"test:{random_token(6)}:"
    counter = _counter(redis, prefix)
    await counter.add("user:bob", 5, 60 * S)
    await counter.add("user:eve", 5, 60 * S)

    # Act
    await counter.clear("user:bob")

    # Assert
    assert await counter.get("user:bob", 6) is None
    got = await counter.get("user:eve", 6)
    assert got is not None
    assert (got.count, got.last_ns) == (1, 5)
    ttl_ms = await redis.pttl(prefix + "user:eve")
    assert 0 < ttl_ms <= 60_000


async def test_counts_when_redis_unreachable_fall_back_to_this_process() -> None:
    # Arrange: nothing listens on this loopback port
    client = connect(f"redis://127.0.0.1:{free_port()}/0")
    counter = RedisFailureCounter(client, MemoryFailureCounter())
    try:
        # Act
        first = await counter.add("user:bob", 1, 60 * S)
        second = await counter.add("user:bob", 2, 60 * S)
        seen = await counter.get("user:bob", 3)
    finally:
        await client.aclose()

    # Assert
    assert (first.count, second.count) == (1, 2)
    assert seen is not None
    assert seen.count == 2


async def test_platform_when_redis_url_set_throttles_logins_through_redis(
        redis: Redis, tmp_path: Path) -> None:
    # Arrange
    name = f"u{random_token(6).lower().replace('-', 'x').replace('_', 'x')}"
    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
    async with running_platform(tmp_path, market=False, redis_url=url) as srv, \
            httpx.AsyncClient(base_url=srv.base_url, timeout=60) as client:
        await srv.create_user(name, deposits={})
        body = {"username": name, "password": "not the password"}

        # Act
        answers = [await client.post("/v1/auth/login", json=body) for _ in range(4)]

    # Assert
    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert await redis.hget(f"th:login:user:{name}", "c") == b"3"
    await redis.delete(f"th:login:user:{name}", "th:login:ip:127.0.0.1")
