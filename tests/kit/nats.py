"""A private NATS server with JetStream for one test: real, on loopback, killable.

Scale-out tests start their own `nats-server` (the same binary CI runs as a service) on a free
port with a store in the test's temporary folder, so they can stop and restart it (NATS
briefly unavailable) without touching the machine's shared server. Outside CI a missing binary
skips the test with its name; in CI it fails.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kit.services import in_ci

NATS_BINARIES = ("nats-server", "/usr/sbin/nats-server", "/usr/bin/nats-server")
START_TIMEOUT_S = 15.0


def nats_binary() -> str | None:
    for candidate in NATS_BINARIES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NatsServer:
    """One nats-server process with JetStream; `stop()` and `start()` keep port and store."""

    def __init__(self, binary: str, store: Path, port: int | None = None) -> None:
        self.binary = binary
        self.store = store
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self.process is not None:
            return
        self.store.mkdir(parents=True, exist_ok=True)
        log = self.store.parent / f"nats-{self.port}.log"
        self.process = subprocess.Popen(
            [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd",
             str(self.store), "-l", str(log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}; "
                                   f"see {log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    if sock.recv(4) == b"INFO":
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nats-server did not answer on port {self.port}")

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process = None


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A private NATS server with JetStream for this test, stopped after it."""
    binary = nats_binary()
    if binary is None:
        if in_ci():
            pytest.fail("nats-server is not installed (Debian package nats-server)")
        pytest.skip("nats-server is not installed (Debian package nats-server)")
    server = NatsServer(binary, tmp_path / "nats-store")
    server.start()
    try:
        yield server
    finally:
        server.stop()
