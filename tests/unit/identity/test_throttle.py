"""`LoginThrottle` on the in-process counter with a test clock: free failures, doubling delays
with a cap, per-address counting, lockout and its end, forgetting after the window."""

from __future__ import annotations

import pytest

from tradehall.identity.throttle import LoginThrottle, MemoryFailureCounter, ThrottleConfig
from tradehall.kernel.clock import NANOS_PER_SECOND, TestClock
from tradehall.kernel.errors import TooManyRequests

S = NANOS_PER_SECOND


def _throttle(clock: TestClock, **config: int) -> LoginThrottle:
    return LoginThrottle(MemoryFailureCounter(), clock, ThrottleConfig(**config))


async def _retry_after(throttle: LoginThrottle, username: str, ip: str = "") -> int | None:
    try:
        await throttle.check(username, ip)
    except TooManyRequests as exc:
        return exc.retry_after_s if exc.code == "login_throttled" else -1
    return None


async def test_check_when_failures_within_free_lets_attempts_through() -> None:
    clock = TestClock(1_000 * S)
    throttle = _throttle(clock)
    for _ in range(2):
        await throttle.failed("bob", "10.0.0.1")
    assert await _retry_after(throttle, "bob", "10.0.0.1") is None


async def test_check_when_failures_pass_free_doubles_the_wait_up_to_the_cap() -> None:
    # Arrange
    clock = TestClock(1_000 * S)
    throttle = _throttle(clock, max_delay_ns=10 * S, lockout_failures=100)
    waits = []

    # Act
    for _ in range(7):
        await throttle.failed("bob", "")
        waits.append(await _retry_after(throttle, "bob"))

    # Assert
    assert waits == [None, None, 1, 2, 4, 8, 10]


async def test_check_when_wait_has_passed_lets_the_attempt_through() -> None:
    clock = TestClock(1_000 * S)
    throttle = _throttle(clock)
    for _ in range(4):
        await throttle.failed("bob", "")
    assert await _retry_after(throttle, "bob") == 2
    clock.advance(2 * S - 1)
    assert await _retry_after(throttle, "bob") == 1
    clock.advance(1)
    assert await _retry_after(throttle, "bob") is None


async def test_check_when_username_differs_only_in_case_counts_together() -> None:
    clock = TestClock(1_000 * S)
    throttle = _throttle(clock)
    for name in ("bob", "Bob", "BOB "):
        await throttle.failed(name, "")
    assert await _retry_after(throttle, "bob") == 1


async def test_check_when_address_sprays_usernames_delays_the_address() -> None:
    # Arrange
    clock = TestClock(1_000 * S)
    throttle = _throttle(clock, ip_free_failures=5)
    for i in range(5):
        await throttle.failed(f"user{i}", "10.0.0.1")

    # Act / Assert
    assert await _retry_after(throttle, "fresh", "10.0.0.1") == 1
    assert await _retry_after(throttle, "fresh", "10.0.0.2") is None


async def test_locked_until_when_lockout_reached_ends_after_lockout() -> None:
    # Arrange
    clock = TestClock(1_000 * S)
    throttle = _throttle(clock, lockout_failures=4, lockout_ns=60 * S)
    for _ in range(4):
        await throttle.failed("bob", "")

    # Act
    locked = await throttle.locked_until_ns("bob")
    delayed = await _retry_after(throttle, "bob")
    clock.advance(60 * S)
    after = await throttle.locked_until_ns("bob")

    # Assert
    assert locked == 1_060 * S
    assert delayed is None  # the lock answers instead of a delay
    assert after is None


async def test_failures_when_window_passes_are_forgotten() -> None:
    clock = TestClock(1_000 * S)
    throttle = _throttle(clock, window_ns=60 * S, lockout_ns=60 * S)
    for _ in range(3):
        await throttle.failed("bob", "")
    clock.advance(60 * S)
    assert await throttle.failed("bob", "") == 1


async def test_succeeded_when_called_clears_the_username_but_not_the_address() -> None:
    clock = TestClock(1_000 * S)
    throttle = _throttle(clock, ip_free_failures=3)
    for _ in range(3):
        await throttle.failed("bob", "10.0.0.1")
    await throttle.succeeded("bob")
    assert await _retry_after(throttle, "bob", "") is None
    assert await _retry_after(throttle, "bob", "10.0.0.1") == 1


async def test_memory_counter_when_full_evicts_the_oldest_key() -> None:
    counter = MemoryFailureCounter(capacity=2)
    for key in ("a", "b", "c"):
        await counter.add(key, 1, 100)
    assert await counter.get("a", 2) is None
    assert [await counter.get(k, 2) is not None for k in ("b", "c")] == [True, True]


def test_too_many_requests_when_retry_after_below_one_second_says_one() -> None:
    assert TooManyRequests("x", retry_after_s=0).retry_after_s == 1


@pytest.mark.parametrize(("failures", "expected_s"), [(0, 0), (2, 0), (3, 1), (5, 4), (40, 300)])
def test_delay_ns_when_failures_grow_doubles_from_the_free_count(failures: int,
                                                                  expected_s: int) -> None:
    throttle = _throttle(TestClock())
    assert throttle.delay_ns(failures, 3) == expected_s * S


async def test_begin_when_same_username_in_flight_refuses_until_end() -> None:
    # Arrange
    throttle = _throttle(TestClock(1_000 * S))
    await throttle.begin("bob", "10.0.0.1")

    # Act
    with pytest.raises(TooManyRequests) as second:
        await throttle.begin("BOB", "10.0.0.2")
    throttle.end("bob", "10.0.0.1")
    await throttle.begin("bob", "10.0.0.2")

    # Assert
    assert (second.value.code, second.value.retry_after_s) == ("login_throttled", 1)


async def test_begin_when_address_has_max_in_flight_refuses_another_username() -> None:
    throttle = _throttle(TestClock(1_000 * S), max_in_flight_per_ip=2)
    await throttle.begin("a", "10.0.0.1")
    await throttle.begin("b", "10.0.0.1")
    with pytest.raises(TooManyRequests):
        await throttle.begin("c", "10.0.0.1")
    throttle.end("a", "10.0.0.1")
    await throttle.begin("c", "10.0.0.1")
