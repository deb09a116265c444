"""`RedisRateLimiter` and `RedisNonceStore`: rate-limit buckets and nonces shared by processes.

The buckets are the GCRA of `identity/ratelimit.py`, run as one Lua script so that checking
and taking tokens from several buckets is atomic, with Redis's own clock (`TIME`), so API
processes on machines with skewed clocks still share one limit. A bucket's key expires once it
is full again. Nonces are `SET NX PX`: the first process to record a nonce wins. All keys
carry a prefix (default `th:`); the script touches several keys, so in Redis Cluster give them
one hash tag through the prefix.

When Redis does not answer, rate limits fail open (requests pass, logged once per outage:
refusing every request would turn a cache outage into an API outage) and nonces fail closed
(`503 nonce_store_unavailable`: accepting a request whose replay cannot be ruled out is not
an option). The client has short timeouts and one retry, and after a failure Redis is left
alone for a second, so an outage costs requests no waiting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from tradehall.identity.ratelimit import Bucket
from tradehall.kernel.errors import TemporaryError

_log = logging.getLogger(__name__)

_NANOS_PER_US = 1_000
_PAUSE_S = 1.0

# KEYS: bucket keys; ARGV: interval_us, burst per key. Returns 0, or microseconds to wait.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local wait = 0
local tats = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local after = tat + interval
  local allow_at = after - interval * burst
  if allow_at - now > wait then wait = allow_at - now end
  tats[i] = after
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  local ttl_ms = math.floor((tats[i] - now) / 1000) + 1
  redis.call('SET', key, string.format('%.0f', tats[i]), 'PX', ttl_ms)
end
return 0
"""


class _Breaker:
    """Skips Redis for a moment after it failed."""

    def __init__(self) -> None:
        self._until = 0.0

    def closed(self) -> bool:
        return time.monotonic() >= self._until

    def trip(self) -> None:
        self._until = time.monotonic() + _PAUSE_S


class RedisRateLimiter:
    """GCRA buckets in Redis, shared by every process that uses the same server and prefix."""

    def __init__(self, redis: Redis, prefix: str = "th:") -> None:
        self._redis = redis
        self._prefix = prefix + "rl:"
        self._script = redis.register_script(_GCRA)
        self._down = False
        self._breaker = _Breaker()

    async def acquire(self, buckets: Sequence[Bucket]) -> int:
        keys = [self._prefix + name for name, _ in buckets]
        args: list[int] = []
        for _, rule in buckets:
            args += [max(1, rule.interval_ns // _NANOS_PER_US), rule.burst]
        if not self._breaker.closed():
            return 0
        try:
            wait_us = int(await self._script(keys=keys, args=args))
        except RedisError as exc:
            self._breaker.trip()
            if not self._down:
                self._down = True
                _log.warning("rate limits are off while Redis does not answer: %s", exc)
            return 0
        if self._down:
            self._down = False
            _log.warning("Redis answers again: rate limits are back on")
        return -(-wait_us // 1000) if wait_us > 0 else 0


class RedisNonceStore:
    """Nonces of signed requests in Redis, so a replay to another process is caught too."""

    def __init__(self, redis: Redis, prefix: str = "th:") -> None:
        self._redis = redis
        self._prefix = prefix + "nonce:"
        self._breaker = _Breaker()

    async def claim(self, nonce: str, ttl_ms: int) -> bool:
        try:
            if not self._breaker.closed():
                raise RedisError("Redis failed a moment ago")
            return bool(await self._redis.set(self._prefix + nonce, b"1", nx=True, px=ttl_ms))
        except RedisError:
            self._breaker.trip()
            raise TemporaryError("signed requests cannot be checked for replays now; retry",
                                 code="nonce_store_unavailable") from None


def connect(url: str) -> Redis:
    """Open a client for a `redis://` URL (connections are made on first use)."""
    client: Redis = Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5,
                                   retry=Retry(NoBackoff(), 1))
    return client


class RedisClientLifetime:
    """A platform component that closes the shared Redis client when the platform stops."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def attach(self, platform: object) -> None:
        del platform

    async def start(self, platform: object) -> None:
        del platform

    async def stop(self) -> None:
        await self._redis.aclose()
