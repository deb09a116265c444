"""`LoginThrottle`: growing delays after failed logins, per username and per address, and the
temporary lockout.

Each failure is counted under the username and under the caller's IP. Past a few free failures
the next attempt must wait (1 s, then doubling, capped); an attempt made too early answers
`login_throttled` (429 with Retry-After) without checking the password, so guessing costs
time whatever the guesser does. After `lockout_failures` failures the username is locked for
`lockout_ns` (`account_locked`): for a known user `UserService` also writes the lock into the
user record (it outlives a restart, an admin can lift it); unknown usernames lock the same way,
so the answers never tell whether an account exists. Failures older than `window_ns` are
forgotten.

Attempts run concurrently, so the delays alone would let a burst of parallel guesses through
before the first failure is counted: `begin` also refuses an attempt while another one for
the same username is still being checked, or while `max_in_flight_per_ip` are running from the
same address (in this process; `end` releases them).

Counting sits behind the `FailureCounter` port: `MemoryFailureCounter` counts in this process
(bounded, oldest keys evicted), a Redis adapter can share the counts between processes.
Time comes from the injected `Clock`.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

import msgspec

from tradehall.kernel.clock import NANOS_PER_SECOND, Clock
from tradehall.kernel.errors import TooManyRequests

_MINUTE = 60 * NANOS_PER_SECOND


class ThrottleConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How many failures are free, how delays grow, when a username locks."""

    free_failures: int = 3
    """Failures of one username before the next attempt has to wait."""
    ip_free_failures: int = 20
    """Failures from one address (many users may share it) before delays start."""
    base_delay_ns: int = NANOS_PER_SECOND
    max_delay_ns: int = 5 * _MINUTE
    window_ns: int = 15 * _MINUTE
    """A key's failures are forgotten this long after its last one."""
    lockout_failures: int = 10
    lockout_ns: int = 15 * _MINUTE
    max_in_flight_per_ip: int = 8
    """Login attempts from one address checked at the same time."""


class Failures(msgspec.Struct, frozen=True):
    """Failures counted under one key, and when the last one happened."""

    count: int
    last_ns: int


class FailureCounter(Protocol):
    """Counts failures per key, forgetting a key `window_ns` after its last failure."""

    async def get(self, key: str, now_ns: int) -> Failures | None: ...

    async def add(self, key: str, now_ns: int, window_ns: int) -> Failures:
        """Count one failure and return the key's new total."""
        ...

    async def clear(self, key: str) -> None: ...


class MemoryFailureCounter:
    """Failure counts in this process, at most `capacity` keys (least recently failed evicted)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[Failures, int]] = OrderedDict()

    async def get(self, key: str, now_ns: int) -> Failures | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now_ns >= entry[1]:
            del self._entries[key]
            return None
        return entry[0]

    async def add(self, key: str, now_ns: int, window_ns: int) -> Failures:
        before = await self.get(key, now_ns)
        failures = Failures((before.count if before else 0) + 1, now_ns)
        self._entries[key] = (failures, now_ns + window_ns)
        self._entries.move_to_end(key)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
        return failures

    async def clear(self, key: str) -> None:
        self._entries.pop(key, None)


class LoginThrottle:
    """Decides whether a login attempt may proceed, and counts its failures."""

    def __init__(self, counter: FailureCounter, clock: Clock,
                 config: ThrottleConfig | None = None) -> None:
        self._counter = counter
        self._clock = clock
        self.config = config or ThrottleConfig()
        self._users_in_flight: set[str] = set()
        self._ips_in_flight: dict[str, int] = {}

    async def begin(self, username: str, ip: str) -> None:
        """Admit an attempt (`check`, and nothing else in flight for it); `end` it after."""
        await self.check(username, ip)
        user_key = _user_key(username)
        running = self._ips_in_flight.get(ip, 0) if ip else 0
        if user_key in self._users_in_flight or running >= self.config.max_in_flight_per_ip:
            raise TooManyRequests("another login attempt is being checked: retry in 1 s",
                                  retry_after_s=1, code="login_throttled")
        self._users_in_flight.add(user_key)
        if ip:
            self._ips_in_flight[ip] = running + 1

    def end(self, username: str, ip: str) -> None:
        """Release an attempt admitted by `begin`."""
        self._users_in_flight.discard(_user_key(username))
        if ip:
            left = self._ips_in_flight.get(ip, 1) - 1
            if left > 0:
                self._ips_in_flight[ip] = left
            else:
                self._ips_in_flight.pop(ip, None)

    async def check(self, username: str, ip: str) -> None:
        """Raise TooManyRequests (`login_throttled`) when this attempt comes too early.

        A username that reached the lockout is not delayed here: the lock answers instead.
        """
        now = self._clock.now_ns()
        cfg = self.config
        wait = 0
        by_user = await self._counter.get(_user_key(username), now)
        if by_user is not None and by_user.count < cfg.lockout_failures:
            wait = self._wait_ns(by_user, cfg.free_failures, now)
        if ip:
            by_ip = await self._counter.get(_ip_key(ip), now)
            if by_ip is not None:
                wait = max(wait, self._wait_ns(by_ip, cfg.ip_free_failures, now))
        if wait > 0:
            seconds = -(-wait // NANOS_PER_SECOND)
            raise TooManyRequests(f"too many failed logins: retry in {seconds} s",
                                  retry_after_s=seconds, code="login_throttled")

    async def locked_until_ns(self, username: str) -> int | None:
        """When the username's lockout ends, or None when it is not locked."""
        now = self._clock.now_ns()
        by_user = await self._counter.get(_user_key(username), now)
        if by_user is None or by_user.count < self.config.lockout_failures:
            return None
        until = by_user.last_ns + self.config.lockout_ns
        return until if until > now else None

    async def failed(self, username: str, ip: str) -> int:
        """Count a failed attempt; return the username's failures (within the window)."""
        now = self._clock.now_ns()
        window = max(self.config.window_ns, self.config.lockout_ns)
        if ip:
            await self._counter.add(_ip_key(ip), now, window)
        return (await self._counter.add(_user_key(username), now, window)).count

    async def succeeded(self, username: str) -> None:
        """Forget a username's failures after a successful login."""
        await self._counter.clear(_user_key(username))

    async def clear(self, username: str) -> None:
        """Lift a username's delays and lockout (admin unlock, password reset)."""
        await self._counter.clear(_user_key(username))

    def delay_ns(self, failures: int, free: int) -> int:
        """How long the attempt after `failures` failures must wait."""
        if failures < free:
            return 0
        cfg = self.config
        doublings = min(failures - free, 62)
        return min(cfg.base_delay_ns << doublings, cfg.max_delay_ns)

    def _wait_ns(self, failures: Failures, free: int, now_ns: int) -> int:
        return max(0, failures.last_ns + self.delay_ns(failures.count, free) - now_ns)


def _user_key(username: str) -> str:
    return "user:" + username.strip().lower()[:128]


def _ip_key(ip: str) -> str:
    return "ip:" + ip[:64]
