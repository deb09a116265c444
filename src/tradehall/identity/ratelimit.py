"""Rate limits per IP address, per API key and per user: the port, GCRA in memory, the checks.

Each bucket follows GCRA (the generic cell rate algorithm, a token bucket kept as one number:
the theoretical arrival time of the next request): a rule allows `rate_per_s` requests a
second on average and `burst` at once. One call takes a token from several buckets together,
or from none when any is empty, and says how long to wait. `MemoryRateLimiter` keeps the
buckets of this process (bounded: least recently used buckets are dropped first, and a dropped
bucket is simply full again); `adapters/redis/ratelimit.py` shares them between processes.
`RateLimits` raises `TooManyRequests` (`rate_limited`, 429 with Retry-After).

Pure: no I/O library; time comes from the injected clock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

import msgspec

from tradehall.identity.principal import Principal
from tradehall.kernel.clock import NANOS_PER_SECOND, Clock
from tradehall.kernel.errors import TooManyRequests

_NANOS_PER_MS = 1_000_000


class RateRule(msgspec.Struct, frozen=True):
    """On average `rate_per_s` requests a second, `burst` at once."""

    rate_per_s: int
    burst: int

    @property
    def interval_ns(self) -> int:
        """Time one request costs."""
        return NANOS_PER_SECOND // self.rate_per_s


class RateLimitConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The rule of each kind of bucket; None switches that kind off."""

    per_ip: RateRule | None = RateRule(2000, 4000)
    per_key: RateRule | None = RateRule(200, 400)
    per_user: RateRule | None = RateRule(400, 800)


Bucket = tuple[str, RateRule]


class RateLimiter(Protocol):
    """Buckets of tokens, shared by whoever uses the same limiter."""

    async def acquire(self, buckets: Sequence[Bucket]) -> int:
        """Take a token from every bucket, or from none; return 0 or the milliseconds to wait."""
        ...


class MemoryRateLimiter:
    """GCRA buckets of this process, at most `capacity` of them."""

    def __init__(self, clock: Clock, capacity: int = 100_000) -> None:
        self._clock = clock
        self._capacity = capacity
        self._tat: OrderedDict[str, int] = OrderedDict()

    async def acquire(self, buckets: Sequence[Bucket]) -> int:
        now = self._clock.now_ns()
        tat = self._tat
        wait = 0
        new: list[int] = []
        for name, rule in buckets:
            interval = rule.interval_ns
            after = max(tat.get(name, now), now) + interval
            allow_at = after - interval * rule.burst
            if allow_at > now:
                wait = max(wait, allow_at - now)
            new.append(after)
        if wait:
            return -(-wait // _NANOS_PER_MS)
        for (name, _), after in zip(buckets, new, strict=True):
            tat[name] = after
            tat.move_to_end(name)
        while len(tat) > self._capacity:
            tat.popitem(last=False)
        return 0

    def __len__(self) -> int:
        return len(self._tat)


class RateLimits:
    """The platform's rate limits: per IP before authentication, per key and user after."""

    def __init__(self, limiter: RateLimiter, config: RateLimitConfig | None = None) -> None:
        self.limiter = limiter
        self.config = config or RateLimitConfig()

    async def check_ip(self, ip: str) -> None:
        """Count a request from an address; raise TooManyRequests when over the limit."""
        rule = self.config.per_ip
        if rule is not None and ip:
            await self._take(((f"ip:{ip}", rule),))

    async def check_principal(self, principal: Principal) -> None:
        """Count a request of a user (and of the API key it used)."""
        buckets: list[Bucket] = []
        if principal.key_id is not None and self.config.per_key is not None:
            buckets.append((f"key:{principal.key_id}", self.config.per_key))
        if self.config.per_user is not None:
            buckets.append((f"user:{principal.user_id}", self.config.per_user))
        if buckets:
            await self._take(buckets)

    async def _take(self, buckets: Sequence[Bucket]) -> None:
        wait_ms = await self.limiter.acquire(buckets)
        if wait_ms:
            raise TooManyRequests(f"too many requests; retry in {wait_ms} ms",
                                  retry_after_s=-(-wait_ms // 1000), code="rate_limited")
