"""Adapters' background loops stop even when a driver call swallows the cancel (gh-86296).

Each test parks the loop in a `SwallowingCall` standing in for the driver call that awaits
through `asyncio.wait_for` (redis-py's pub/sub read, nats-py's connect, a NATS read under the
SQL projector), stops the component, and expects the stop to return well within its bound.
A stop that cancels once and awaits would wait for ever here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.kit.cancels import SwallowingCall, ends_within
from tradehall.adapters.nats.link import NatsLink
from tradehall.adapters.nats.projection import NatsProjection
from tradehall.adapters.nats.streams import Topology
from tradehall.adapters.redis.revocation import RedisRevocationNotices
from tradehall.adapters.sql import SqlDatabase
from tradehall.adapters.sql.progress import Progress
from tradehall.adapters.sql.projection import ProjectionCache
from tradehall.adapters.sql.projector import SqlProjector
from tradehall.service.messages import EventBatch

STOP_S = 2.0  # far below a hang, far above the helper's repeat of 0.1 s


def _running(name: str) -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == name and not t.done()]


class _PubSub:
    def __init__(self, get_message: SwallowingCall) -> None:
        self.get_message = get_message

    async def subscribe(self, channel: str) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class _Redis:
    def __init__(self, pubsub: _PubSub) -> None:
        self._pubsub = pubsub

    def pubsub(self) -> _PubSub:
        return self._pubsub

    async def aclose(self) -> None:
        return None


async def test_redis_notices_stop_when_the_read_swallows_the_cancel_ends_the_subscriber(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange
    get_message = SwallowingCall()
    notices = RedisRevocationNotices("redis://127.0.0.1:1/0")
    monkeypatch.setattr(notices, "_subscriber", _Redis(_PubSub(get_message)))
    monkeypatch.setattr(notices, "_publisher", _Redis(_PubSub(get_message)))
    await notices.attach(object())
    await asyncio.wait_for(get_message.parked.wait(), STOP_S)

    # Act
    assert await ends_within(notices.stop(), STOP_S)

    # Assert
    assert get_message.swallowed == 1
    assert _running("revocation-notices") == []


async def test_nats_projection_stop_when_connect_swallows_the_cancel_returns(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange: NATS is down, so `open` retries; the connect in flight swallows the cancel and
    # fails as nats-py's would, and `open` would retry for ever.
    link = NatsLink(Topology(url="nats://127.0.0.1:1"), "projector-test", retry_s=0.01)
    connect = SwallowingCall(error=OSError("connection refused"))
    monkeypatch.setattr(link, "_connect", connect)
    projection = NatsProjection(link, cast("SqlDatabase", None))
    stop = asyncio.Event()
    run = asyncio.create_task(projection.run(stop))
    await asyncio.wait_for(connect.parked.wait(), STOP_S)

    # Act
    stop.set()
    assert await ends_within(run, STOP_S)

    # Assert
    assert connect.swallowed == 1
    assert not link.connected


class _Stream:
    """A subscription that never delivers; each read goes through `read`."""

    def __init__(self, read: SwallowingCall) -> None:
        self.read = read

    async def __aiter__(self) -> AsyncIterator[EventBatch]:
        while True:
            batch = await self.read()
            if batch is not None:
                yield batch

    def close(self) -> None:
        return None


async def test_sql_projector_when_cancelled_while_its_read_swallows_the_cancel_ends() -> None:
    # Arrange: the pump reads the subscription (the events stream, in the projector role).
    read = SwallowingCall()
    engine = cast("AsyncEngine", None)  # never reached: no batch arrives
    projector = SqlProjector(engine, engine, Progress(0), ProjectionCache(), _Stream(read))
    run = asyncio.create_task(projector.run())
    await asyncio.wait_for(read.parked.wait(), STOP_S)

    # Act
    run.cancel()
    done, _ = await asyncio.wait({run}, timeout=STOP_S)

    # Assert
    assert run in done
    assert run.cancelled()
    assert read.swallowed == 1
    assert _running("projector-pump") == []
