"""`RedisFailureCounter`: the login throttle's failure counts shared by every API process.

One hash per key (`c` count, `l` last failure in ns) that expires `window_ns` after its last
failure, incremented by one Lua script so concurrent failures from several processes all
count. Keys carry a prefix (default `th:login:`). When Redis does not answer, the counts fall
back to this process's own counter (logged once per outage) rather than letting guesses
through unthrottled or refusing every login; Redis is then left alone for a second.
"""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from tradehall.identity.throttle import FailureCounter, Failures

_log = logging.getLogger(__name__)
_PAUSE_S = 1.0
_NANOS_PER_MS = 1_000_000

# KEYS: the key; ARGV: now_ns, window_ms. Returns the new count.
_ADD = """
local c = redis.call('HINCRBY', KEYS[1], 'c', 1)
redis.call('HSET', KEYS[1], 'l', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return c
"""


class RedisFailureCounter:
    """Failure counts in Redis, with an in-process fallback while Redis is unreachable."""

    def __init__(self, redis: Redis, fallback: FailureCounter, *,
                 prefix: str = "th:login:") -> None:
        self._redis = redis
        self._fallback = fallback
        self._prefix = prefix
        self._script = redis.register_script(_ADD)
        self._pause_until = 0.0
        self._down = False

    async def get(self, key: str, now_ns: int) -> Failures | None:
        if self._paused():
            return await self._fallback.get(key, now_ns)
        try:
            count, last = await self._redis.hmget(self._prefix + key, ["c", "l"])
        except RedisError:
            self._trip()
            return await self._fallback.get(key, now_ns)
        self._up()
        if count is None or last is None:
            return None
        return Failures(int(count), int(last))

    async def add(self, key: str, now_ns: int, window_ns: int) -> Failures:
        if self._paused():
            return await self._fallback.add(key, now_ns, window_ns)
        try:
            count = await self._script(keys=[self._prefix + key],
                                       args=[now_ns, max(1, window_ns // _NANOS_PER_MS)])
        except RedisError:
            self._trip()
            return await self._fallback.add(key, now_ns, window_ns)
        self._up()
        return Failures(int(count), now_ns)

    async def clear(self, key: str) -> None:
        await self._fallback.clear(key)
        if self._paused():
            return
        try:
            await self._redis.delete(self._prefix + key)
        except RedisError:
            self._trip()

    def _paused(self) -> bool:
        return time.monotonic() < self._pause_until

    def _trip(self) -> None:
        self._pause_until = time.monotonic() + _PAUSE_S
        if not self._down:
            self._down = True
            _log.warning("Redis does not answer: login failures are counted in this process")

    def _up(self) -> None:
        if self._down:
            self._down = False
            _log.warning("Redis answers again: login failures are shared again")
