"""The projector role on PostgreSQL over a real NATS and engine node: `tradehall serve --role
projector` killed (SIGKILL) while commands flow catches up after a restart without writing
anything twice, its read models equal a database rebuilt from the events stream row for row,
and its balances equal the engine's. It answers its probes and metrics meanwhile."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.nats.stream_kit import eventually, topology
from tests.integration.sql.feed import random_commands, setup_commands
from tests.integration.sql.tables_dump import dump
from tests.kit import nats as nats_kit
from tests.kit import services
from tests.kit.factories import ALICE, BOB, CAROL
from tests.kit.nats import NatsServer
from tests.kit.server import free_port
from tests.kit.services import fresh_postgres_database
from tradehall.adapters.nats.engine_port import NatsEnginePort
from tradehall.adapters.nats.events import EventReader
from tradehall.adapters.nats.link import NatsLink
from tradehall.adapters.nats.projection import NatsProjection
from tradehall.adapters.sql import SqlDatabase
from tradehall.engine import queries
from tradehall.entrypoints.workers.engine_node import EngineNode, EngineNodeConfig
from tradehall.trading import commands as c
from tradehall.trading import events as e

pytestmark = [pytest.mark.nats, pytest.mark.postgres]
nats_server = nats_kit.nats_server
postgres_server = services.postgres_server
postgres_database = services.postgres_database
TRADEHALL = str(Path(sys.executable).parent / "tradehall")
PREFIX = "TP"
ACCOUNTS = (ALICE, BOB, CAROL)


class ProjectorProcess:
    """`tradehall serve --role projector` on a free port, configured by environment."""

    def __init__(self, tmp_path: Path, nats_url: str, database_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"projector-{self.port}.log"
        self.env = {**os.environ, "TRADEHALL_NATS_URL": nats_url,
                    "TRADEHALL_NATS_PREFIX": PREFIX, "TRADEHALL_DATABASE_URL": database_url}
        self.data_dir = tmp_path / "projector"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [TRADEHALL, "serve", "--role", "projector", "--host", "127.0.0.1",
                 "--port", str(self.port), "--data-dir", str(self.data_dir)],
                stdout=out, stderr=subprocess.STDOUT, env=self.env)

    async def state(self, path: str = "/readyz") -> tuple[int, dict[str, Any]]:
        """Status and body of a probe; (0, {}) while the port does not answer."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the projector exited with {self.process.returncode}:\n"
                                 f"{self.log.read_text(errors='replace')}")
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                response = await client.get(self.url + path)
        except httpx.TransportError:
            return 0, {}
        body: dict[str, Any] = response.json() if path != "/metrics" else {
            "text": response.text}
        return response.status_code, body

    async def projected(self) -> int:
        status, body = await self.state()
        return int(body.get("projected_seq", -1)) if status else -1

    async def wait_projected(self, seq: int, timeout_s: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while await self.projected() < seq:
            if loop.time() > deadline:
                raise AssertionError(f"the projector did not reach seq {seq}:\n"
                                     f"{self.log.read_text(errors='replace')}")
            await asyncio.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(20)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@asynccontextmanager
async def engine(server: NatsServer) -> AsyncIterator[tuple[EngineNode, NatsEnginePort]]:
    """A leading engine node and a port that stores commands (no results awaited)."""
    topo = topology(server, PREFIX)
    node = EngineNode(EngineNodeConfig(topology=topo, node_id="e1", book_depth=10))
    stop = asyncio.Event()
    task = asyncio.create_task(node.run(stop))
    link = NatsLink(topo, "feeder")
    port = NatsEnginePort(link)
    await port.start()
    try:
        await eventually(port.is_ready, what="the engine lease")
        yield node, port
    finally:
        await port.stop()
        await link.close()
        stop.set()
        await asyncio.wait_for(task, 15)


async def store_all(node: EngineNode, port: NatsEnginePort,
                    commands: Sequence[c.EngineCommand]) -> int:
    """Store commands in order and wait until the engine published their events."""
    seq = 0
    for command in commands:
        seq = await port.store(command)
    await eventually(lambda: node.published_seq >= seq, 60, "the engine's events")
    return seq


async def test_projector_when_killed_and_restarted_catches_up_and_equals_a_rebuild(
        nats_server: NatsServer, postgres_database: str, tmp_path: Path) -> None:
    async with engine(nats_server) as (node, port):
        projector = ProjectorProcess(tmp_path, nats_server.url, postgres_database)
        try:
            # Arrange: a projector that has projected the set-up and a first session
            first = await store_all(node, port, [cmd for _, cmd in setup_commands(ACCOUNTS)]
                                    + random_commands(11, 400, ACCOUNTS))
            projector.start()
            await projector.wait_projected(first)

            # Act: SIGKILL it while a second session flows, a third arrives while it is down
            session = random_commands(12, 3_000, ACCOUNTS)
            storing = asyncio.create_task(store_all(node, port, session))
            await eventually(lambda: node.published_seq > first + 200, 60, "more events")
            at_kill = await projector.projected()
            projector.kill()
            second = await storing
            third = await store_all(node, port, random_commands(13, 400, ACCOUNTS))
            projector.start()
            await projector.wait_projected(third)
            status, body = await projector.state()
            metrics = (await projector.state("/metrics"))[1]["text"]
            assert projector.stop() == 0
        finally:
            projector.close()
        balances = {account: queries.balances(node.engine, account) for account in ACCOUNTS}

    # Assert: probes, and every command projected once
    assert first <= at_kill < second  # killed with commands still to project
    assert status == 200
    assert body["lag"] == 0
    assert f"tradehall_projector_projected_seq {float(third)}" in metrics
    assert "# TYPE tradehall_loss_shortfall_uncovered_minor_units_total counter" in metrics
    live = await SqlDatabase.open(postgres_database)
    try:
        assert live.projected_seq == third
        for account, expected in balances.items():
            rows = {(b.asset, b.available, b.held) for b in await live.read_model.balances(account)}
            assert rows == {(b.asset, b.available, b.held) for b in expected}
        live_rows = await dump(live)
    finally:
        await live.close()
    trades = await _count_trades(nats_server, third)
    assert len(live_rows["fills"]) == 2 * trades > 0

    # ... and a read model rebuilt from the whole stream equals it row for row
    async with fresh_postgres_database() as rebuilt_url:
        rebuilt = await SqlDatabase.open(rebuilt_url)
        try:
            projection = NatsProjection(NatsLink(topology(nats_server, PREFIX), "rebuild"),
                                        rebuilt)
            stop = asyncio.Event()
            task = asyncio.create_task(projection.run(stop))
            await eventually(lambda: projection.projected_seq >= third, 60, "the rebuild")
            stop.set()
            await asyncio.wait_for(task, 20)
            await projection.link.close()
            assert await dump(rebuilt) == live_rows
        finally:
            await rebuilt.close()


async def _count_trades(server: NatsServer, last_seq: int) -> int:
    """Trades in the events stream up to `last_seq` (what the fills must mirror)."""
    link = NatsLink(topology(server, PREFIX), "count")
    await link.open()
    reader = EventReader(link, after_seq=0)
    trades = 0
    try:
        async with asyncio.timeout(30):
            async for batch in reader:
                trades += sum(isinstance(ev, e.Trade) for r in batch.results for ev in r.events)
                if batch.last_seq >= last_seq:
                    break
    finally:
        reader.close()
        await link.close()
    return trades
