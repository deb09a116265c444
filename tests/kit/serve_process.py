"""`tradehall serve` and the other CLI commands as real processes, for the end-to-end tests.

`ServeProcess` starts the installed `tradehall serve` on a free loopback port with a data
directory, waits for `/healthz`, and stops it with a signal, reporting the exit status. Output
goes to files (never a pipe that could fill up and block the server). `tradehall(...)` runs one
CLI command and returns the completed process.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.kit.server import free_port

TRADEHALL = str(Path(sys.executable).parent / "tradehall")


def tradehall(*args: str, timeout: float = 120,
              input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run one `tradehall` command to its end and return it (output captured as text)."""
    return subprocess.run([TRADEHALL, *args], capture_output=True, text=True, check=False,
                          timeout=timeout, input=input_text)


class ServeProcess:
    """One `tradehall serve` process on a data directory."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.extra = extra
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"{data_dir.name}-serve-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> ServeProcess:
        """Start the process and wait until `/healthz` answers 200."""
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [TRADEHALL, "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--data-dir", str(self.data_dir), *self.extra],
                stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"tradehall serve exited with {self.process.returncode}:"
                                     f"\n{self.output()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        raise AssertionError(f"tradehall serve was not healthy in {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20) -> int:
        """Send a signal and return the exit status (the process must end within `timeout`)."""
        assert self.process is not None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"tradehall serve did not stop in {timeout} s:\n"
                                 f"{self.output()}") from None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def credentials(self) -> list[dict[str, Any]]:
        """The demo credentials file of the data directory."""
        entries: list[dict[str, Any]] = json.loads(
            (self.data_dir / "demo-credentials.json").read_text())
        return entries

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()


def key_headers(entry: dict[str, Any]) -> dict[str, str]:
    """Alpaca key headers of a demo credentials entry."""
    return {"APCA-API-KEY-ID": entry["api_key_id"],
            "APCA-API-SECRET-KEY": entry["api_secret_key"]}
