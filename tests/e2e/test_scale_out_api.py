"""The scale-out API end to end: `tradehall serve --role engine` and `--role projector` as real
processes on a private NATS and PostgreSQL, API processes (role api and ws-gateway) on
loopback. Orders go through the JetStream journal and read back through the projections;
with NATS stopped the API answers 503 `engine_unavailable` with Retry-After and recovers by
itself once NATS is back; a gateway started late shows the whole books at once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.kit import nats as nats_kit
from tests.kit import services
from tests.kit.nats import NatsServer
from tests.kit.server import RunningServer, TestUser, free_port, running_platform

pytestmark = [pytest.mark.nats, pytest.mark.postgres, pytest.mark.slow]
nats_server = nats_kit.nats_server
postgres_server = services.postgres_server
postgres_database = services.postgres_database
TRADEHALL = str(Path(sys.executable).parent / "tradehall")
PREFIX = "TE"
LEASE_S = 1.0
# Covers the engine node's own recovery after a NATS restart (its ordered consumers come back
# after two missed heartbeats), so the first order after the restart is answered, not 504.
RESULT_TIMEOUT_S = 40.0


class RoleProcess:
    """`tradehall serve --role <role>` with the deployment's settings in its environment."""

    def __init__(self, role: str, tmp_path: Path, env: dict[str, str]) -> None:
        self.role = role
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"{role}-{self.port}.log"
        self.data_dir = tmp_path / role
        self.env = {**os.environ, **env}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RoleProcess:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [TRADEHALL, "serve", "--role", self.role, "--host", "127.0.0.1",
                 "--port", str(self.port), "--data-dir", str(self.data_dir)],
                stdout=out, stderr=subprocess.STDOUT, env=self.env)
        return self

    async def health(self) -> dict[str, Any]:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"{self.role} exited with {self.process.returncode}:\n"
                                 f"{self.log.read_text(errors='replace')}")
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                response = await client.get(f"{self.url}/healthz")
        except httpx.TransportError:
            return {}
        body: dict[str, Any] = response.json()
        return body

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


async def until(check: Any, timeout_s: float = 30.0, what: str = "condition") -> Any:
    """Await `check()` until it returns something truthy; fail after the timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@contextmanager
def backend(tmp_path: Path, nats_url: str, database_url: str) -> Iterator[list[RoleProcess]]:
    """An engine node and a projector as processes of one deployment."""
    env = {"TRADEHALL_NATS_URL": nats_url, "TRADEHALL_NATS_PREFIX": PREFIX,
           "TRADEHALL_DATABASE_URL": database_url, "TRADEHALL_ENGINE_LEASE_S": str(LEASE_S),
           "TRADEHALL_NODE_ID": "engine-1"}
    processes = [RoleProcess("engine", tmp_path, env), RoleProcess("projector", tmp_path, env)]
    try:
        for process in processes:
            process.start()
        yield processes
    finally:
        for process in processes:
            process.close()


@asynccontextmanager
async def api(data_dir: Path, role: str, nats_url: str, database_url: str,
              market: bool) -> AsyncIterator[RunningServer]:
    async with running_platform(data_dir, database_url=database_url, market=market, role=role,
                                nats_url=nats_url, nats_prefix=PREFIX, engine_lease_s=LEASE_S,
                                result_timeout_s=RESULT_TIMEOUT_S) as server:
        yield server


async def place(client: httpx.AsyncClient, user: TestUser, **body: Any) -> httpx.Response:
    order: dict[str, Any] = {"symbol": "BTC-USD", "side": "buy", "qty": "0.5",
                             "price": "100.00"}
    order.update(body)
    return await client.post("/v1/orders", json=order, headers=user.headers)


async def test_scale_out_api_when_nats_stops_answers_503_and_recovers_by_itself(
        nats_server: NatsServer, postgres_database: str, tmp_path: Path) -> None:
    with backend(tmp_path, nats_server.url, postgres_database) as (engine, projector):
        # Arrange: the engine leads, an API process with the test market and two users
        await until(lambda: _role_is(engine, "leader"), what="the engine's lead")
        async with api(tmp_path / "api", "api", nats_server.url, postgres_database,
                       market=True) as server:
            alice = await server.create_user("alice")
            bob = await server.create_user("bob")
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
                # Act 1: orders through the journal, read back through the projections
                resting = await place(client, alice, side="sell", qty="0.3", price="100.25",
                                      client_order_id="a-1")
                crossing = await place(client, bob, side="buy", qty="0.5", price="100.30")
                fetched = await client.get(f"/v1/orders/{crossing.json()['order']['id']}",
                                           headers=bob.headers)

                # Act 2: NATS goes away
                nats_server.stop()
                await until(lambda: _status(client, "/healthz", 503), what="healthz 503")
                refused = await place(client, alice, client_order_id="a-2")

                # Act 3: NATS comes back (same store); nothing is restarted by hand
                nats_server.start()
                await until(lambda: _status(client, "/healthz", 200), 60, "healthz 200")
                again = await place(client, alice, client_order_id="a-2")
                book = (await client.get("/v1/markets/BTC-USD/book")).json()

            # Act 4: a gateway that starts now shows the books at once, then follows them
            async with api(tmp_path / "api", "ws-gateway", nats_server.url, postgres_database,
                           market=False) as gateway, httpx.AsyncClient(
                               base_url=gateway.base_url) as late:
                late_book = (await late.get("/v1/markets/BTC-USD/book")).json()
                late_health = (await late.get("/healthz")).json()
                async with connect(f"{gateway.ws_url}/v1/ws") as ws, httpx.AsyncClient(
                        base_url=server.base_url, timeout=30) as client:
                    await ws.send(json.dumps({"type": "subscribe", "id": 1,
                                              "channels": ["book.BTC-USD"]}))
                    snapshot = await _recv_type(ws, "book_snapshot")
                    await place(client, alice, price="99.00", client_order_id="a-3")
                    delta = await _recv_type(ws, "book_delta")
                    # Another process projects a-3; the gateway's probe shows it.
                    await until(lambda: _projected_up_to_engine(late), what="projected_seq")
        assert engine.stop() == 0
        assert projector.stop() == 0

    # Assert
    assert resting.status_code == 201, resting.text
    assert crossing.status_code == 201, crossing.text
    assert crossing.json()["order"]["status"] == "partially_filled"
    assert fetched.status_code == 200
    assert fetched.json()["filled_qty"] == "0.3000"
    assert refused.status_code == 503
    assert refused.json()["code"] == "engine_unavailable"
    assert int(refused.headers["Retry-After"]) >= 1
    assert again.status_code == 201, again.text
    assert again.json()["order"]["client_order_id"] == "a-2"
    assert book["bids"] == [["100.30", "0.2000", 1], ["100.00", "0.5000", 1]]
    assert (late_book["bids"], late_book["asks"]) == (book["bids"], book["asks"])
    assert late_health["role"] == "ws-gateway"
    assert late_health["status"] == "ok"
    assert (snapshot["bids"], snapshot["asks"]) == (book["bids"], book["asks"])
    assert delta["prev_seq"] == snapshot["seq"]
    assert delta["bids"] == [["99.00", "0.5000", 1]]


async def _recv_type(ws: ClientConnection, kind: str, wait_s: float = 10.0) -> dict[str, Any]:
    """The next WebSocket message of a type (heartbeats and others skipped)."""
    async with asyncio.timeout(wait_s):
        while True:
            message: dict[str, Any] = json.loads(await ws.recv())
            if message["type"] == kind:
                return message


async def _role_is(process: RoleProcess, role: str) -> bool:
    return (await process.health()).get("role") == role


async def _projected_up_to_engine(client: httpx.AsyncClient) -> bool:
    body = (await client.get("/healthz")).json()
    return bool(body["projected_seq"] >= body["engine_seq"] > 0)


async def _status(client: httpx.AsyncClient, path: str, status: int) -> bool:
    return (await client.get(path)).status_code == status


def test_serve_when_a_scale_out_role_is_asked_for_the_demo_refuses() -> None:
    done = subprocess.run([TRADEHALL, "serve", "--role", "api", "--demo"], capture_output=True,
                          text=True, check=False, timeout=60)
    unknown = subprocess.run([TRADEHALL, "serve", "--role", "everything"], capture_output=True,
                             text=True, check=False, timeout=60)

    assert done.returncode == 2
    assert "demo market runs only in the platform role" in done.stderr
    assert unknown.returncode == 2
