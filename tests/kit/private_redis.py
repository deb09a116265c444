"""A private `redis-server` for one test: its own free loopback port, no persistence, killable.

Tests that take Redis away (an outage, a restart) use this instead of the shared server on
6379, which other tests use at the same time. `stop()` kills it; `start()` brings it back on the
same port. Outside CI a missing binary skips the test; in CI it fails.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kit.private_server import PrivateServer, binary_or_skip


class PrivateRedis(PrivateServer):
    """One redis-server process; `stop()` and `start()` keep its port."""

    name = "redis-server"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def argv(self) -> list[str]:
        return [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                "--appendonly", "no", "--dir", str(self.workdir)]

    def stop(self, *, kill: bool = True) -> None:
        """Kill the server (no shutdown save: it has none) and wait for it to be gone."""
        super().stop(kill=kill)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A started private redis-server, killed after the test."""
    server = PrivateRedis(binary_or_skip("redis-server", package="redis-server"),
                          tmp_path / "private-redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()
