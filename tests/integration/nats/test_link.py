"""The NATS link stays bounded against a server that hangs: its close gives up, its pings notice."""

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


async def test_link_when_the_server_hangs_notices_within_its_pings_and_reconnects(
        nats_server: NatsServer) -> None:
    # Arrange: a link through a proxy, pinging every second.
    proxy = TcpProxy("127.0.0.1", nats_server.port)
    await proxy.start()
    link = NatsLink(Topology(url=f"nats://127.0.0.1:{proxy.port}", prefix="TH", lease_s=3.0),
                    "hang-test", close_timeout_s=1.0, ping_interval_s=1)
    await asyncio.wait_for(link.open(), 15)
    try:
        # Act: the connection hangs (open, nothing answered); new connections still work.
        await proxy.stall()
        started = time.monotonic()
        while link.reconnects == 0 and time.monotonic() - started < 30:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        took = time.monotonic() - started

        # Assert: noticed after about three pings (nats-py's default takes minutes) and
        # replaced by itself with a new connection that answers.
        assert link.reconnects == 1
        assert took < 10
        assert link.connected
        await link.client.flush(timeout=5)
    finally:
        await link.close()
        await proxy.cut()
