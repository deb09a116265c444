"""The NATS link's close is bounded: a frozen server cannot hold a process's stop."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from tests.kit import nats as nats_kit
from tests.kit.nats import NatsServer
from tests.kit.netproxy import TcpProxy
from tradehall.adapters.nats.link import NatsLink
from tradehall.adapters.nats.streams import Topology

pytestmark = pytest.mark.nats
nats_server = nats_kit.nats_server


async def test_close_when_the_server_stops_reading_gives_up_after_its_timeout(
        nats_server: NatsServer, caplog: pytest.LogCaptureFixture) -> None:
    # Arrange: a link through a proxy; the proxy then freezes (connection open, nothing read)
    # and the client has more to send than the socket buffers hold.
    proxy = TcpProxy("127.0.0.1", nats_server.port)
    await proxy.start()
    link = NatsLink(Topology(url=f"nats://127.0.0.1:{proxy.port}", prefix="TL", lease_s=3.0),
                    "link-test", close_timeout_s=1.0)
    await asyncio.wait_for(link.open(), 15)
    await proxy.stall()

    async def flood() -> None:
        # Until the client's own buffers are full: then a publish waits, like the close.
        for _ in range(256):
            await link.client.publish("TL.junk", b"x" * 512 * 1024)

    # nats-py does not give up a stuck publish when cancelled either: leave it behind.
    flooding = asyncio.ensure_future(flood())
    await asyncio.wait({flooding}, timeout=3)
    assert not flooding.done()

    # Act
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(link.close(), 30)
    took = time.monotonic() - started

    # Assert: the close returned at its bound, said so, and the link is closed.
    assert took < 10
    assert not link.connected
    assert any("connection is abandoned" in r.getMessage() for r in caplog.records)
    flooding.cancel()
    await proxy.cut()
