"""Real services for tests: check that PostgreSQL or Redis answers, start it in CI, or skip.

Outside CI a test that needs a missing service is skipped with a message naming it; with
`CI=true` nothing may skip: the service is started with its command and the test fails if it
still does not answer. `Service` describes one server (how to probe it, how to start it), so
RabbitMQ or others are one more entry. PostgreSQL tests get a fresh database of their own,
dropped afterwards, so they never see each other's rows. Talks only to loopback.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

POSTGRES_URL = os.environ.get("TRADEHALL_TEST_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
START_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Service:
    """A server tests may need: a probe that says it answers, and how CI starts it."""

    name: str
    address: str
    probe: Callable[[], bool]
    start_command: str

    def answers(self) -> bool:
        try:
            return self.probe()
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require(service: Service) -> None:
    """Return if the service answers; in CI start it first; elsewhere skip the test."""
    if service.answers():
        return
    if not in_ci():
        pytest.skip(f"{service.name} does not answer on {service.address} "
                    f"(start it, or run with CI=true to have the tests start it)")
    subprocess.run(service.start_command, shell=True, check=False, capture_output=True,
                   timeout=START_TIMEOUT_S)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if service.answers():
            return
        time.sleep(0.2)
    pytest.fail(f"{service.name} does not answer on {service.address} and could not be "
                f"started with: {service.start_command}")


# -- Probes -------------------------------------------------------------------------------------


def _run_coroutine(factory: Callable[[], Coroutine[Any, Any, bool]]) -> bool:
    """Run a coroutine to completion on a private loop in a thread (callers may own a loop)."""
    box: list[bool] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            box.append(asyncio.run(factory()))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(10.0)
    if errors:
        raise errors[0]
    return bool(box and box[0])


def _postgres_answers() -> bool:
    async def probe() -> bool:
        conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL, "postgres"), timeout=3)
        try:
            return bool(await conn.fetchval("SELECT 1") == 1)
        finally:
            await conn.close()
    return _run_coroutine(probe)


def _redis_answers() -> bool:
    with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


POSTGRES = Service(
    name="PostgreSQL", address="127.0.0.1:5432", probe=_postgres_answers,
    start_command="pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")
REDIS = Service(
    name="Redis", address=f"{REDIS_HOST}:{REDIS_PORT}", probe=_redis_answers,
    start_command=("redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 "
                   '--save "" --appendonly no --dir /var/lib/redis '
                   "--logfile /var/log/redis/ci.log"))


# -- PostgreSQL databases -----------------------------------------------------------------------


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    """The URL without a SQLAlchemy driver suffix, optionally naming another database."""
    scheme, rest = url.split("://", 1)
    base = "postgresql://" + rest if scheme.startswith("postgres") else url
    if database is not None:
        base = base.rsplit("/", 1)[0] + "/" + database
    return base


def postgres_url(database: str | None = None) -> str:
    """The URL of the test server (its `test` database unless another is named)."""
    return _asyncpg_dsn(POSTGRES_URL, database)


@asynccontextmanager
async def fresh_postgres_database(prefix: str = "tradehall_test") -> AsyncIterator[str]:
    """Create an empty database on the test server; yield its URL; drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_url("postgres"), timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield postgres_url(name)
    finally:
        admin = await asyncpg.connect(postgres_url("postgres"), timeout=5)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(scope="session")
def postgres_server() -> Service:
    """The PostgreSQL test server, started in CI, or the test skipped elsewhere."""
    require(POSTGRES)
    return POSTGRES


@pytest.fixture
async def postgres_database(postgres_server: Service) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped after it)."""
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_server() -> Service:
    """The Redis test server, started in CI, or the test skipped elsewhere."""
    require(REDIS)
    return REDIS
