"""Engine nodes over a real NATS JetStream: leading, following, taking over, fencing, snapshots.

Each test runs its own nats-server and engine nodes as tasks of the test's loop; the commands
are the demo flow (instruments, funding, orders, cancels, amends) published to the command
stream as API processes would. What the tests read back is the event stream itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import msgspec
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from tests.kit.nats import NatsServer, nats_server  # noqa: F401 (fixture)
from tradehall.adapters.nats.streams import (
    MSG_ID,
    Topology,
    connect,
    decode_batch,
    decode_market,
    decode_status,
)
from tradehall.engine import queries
from tradehall.engine.codec import encode_command
from tradehall.engine.matcher import MatchingEngine
from tradehall.engine.wire_input import EdgeRejected, decode_op, to_command
from tradehall.entrypoints import demo_flow
from tradehall.entrypoints.workers.engine_node import EngineNode, EngineNodeConfig, SteppedDown
from tradehall.marketdata.depth import apply_update
from tradehall.service.messages import EventBatch, MarketSnapshot
from tradehall.trading.commands import EngineCommand

pytestmark = pytest.mark.nats
# Polling a node's fields is the point of these waits: the nodes offer no events to await.
# ruff: noqa: ASYNC110
LEASE_S = 1.0


def demo_commands(orders: int, seed: int = 7) -> list[EngineCommand]:
    """The demo flow as engine commands (converted against a scratch engine, as the edge does)."""
    scratch = MatchingEngine()
    out: list[EngineCommand] = []
    ops = [*demo_flow.reference_data(), *demo_flow.funding(6),
           *demo_flow.order_flow(seed, orders, 6)]
    for i, raw in enumerate(ops):
        try:
            command = to_command(decode_op(msgspec.json.encode(raw)), scratch)
        except EdgeRejected:
            continue
        if raw["op"] in ("asset", "instrument"):
            scratch.apply(command, i)
        out.append(command)
    return out


@dataclass
class Cluster:
    """A private NATS, a JetStream client for the test, and the engine nodes it started."""

    server: NatsServer
    nc: Client
    js: JetStreamContext
    topology: Topology
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    nodes: dict[str, EngineNode] = field(default_factory=dict)
    stops: dict[str, asyncio.Event] = field(default_factory=dict)
    published: int = 0

    def config(self, node_id: str, **overrides: int) -> EngineNodeConfig:
        return EngineNodeConfig(topology=self.topology, node_id=node_id, book_depth=10,
                                market_snapshot_s=0.2, **overrides)

    def start(self, node_id: str, **overrides: int) -> EngineNode:
        node = EngineNode(self.config(node_id, **overrides))
        stop = asyncio.Event()
        self.nodes[node_id], self.stops[node_id] = node, stop
        self.tasks[node_id] = asyncio.create_task(node.run(stop), name=node_id)
        return node

    async def crash(self, node_id: str) -> None:
        """End a node without its clean hand-over: its lease stays until it expires."""
        task = self.tasks.pop(node_id)
        # Python 3.11's wait_for may swallow a cancel that races with its result (a PubAck
        # arriving just then): cancel until the task really ended.
        while not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=0.2)
        with contextlib.suppress(asyncio.CancelledError, SteppedDown):
            await task

    async def stop_all(self) -> None:
        for node_id in list(self.tasks):
            self.stops[node_id].set()
        for task in self.tasks.values():
            with contextlib.suppress(asyncio.CancelledError, SteppedDown):
                await asyncio.wait_for(task, 10)
        self.tasks.clear()

    async def publish(self, commands: list[EngineCommand]) -> None:
        for command in commands:
            self.published += 1
            ack = await self.js.publish(self.topology.commands_subject, encode_command(command),
                                        headers={MSG_ID: f"test-{self.published}"})
            assert ack.seq == self.published

    async def wait_role(self, node: EngineNode, role: str, timeout_s: float = 15.0) -> None:
        async with asyncio.timeout(timeout_s):
            while node.role != role:
                await asyncio.sleep(0.02)

    async def wait_published(self, seq: int, timeout_s: float = 20.0) -> None:
        async with asyncio.timeout(timeout_s):
            while True:
                await self.events()
                if self.last_published >= seq:
                    return
                await asyncio.sleep(0.05)

    last_published: int = 0

    async def events(self) -> tuple[list[MarketSnapshot], list[EventBatch]]:
        """Everything in the event stream, in order."""
        info = await self.js.stream_info(self.topology.events_stream)
        markets: list[MarketSnapshot] = []
        batches: list[EventBatch] = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            if info.state.last_seq == 0:
                break
            raw = await self.js.get_msg(self.topology.events_stream, seq)
            assert raw.data is not None
            if raw.subject == self.topology.snapshot_subject:
                markets.append(decode_market(raw.data))
            else:
                batches.append(decode_batch(raw.data))
        self.last_published = batches[-1].last_seq if batches else 0
        return markets, batches

    async def status(self, with_hash: bool = True) -> list[tuple[str, int, str | None]]:
        """(node id, seq, state hash) of every node that answers."""
        inbox = self.nc.new_inbox()
        sub = await self.nc.subscribe(inbox)
        await self.nc.publish(self.topology.status_subject, b"hash" if with_hash else b"",
                              reply=inbox)
        answers = []
        with contextlib.suppress(TimeoutError):
            while True:
                msg = await sub.next_msg(timeout=1.0)
                status = decode_status(msg.data)
                answers.append((status.node_id, status.seq, status.state_hash))
        await sub.unsubscribe()
        return sorted(answers)


@pytest.fixture
async def cluster(nats_server: NatsServer) -> AsyncIterator[Cluster]:  # noqa: F811
    nc = await connect(nats_server.url, "test")
    topology = Topology(url=nats_server.url, prefix="T", lease_s=LEASE_S)
    c = Cluster(server=nats_server, nc=nc, js=nc.jetstream(), topology=topology)
    try:
        yield c
    finally:
        await c.stop_all()
        await nc.close()


def assert_history(batches: list[EventBatch], last: int) -> None:
    """Every command 1..last exactly once, in order; each symbol's book updates gap-free."""
    seqs = [r.seq for b in batches for r in b.results]
    assert seqs == list(range(1, last + 1))
    for b in batches:
        assert [r.seq for r in b.results] == list(range(b.first_seq, b.last_seq + 1))
    book_seqs: dict[str, int] = {}
    for b in batches:
        for u in b.books:
            assert u.seq == book_seqs.get(u.symbol, 0) + 1, (u.symbol, u.seq)
            book_seqs[u.symbol] = u.seq


def books_from(batches: list[EventBatch]) -> Iterator[tuple[str, list[tuple[int, int]],
                                                             list[tuple[int, int]]]]:
    """The book views a consumer holds after applying every update of the stream."""
    views: dict[str, tuple[dict[int, queries.LevelView], dict[int, queries.LevelView]]] = {}
    for b in batches:
        for u in b.books:
            bids, asks = views.setdefault(u.symbol, ({}, {}))
            apply_update(bids, asks, u)
    for symbol, (bids, asks) in sorted(views.items()):
        yield (symbol, sorted(((lv.price, lv.qty) for lv in bids.values()), reverse=True),
               sorted((lv.price, lv.qty) for lv in asks.values()))


def books_of(engine: MatchingEngine, depth: int) -> Iterator[tuple[str, list[tuple[int, int]],
                                                                   list[tuple[int, int]]]]:
    for view in sorted(queries.instruments(engine), key=lambda v: v.spec.symbol):
        bids, asks = queries.book_depth(engine, view.spec.symbol, depth)
        yield (view.spec.symbol, [(lv.price, lv.qty) for lv in bids],
               [(lv.price, lv.qty) for lv in asks])


async def test_leader_publishes_every_command_once(cluster: Cluster) -> None:
    node = cluster.start("a")
    await cluster.wait_role(node, "leader")
    commands = demo_commands(1_500)
    await cluster.publish(commands)
    await cluster.wait_published(len(commands))
    markets, batches = await cluster.events()
    assert_history(batches, len(commands))
    assert markets, "a leader starts its term with a market snapshot"
    assert list(books_from(batches)) == list(books_of(node.engine, 10))
    assert sum(len(b.balances) for b in batches) > 0


async def test_standby_takes_over_without_gap_or_repeat(cluster: Cluster) -> None:
    a = cluster.start("a")
    await cluster.wait_role(a, "leader")
    b = cluster.start("b")
    await cluster.wait_role(b, "standby")
    commands = demo_commands(3_000)
    half = len(commands) // 2
    await cluster.publish(commands[:half])
    await cluster.wait_published(half)
    # The leader dies mid-stream: commands keep arriving while nobody publishes.
    more = asyncio.create_task(cluster.publish(commands[half:]))
    await asyncio.sleep(0.05)
    await cluster.crash("a")
    await more
    await cluster.wait_role(b, "leader", timeout_s=LEASE_S * 5 + 5)
    await cluster.wait_published(len(commands))
    markets, batches = await cluster.events()
    assert_history(batches, len(commands))
    assert len(markets) >= 2, "each term starts with a market snapshot"
    assert list(books_from(batches)) == list(books_of(b.engine, 10))
    # A third node replaying the stream from zero reaches the same state, bit for bit.
    c = cluster.start("c")
    await cluster.wait_role(c, "standby")
    async with asyncio.timeout(10):
        while c.seq < len(commands):
            await asyncio.sleep(0.05)
    hashes = {h for _, seq, h in await cluster.status() if seq == len(commands)}
    assert len(hashes) == 1


async def test_a_node_that_lost_the_stream_to_another_steps_down(cluster: Cluster) -> None:
    a = cluster.start("a")
    await cluster.wait_role(a, "leader")
    commands = demo_commands(50)
    await cluster.publish(commands[:20])
    await cluster.wait_published(20)
    # Somebody else appends to the event stream (what a new leader does while the old one
    # was paused): the old leader's next publish fails its expected-last check.
    await cluster.js.publish(cluster.topology.batch_subject, b"\x80",
                             headers={MSG_ID: "intruder"})
    await cluster.publish(commands[20:])
    task = cluster.tasks.pop("a")
    with pytest.raises(SteppedDown, match="another engine"):
        await asyncio.wait_for(task, 10)


async def test_standby_snapshots_and_a_new_node_starts_from_the_newest(cluster: Cluster) -> None:
    a = cluster.start("a")
    await cluster.wait_role(a, "leader")
    b = cluster.start("b", snapshot_every=500)
    await cluster.wait_role(b, "standby")
    commands = demo_commands(2_000)
    await cluster.publish(commands)
    await cluster.wait_published(len(commands))
    async with asyncio.timeout(10):
        while b.snapshot_seq < 1_500:
            await asyncio.sleep(0.05)
    store = await cluster.js.object_store(cluster.topology.snapshot_bucket)
    names = sorted(i.name for i in await store.list() if not i.deleted)
    assert 1 <= len(names) <= 3
    c = cluster.start("c")
    await cluster.wait_role(c, "standby")
    assert c.snapshot_seq >= 1_500
    async with asyncio.timeout(10):
        while c.seq < len(commands):
            await asyncio.sleep(0.05)
    assert len({h for _, seq, h in await cluster.status() if seq == len(commands)}) == 1


async def test_clean_stop_hands_the_lease_over_at_once(cluster: Cluster) -> None:
    a = cluster.start("a")
    await cluster.wait_role(a, "leader")
    b = cluster.start("b")
    await cluster.wait_role(b, "standby")
    await cluster.publish(demo_commands(100))
    cluster.stops["a"].set()
    await asyncio.wait_for(cluster.tasks.pop("a"), 10)
    await cluster.wait_role(b, "leader", timeout_s=LEASE_S)  # before the lease could expire
    await cluster.publish(demo_commands(100, seed=8)[-5:])
    await cluster.wait_published(cluster.published)
    _, batches = await cluster.events()
    assert_history(batches, cluster.published)


async def test_garbage_on_the_command_stream_keeps_its_seq_and_does_nothing(
        cluster: Cluster) -> None:
    a = cluster.start("a")
    await cluster.wait_role(a, "leader")
    commands = demo_commands(10)
    await cluster.publish(commands[:5])
    await cluster.js.publish(cluster.topology.commands_subject, b"not msgpack at all")
    cluster.published += 1
    await cluster.publish(commands[5:])
    await cluster.wait_published(cluster.published)
    _, batches = await cluster.events()
    assert_history(batches, cluster.published)
    results = {r.seq: r for b in batches for r in b.results}
    assert results[6].events == []
