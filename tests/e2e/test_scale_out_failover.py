"""The scale-out topology survives its leading engine's death (issue 5's failover test).

Real processes on loopback: a private NATS (JetStream), two engine nodes (leader and hot
standby), a projector into a fresh PostgreSQL database, two API processes sharing Redis, and
many concurrent HTTP clients spread over both APIs, plus a WebSocket client following a book.
The leading engine is killed with SIGKILL while the orders flow. Then: the standby leads;
every acknowledged order is in the final state exactly once (and no order twice); money is
conserved per asset; the WebSocket client saw a gap-free book sequence (or resynced from a
snapshot) and ends with the book the API shows; the new leader's state equals a third node's
replay of the whole command stream, bit for bit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.e2e.test_scale_out_api import RoleProcess, until
from tests.kit import nats as nats_kit
from tests.kit import services
from tests.kit.nats import NatsServer
from tests.kit.server import TestUser, running_platform
from tradehall.adapters.nats.streams import Topology, connect, decode_status

pytestmark = [pytest.mark.nats, pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]
nats_server = nats_kit.nats_server
postgres_server = services.postgres_server
postgres_database = services.postgres_database
redis_server = services.redis_server

PREFIX = "TF"
LEASE_S = 1.0
CLIENTS = 12
ORDERS_PER_CLIENT = 30
DEPOSITS = {"USD": Decimal("1000000"), "BTC": Decimal("100")}


async def _role(process: RoleProcess) -> str:
    return str((await process.health()).get("role", ""))


class BookFollower:
    """A WebSocket client that keeps a book by the documented rules (deltas by prev_seq,
    resubscribe on a gap)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seq = 0
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}
        self.deltas = 0
        self.resyncs = 0
        self.snapshots = 0

    async def run(self, ready: asyncio.Event) -> None:
        async with websockets.connect(f"{self.url}/v1/ws") as ws:
            await ws.send(json.dumps({"type": "subscribe", "channels": ["book.BTC-USD"]}))
            async for raw in ws:
                msg = json.loads(raw)
                if msg["type"] == "book_snapshot":
                    self.snapshots += 1
                    self.seq = msg["seq"]
                    self.bids = {p: q for p, q, _ in msg["bids"]}
                    self.asks = {p: q for p, q, _ in msg["asks"]}
                    ready.set()
                elif msg["type"] == "book_delta":
                    if msg["prev_seq"] != self.seq:
                        self.resyncs += 1
                        await ws.send(json.dumps({"type": "subscribe",
                                                  "channels": ["book.BTC-USD"]}))
                        continue
                    self.deltas += 1
                    self.seq = msg["seq"]
                    for side, levels in ((self.bids, msg["bids"]), (self.asks, msg["asks"])):
                        for price, qty, _ in levels:
                            if Decimal(qty) == 0:
                                side.pop(price, None)
                            else:
                                side[price] = qty


async def _trade(client_no: int, apis: list[str], users: list[TestUser],
                 sent: Counter[str], outcomes: dict[str, int]) -> None:
    rng = random.Random(client_no)
    user = users[client_no % len(users)]
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=60))
                   for url in apis]
        for i in range(ORDERS_PER_CLIENT):
            coid = f"c{client_no}-{i}"
            side = rng.choice(("buy", "sell"))
            price = Decimal(100) + Decimal(rng.randint(-20, 20)) / 100
            body = {"symbol": "BTC-USD", "side": side, "qty": str(Decimal(rng.randint(1, 20))
                                                                  / 10),
                    "price": str(price), "client_order_id": coid}
            response = await clients[i % len(clients)].post("/v1/orders", json=body,
                                                             headers=user.headers)
            outcomes[coid] = response.status_code
            sent["orders"] += 1


async def _all_orders(client: httpx.AsyncClient, user: TestUser) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = []
    params: dict[str, Any] = {"status": "all", "limit": 500}
    while True:
        page = (await client.get("/v1/orders", params=params, headers=user.headers)).json()
        orders.extend(page["data"])
        if not page["next_cursor"]:
            return orders
        params["cursor"] = page["next_cursor"]


async def _engine_states(topology: Topology) -> list[tuple[str, int, str | None]]:
    nc = await connect(topology.url, "test-status")
    try:
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        await nc.publish(topology.status_subject, b"hash", reply=inbox)
        answers = []
        with contextlib.suppress(TimeoutError):
            while True:
                status = decode_status((await sub.next_msg(timeout=2.0)).data)
                answers.append((status.node_id, status.seq, status.state_hash))
        return sorted(answers)
    finally:
        await nc.close()


async def test_leader_killed_mid_stream_loses_nothing_and_repeats_nothing(
        nats_server: NatsServer, postgres_database: str, redis_server: object,
        tmp_path: Path) -> None:
    # Arrange: the deployment
    env = {"TRADEHALL_NATS_URL": nats_server.url, "TRADEHALL_NATS_PREFIX": PREFIX,
           "TRADEHALL_DATABASE_URL": postgres_database,
           "TRADEHALL_ENGINE_LEASE_S": str(LEASE_S),
           "TRADEHALL_REDIS_URL": "redis://127.0.0.1:6379/0",
           "TRADEHALL_REDIS_PREFIX": f"tf{uuid.uuid4().hex[:8]}:",
           "TRADEHALL_RESULT_TIMEOUT_S": "20",
           # One deployment, one master key (sealed signing keys are shared in PostgreSQL).
           "TRADEHALL_MASTER_KEY_FILE": str(tmp_path / "master-keys.json")}
    leader = RoleProcess("engine", tmp_path, {**env, "TRADEHALL_NODE_ID": "engine-a"})
    standby = RoleProcess("engine", tmp_path, {**env, "TRADEHALL_NODE_ID": "engine-b"})
    projector = RoleProcess("projector", tmp_path, env)
    apis = [RoleProcess("api", tmp_path, env), RoleProcess("api", tmp_path, env)]
    third = RoleProcess("engine", tmp_path, {**env, "TRADEHALL_NODE_ID": "engine-c"})
    everything = [leader, standby, projector, *apis, third]
    try:
        leader.start()
        await until(lambda: _is(leader, "leader"), 60, "engine-a leads")
        standby.start()
        projector.start()
        await until(lambda: _is(standby, "standby"), 60, "engine-b follows")
        async with running_platform(tmp_path / "setup", database_url=postgres_database,
                                    market=True, role="api", nats_url=nats_server.url,
                                    nats_prefix=PREFIX, engine_lease_s=LEASE_S,
                                    master_key_file=tmp_path / "master-keys.json") as setup:
            users = [await setup.create_user(f"trader{i}", deposits={
                a: str(v) for a, v in DEPOSITS.items()}) for i in range(6)]
        for api in apis:
            api.start()
        for api in apis:
            await until(lambda api=api: _is_ok(api), 60, "the API answers")
        follower = BookFollower(apis[1].url.replace("http", "ws", 1))
        ready = asyncio.Event()
        watching = asyncio.create_task(follower.run(ready))
        await asyncio.wait_for(ready.wait(), 10)

        # Act: many clients over both APIs; the leader dies a third of the way in
        sent: Counter[str] = Counter()
        outcomes: dict[str, int] = {}
        trading = [asyncio.create_task(_trade(n, [a.url for a in apis], users, sent,
                                              outcomes)) for n in range(CLIENTS)]
        await until(lambda: _at_least(sent, CLIENTS * ORDERS_PER_CLIENT // 3), 60,
                    "a third of the orders")
        assert leader.process is not None
        leader.process.kill()
        await asyncio.gather(*trading)
        await until(lambda: _is(standby, "leader"), 30, "engine-b leads")
        third.start()
        async def caught_up() -> bool:
            engine, projection = await standby.health(), await projector.health()
            seq = engine.get("seq", -1)
            return bool(seq == engine.get("published_seq") == projection.get("projected_seq"))
        await until(caught_up, 60, "the projector catches up with the new leader")
        async with httpx.AsyncClient(base_url=apis[0].url, timeout=30) as client:
            orders = {u.user.username: await _all_orders(client, u) for u in users}
            accounts = {u.user.username: (await client.get(
                "/v2/account", headers=u.headers)).json() for u in users}
            balances = {u.user.username: (await client.get(
                "/v1/balances", headers=u.headers)).json() for u in users}
            book = (await client.get("/v1/markets/BTC-USD/book")).json()
        async with httpx.AsyncClient(base_url=apis[1].url, timeout=30) as client:
            book_seen_by_follower_api = (await client.get("/v1/markets/BTC-USD/book")).json()
        await until(lambda: _is(third, "standby"), 60, "engine-c replays the stream")
        topology = Topology(url=nats_server.url, prefix=PREFIX)

        async def same_seq() -> list[tuple[str, int, str | None]] | None:
            states = await _engine_states(topology)
            return states if len({seq for _, seq, _ in states}) == 1 and len(states) == 2 \
                else None
        states = await until(same_seq, 30, "engines b and c at the same seq")
        await asyncio.sleep(0.5)  # the last deltas reach the follower
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
            await watching
    finally:
        for process in everything:
            process.close()

    # Assert: every acknowledged order exactly once, none twice
    # (504 result_pending is an acknowledgement too: stored, its result late; a failover
    # within the API's grace is a slow answer, never a refusal.)
    acknowledged = {coid for coid, status in outcomes.items() if status in (201, 504)}
    assert set(outcomes.values()) <= {201, 504}, Counter(outcomes.values())
    in_state = Counter(o["client_order_id"] for os_ in orders.values() for o in os_)
    assert all(count == 1 for count in in_state.values()), in_state.most_common(3)
    assert acknowledged <= set(in_state)
    assert set(in_state) <= set(outcomes)
    # Money is conserved per asset (the test market charges no fees)
    for asset, deposited in DEPOSITS.items():
        total = sum(Decimal(b["available"]) + Decimal(b["held"])
                    for rows in balances.values() for b in _rows(rows) if b["asset"] == asset)
        assert total == deposited * len(users), asset
    assert all(a["status"] == "ACTIVE" for a in accounts.values())
    # The WebSocket client followed the book across the failover
    assert follower.resyncs == 0 or follower.snapshots > 1
    assert follower.deltas > 0
    assert (sorted(follower.bids.items()), sorted(follower.asks.items())) == (
        sorted((p, q) for p, q, _ in book_seen_by_follower_api["bids"]),
        sorted((p, q) for p, q, _ in book_seen_by_follower_api["asks"]))
    assert book["bids"] == book_seen_by_follower_api["bids"]
    # Determinism: the new leader and a replay from zero hold the same state
    assert {node for node, _, _ in states} == {"engine-b", "engine-c"}
    assert len({h for _, _, h in states}) == 1


def _rows(body: Any) -> list[dict[str, Any]]:
    return list(body["data"])


async def _is(process: RoleProcess, role: str) -> bool:
    return await _role(process) == role


async def _is_ok(process: RoleProcess) -> bool:
    return (await process.health()).get("status") == "ok"


async def _at_least(sent: Counter[str], n: int) -> bool:
    return sent["orders"] >= n
