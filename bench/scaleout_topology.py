"""A private scale-out deployment of tradehall on loopback, for the benchmarks.

Starts the processes of the scale-out topology (docs/architecture.md, "Scale-out") as
`tradehall serve --role ...` does in production, and nothing shared: a fresh PostgreSQL
database (`<prefix>_<random>` on a local server, dropped at the end), a `nats-server` with
JetStream (free port on 127.0.0.1, store in the given folder), one engine node (and optionally
a hot standby), one projector and one API process. The caller provisions the market and users
between the back end's start and the API's. Each role logs to a file in the folder; a role that
does not come up has the tail of its log in the error. `cpu_seconds` reads every process's CPU
time from /proc, PostgreSQL's backends of the database included. Binds only 127.0.0.1 and
touches no other database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
PREFIX = "BENCH"
TRADEHALL = str(Path(sys.executable).parent / "tradehall")
NATS_BINARIES = ("nats-server", "/usr/sbin/nats-server", "/usr/bin/nats-server")
START_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process used so far, all its threads; 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_backends(name: str) -> set[int]:
    """PostgreSQL's backend processes connected to database `name` (their titles name it)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
        except OSError:
            continue
        if title.startswith("postgres: ") and f" {name} " in title:
            found.add(int(entry.name))
    return found


# -- NATS and PostgreSQL --------------------------------------------------------------------------


class NatsServer:
    """A private nats-server with JetStream on a free loopback port."""

    def __init__(self, store: Path) -> None:
        binary = next((found for b in NATS_BINARIES if (found := shutil.which(b))), None)
        if binary is None:
            raise RuntimeError("nats-server is not installed (Debian package nats-server)")
        self.port = free_port()
        self.url = f"nats://{HOST}:{self.port}"
        store.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [binary, "-a", HOST, "-p", str(self.port), "-js", "-sd", str(store),
             "-l", str(store.parent / "nats.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5) as sock:
                    if sock.recv(4) == b"INFO":
                        return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("nats-server did not start") from None
                time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@contextlib.contextmanager
def nats_server(store: Path) -> Iterator[NatsServer]:
    server = NatsServer(store)
    try:
        yield server
    finally:
        server.stop()


async def _admin(server_url: str, sql: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(f"{server_url}/postgres", timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_database(server_url: str, prefix: str) -> Iterator[tuple[str, str]]:
    """Create an empty database on a PostgreSQL server; yield (name, URL); drop it after."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield name, f"{server_url}/{name}"
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# -- Role processes -------------------------------------------------------------------------------


class RoleProcess:
    """One `tradehall serve --role <role>` process; its output goes to a log file."""

    def __init__(self, role: str, name: str, folder: Path, env: dict[str, str]) -> None:
        self.role = role
        self.name = name
        self.port = free_port()
        self.log = folder / f"{name}.log"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [TRADEHALL, "serve", "--role", role, "--no-demo", "--host", HOST,
                 "--port", str(self.port), "--data-dir", str(folder / name)],
                stdout=out, stderr=subprocess.STDOUT, env={**env, "TRADEHALL_NODE_ID": name})

    @property
    def pid(self) -> int:
        return self.process.pid

    def health(self) -> tuple[int, dict[str, Any]]:
        """`/healthz`: status code and body (0 and {} while nothing answers)."""
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n"
                               f"{self.log_tail()}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.port}/healthz",
                                        timeout=2) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")
        except OSError:
            return 0, {}

    def wait_until(self, ready: Callable[[int, dict[str, Any]], bool], what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready(*self.health()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: no {what} in {START_TIMEOUT_S:g} s:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.1)

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@dataclass
class Deployment:
    """The running scale-out processes of one benchmark."""

    nats: NatsServer
    database: str
    env: dict[str, str]
    roles: list[RoleProcess] = field(default_factory=list)
    backends: set[int] = field(default_factory=set)

    def role(self, name: str) -> RoleProcess:
        return next(r for r in self.roles if r.name == name)

    @property
    def api_port(self) -> int:
        return self.role("api").port

    def processes(self) -> int:
        """How many processes the deployment runs (PostgreSQL's backends not counted)."""
        return 1 + len(self.roles)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds so far per part: each role, nats-server, PostgreSQL's backends of the
        database (every backend seen so far; one that ended counts nothing)."""
        out = {r.name: process_cpu_s(r.pid) for r in self.roles}
        out["nats"] = process_cpu_s(self.nats.pid)
        self.backends |= database_backends(self.database)
        out["postgres"] = sum(process_cpu_s(pid) for pid in self.backends)
        return out


def _start(deployment: Deployment, role: str, name: str, folder: Path) -> RoleProcess:
    process = RoleProcess(role, name, folder, deployment.env)
    deployment.roles.append(process)
    return process


@contextlib.contextmanager
def scale_out(folder: Path, *, postgres: str, standby: bool,
              provision: Callable[[dict[str, str]], Any]) -> Iterator[tuple[Deployment, Any]]:
    """Start the deployment, call `provision(env)` once the back end runs (it gets the roles'
    environment and returns what the caller needs, such as credentials), then start the API
    process; yield the deployment and what `provision` returned. Stops everything after."""
    with fresh_database(postgres, "rest_bench") as (name, url), \
            nats_server(folder / "nats-store") as nats:
        env = {**os.environ, "TRADEHALL_NATS_URL": nats.url, "TRADEHALL_NATS_PREFIX": PREFIX,
               "TRADEHALL_DATABASE_URL": url,
               # One deployment, one master key (sealed signing keys are shared in SQL).
               "TRADEHALL_MASTER_KEY_FILE": str(folder / "master-keys.json")}
        deployment = Deployment(nats=nats, database=name, env=env)
        try:
            _start(deployment, "engine", "engine", folder).wait_until(
                lambda _, body: body.get("role") == "leader", "lead")
            if standby:
                _start(deployment, "engine", "standby", folder).wait_until(
                    lambda _, body: body.get("role") == "standby", "standby role")
            _start(deployment, "projector", "projector", folder).wait_until(
                lambda status, _: status == 200, "readiness")
            provided = provision(env)
            _start(deployment, "api", "api", folder).wait_until(
                lambda status, body: status == 200 and body.get("status") == "ok",
                "readiness")
            yield deployment, provided
        finally:
            for process in reversed(deployment.roles):
                process.stop()
