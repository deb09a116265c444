"""`RedisRevocationNotices` against a real Redis on loopback: notices reach the other processes
of the same prefix once and no other prefix; a Redis that goes away and comes back is
resubscribed with a full re-read (resync); while it is away, publishing still reaches this
process and never raises. Outages use a private redis-server, never the shared one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests.kit.private_redis import PrivateRedis
from tests.kit.private_redis import private_redis as private_redis
from tests.kit.server import free_port
from tests.kit.services import REDIS_HOST, REDIS_PORT, Service
from tradehall.adapters.redis.revocation import RedisRevocationNotices
from tradehall.identity.revocation import Revocation
from tradehall.kernel.ids import random_token

pytestmark = pytest.mark.redis
SHARED_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
FAST: dict[str, Any] = {"backoff_min_s": 0.05, "backoff_max_s": 0.2, "ping_s": 0.5}


class Recorder:
    """A listener that remembers what it was told."""

    def __init__(self) -> None:
        self.notices: list[Revocation] = []
        self.resyncs = 0

    def revoked(self, notice: Revocation) -> None:
        self.notices.append(notice)

    async def resync(self) -> None:
        self.resyncs += 1


def _prefix() -> str:
    return f"test:{random_token(6)}:"


async def _eventually(condition: Any, timeout_s: float = 3.0) -> None:
    for _ in range(int(timeout_s * 100)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not within the time allowed")


@asynccontextmanager
async def _process(url: str, prefix: str, *,
                   wait: bool = True) -> AsyncIterator[tuple[RedisRevocationNotices, Recorder]]:
    notices = RedisRevocationNotices(url, prefix=prefix, **FAST)
    recorder = Recorder()
    notices.subscribe(recorder)
    await notices.attach(None)
    try:
        if wait:
            await asyncio.wait_for(notices.subscribed.wait(), 5)
        yield notices, recorder
    finally:
        await notices.stop()


async def test_publish_when_processes_share_a_prefix_reaches_each_once_and_no_other_prefix(
        redis_server: Service) -> None:
    # Arrange
    prefix = _prefix()
    notice = Revocation(kind="session", subject="s-1", ts_ns=5)
    async with _process(SHARED_URL, prefix) as (first, first_seen), \
            _process(SHARED_URL, prefix) as (_, second_seen), \
            _process(SHARED_URL, _prefix()) as (_, other_seen):
        # Act
        await first.publish(notice)
        delivered_here_at_once = list(first_seen.notices)
        await _eventually(lambda: second_seen.notices)
        await asyncio.sleep(0.2)  # room for an echo or a leak to show up

    # Assert
    assert delivered_here_at_once == [notice]
    assert first_seen.notices == [notice]  # its own notice is not delivered a second time
    assert second_seen.notices == [notice]
    assert other_seen.notices == []
    assert first.channel == prefix + "revocations"


async def test_subscriber_when_redis_restarts_resyncs_then_receives_again(
        private_redis: PrivateRedis) -> None:
    # Arrange
    prefix = _prefix()
    async with _process(private_redis.url, prefix) as (first, first_seen), \
            _process(private_redis.url, prefix) as (second, second_seen):
        await _eventually(lambda: second_seen.resyncs == 1)  # the first subscription re-reads too

        # Act: Redis goes away, a revocation happens meanwhile, Redis comes back
        private_redis.stop()
        await _eventually(lambda: not second.subscribed.is_set())
        lost = Revocation(kind="api_key", subject="TKLOST", ts_ns=1)
        await first.publish(lost)
        private_redis.start()
        await asyncio.wait_for(second.subscribed.wait(), 5)
        await asyncio.wait_for(first.subscribed.wait(), 5)
        after = Revocation(kind="api_key", subject="TKAFTER", ts_ns=2)
        await first.publish(after)
        await _eventually(lambda: after in second_seen.notices)

    # Assert
    assert first_seen.notices == [lost, after]  # local delivery never needed Redis
    assert second_seen.notices == [after]  # the lost one is what the resync re-reads
    assert second_seen.resyncs == 2
    assert second.resyncs == 2


async def test_publish_when_redis_unreachable_delivers_here_without_raising_or_waiting() -> None:
    # Arrange: nothing listens on this loopback port
    url = f"redis://127.0.0.1:{free_port()}/0"
    async with _process(url, _prefix(), wait=False) as (notices, seen):
        loop = asyncio.get_running_loop()
        notice = Revocation(kind="user", subject="u-1", ts_ns=3)

        # Act
        started = loop.time()
        await notices.publish(notice)
        await notices.publish(notice)
        took = loop.time() - started

        # Assert
        assert seen.notices == [notice, notice]
        assert not notices.subscribed.is_set()
        assert took < 1.5
