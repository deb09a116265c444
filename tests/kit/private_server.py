"""A private server process for one test: its own loopback port, stopped and started at will.

Tests that take a service away (an outage, a restart) start their own server instead of the
machine's shared one, which other tests use at the same time. Subclasses give the command line
and the probe; `stop()` and `start()` keep the port (and the store, when there is one).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.kit.server import free_port
from tests.kit.services import in_ci

START_TIMEOUT_S = 15.0


class PrivateServer:
    """One server process; subclasses say how to run it and how to tell it answers."""

    name = "server"

    def __init__(self, binary: str, workdir: Path, port: int | None = None) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        raise NotImplementedError

    def answers(self) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        if self.process is not None:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(self.argv(), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code, self.process = self.process.returncode, None
                raise AssertionError(f"{self.name} exited with {code} on port {self.port}")
            if self.answers():
                return
            time.sleep(0.05)
        self.stop(kill=True)
        raise AssertionError(f"{self.name} did not answer on port {self.port}")

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


def binary_or_skip(*candidates: str, package: str) -> str:
    """The first installed binary of `candidates`; skip the test without one (fail in CI)."""
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found
    message = f"{candidates[0]} is not installed (Debian package {package})"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)
