"""A private NATS server with JetStream for one test: real, on loopback, killable.

Scale-out tests start their own `nats-server` (the same binary CI runs as a service) on a free
port with a store in the test's temporary folder, so they can stop and restart it (NATS
briefly unavailable) without touching the machine's shared server. Outside CI a missing binary
skips the test with its name; in CI it fails.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kit.private_server import PrivateServer, binary_or_skip


class NatsServer(PrivateServer):
    """One nats-server process with JetStream; `stop()` and `start()` keep port and store."""

    name = "nats-server"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        log = self.workdir.parent / f"nats-{self.port}.log"
        return [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd",
                str(self.workdir), "-l", str(log)]

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                return sock.recv(4) == b"INFO"
        except OSError:
            return False


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A private NATS server with JetStream for this test, stopped after it."""
    binary = binary_or_skip("nats-server", "/usr/sbin/nats-server", package="nats-server")
    server = NatsServer(binary, tmp_path / "nats-store")
    server.start()
    try:
        yield server
    finally:
        server.stop()
