"""The API side's engine port over a real NATS JetStream and a real engine node: a command is
acknowledged once stored (PubAck seq = engine seq) and answered with its result from the
events stream; a retried publish is stored once; nothing stored means `engine_unavailable`,
stored without a result in time means `result_pending`; readiness follows the engine lease."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from tests.integration.nats.stream_kit import eventually, open_link, topology
from tests.kit import nats as nats_kit
from tests.kit.nats import NatsServer
from tradehall.adapters.nats.engine_port import (
    LEADER_KEY,
    NatsEngineConfig,
    NatsEnginePort,
    ResultIndex,
)
from tradehall.adapters.nats.link import NatsLink
from tradehall.adapters.nats.relay import EventRelay
from tradehall.entrypoints.workers.engine_node import EngineNode, EngineNodeConfig
from tradehall.kernel.errors import TemporaryError
from tradehall.kernel.ids import AccountId, AssetCode
from tradehall.service.messages import CommandResult, EventBatch
from tradehall.trading import commands as c
from tradehall.trading import events as e

pytestmark = pytest.mark.nats
nats_server = nats_kit.nats_server
LEASE_S = 1.0
USD = AssetCode("USD")
ALICE = AccountId("alice")


@dataclass
class Api:
    """One API process's engine side: link, port, relay (and the engine node, when running)."""

    link: NatsLink
    port: NatsEnginePort
    relay: EventRelay
    batches: list[EventBatch]


@contextlib.asynccontextmanager
async def engine_node(server: NatsServer, node_id: str = "e1") -> AsyncIterator[EngineNode]:
    """A real engine node of the same deployment, stopped cleanly after the block."""
    node = EngineNode(EngineNodeConfig(
        topology=topology(server, lease_s=LEASE_S), node_id=node_id, book_depth=10))
    stop = asyncio.Event()
    task = asyncio.create_task(node.run(stop))
    try:
        yield node
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


@contextlib.asynccontextmanager
async def api(server: NatsServer, config: NatsEngineConfig | None = None
              ) -> AsyncIterator[Api]:
    link = NatsLink(topology(server, lease_s=LEASE_S), "api-test")
    port = NatsEnginePort(link, config)
    batches: list[EventBatch] = []
    relay = EventRelay(link, [port.deliver, batches.append])
    await asyncio.wait_for(port.start(), 15)
    await relay.start(after_seq=0)
    port.results.floor = relay.start_seq
    try:
        yield Api(link, port, relay, batches)
    finally:
        await relay.stop()
        await port.stop()
        await link.close()


async def test_execute_when_an_engine_leads_returns_results_at_the_stored_seqs(
        nats_server: NatsServer) -> None:
    async with engine_node(nats_server), api(nats_server) as side:
        # Arrange
        await eventually(side.port.is_ready, what="the engine lease")

        # Act
        results = await side.port.execute_many([
            c.AddAsset(asset=USD, scale=2),
            c.Deposit(account=ALICE, asset=USD, amount=12_345)])
        single = await side.port.execute(c.Deposit(account=ALICE, asset=USD, amount=5))

        # Assert: the PubAck's stream seq is the engine seq of the result
        assert [r.seq for r in results] == [1, 2]
        assert isinstance(results[0].events[0], e.AssetAdded)
        assert isinstance(results[1].events[0], e.Deposited)
        assert single.seq == 3
        assert side.port.last_seq == 3
        info = await side.link.js.stream_info(side.link.topology.commands_stream)
        assert info.state.last_seq == 3
        assert info.state.messages == 3


async def test_store_when_retried_with_the_same_message_id_is_stored_once(
        nats_server: NatsServer) -> None:
    async with api(nats_server) as side:
        command = c.AddAsset(asset=USD, scale=2)

        first = await side.port.store(command, "req-1")
        again = await side.port.store(command, "req-1")
        other = await side.port.store(command, "req-2")

        assert first == again == 1
        assert other == 2
        info = await side.link.js.stream_info(side.link.topology.commands_stream)
        assert info.state.messages == 2


async def test_store_when_the_puback_timed_out_a_retry_is_stored_once(
        nats_server: NatsServer) -> None:
    # Arrange: a port that gives up on its PubAck at once, although the server stores
    command = c.AddAsset(asset=USD, scale=2)
    impatient = NatsEngineConfig(publish_timeout_s=1e-6, publish_attempts=1)
    async with api(nats_server, impatient) as hasty, api(nats_server) as patient:
        stream = hasty.link.topology.commands_stream

        # Act
        with pytest.raises(TemporaryError) as refused:
            await hasty.port.store(command, "req-7")
        stored_once = 0

        async def count() -> None:
            nonlocal stored_once
            stored_once = (await patient.link.js.stream_info(stream)).state.messages

        for _ in range(100):
            await count()
            if stored_once:
                break
            await asyncio.sleep(0.02)
        seq = await patient.port.store(command, "req-7")  # the client's retry

        # Assert: no false acknowledgement, and the retry found the stored message
        assert refused.value.code == "engine_unavailable"
        assert stored_once == 1
        assert seq == 1
        await count()
        assert stored_once == 1


async def test_execute_when_no_engine_leads_refuses_without_storing(
        nats_server: NatsServer) -> None:
    async with api(nats_server) as side:
        assert not side.port.is_ready()

        with pytest.raises(TemporaryError) as refused:
            await side.port.execute(c.AddAsset(asset=USD, scale=2))

        assert refused.value.code == "engine_unavailable"
        info = await side.link.js.stream_info(side.link.topology.commands_stream)
        assert info.state.messages == 0


async def test_execute_when_the_result_does_not_come_raises_result_pending(
        nats_server: NatsServer) -> None:
    # Arrange: a lease says an engine leads, but nothing publishes results
    async with api(nats_server, NatsEngineConfig(result_timeout_s=0.3)) as side:
        kv = await side.link.js.key_value(side.link.topology.lease_bucket)
        await kv.put(LEADER_KEY, b"ghost")
        await eventually(side.port.is_ready, what="the lease")

        # Act
        with pytest.raises(TemporaryError) as pending:
            await side.port.execute(c.AddAsset(asset=USD, scale=2))

        # Assert: stored (it will execute), named with its seq
        assert pending.value.code == "result_pending"
        assert "seq 1" in pending.value.message
        info = await side.link.js.stream_info(side.link.topology.commands_stream)
        assert info.state.messages == 1


async def test_is_ready_when_the_lease_ends_or_nats_stops_turns_false(
        nats_server: NatsServer) -> None:
    async with api(nats_server, NatsEngineConfig(failover_grace_s=3.0)) as side:
        kv = await side.link.js.key_value(side.link.topology.lease_bucket)
        await kv.put(LEADER_KEY, b"e9")
        await eventually(side.port.is_ready, what="the lease")
        assert side.port.leader == "e9"

        # The lease ends: ready through the failover grace (a standby would take over), then not
        await kv.delete(LEADER_KEY)
        await eventually(lambda: side.port.leader is None, what="the lease's end")
        assert side.port.is_ready()
        await eventually(lambda: not side.port.is_ready(), what="the grace's end")

        await kv.put(LEADER_KEY, b"e9")
        await eventually(side.port.is_ready, what="the lease again")
        nats_server.stop()
        await eventually(lambda: not side.port.is_ready(), what="the disconnect")
        with pytest.raises(TemporaryError) as refused:
            await side.port.execute(c.AddAsset(asset=USD, scale=2))
        assert refused.value.code == "engine_unavailable"


async def test_execute_when_an_older_command_is_stored_again_finds_its_result_in_the_stream(
        nats_server: NatsServer) -> None:
    # Arrange: a command executed through one process; a second process starts afterwards
    async with engine_node(nats_server), api(nats_server) as first:
        await eventually(first.port.is_ready, what="the engine lease")
        command = c.AddAsset(asset=USD, scale=2)
        msg_id = first.port.new_message_id()
        seq = await first.port.store(command, msg_id)
        await eventually(lambda: first.port.results.get(seq) is not None, what="the result")
        async with api(nats_server) as second:
            await eventually(second.port.is_ready, what="the engine lease")

            # Act: the same message (a client's retry through another process) is a duplicate
            again = await second.port.store(command, msg_id)
            result = await second.port._result(again, asyncio.get_running_loop().time() + 5)

        # Assert
        assert again == seq
        assert result is not None
        assert result.seq == seq
        assert isinstance(result.events[0], e.AssetAdded)


def test_result_index_when_a_result_comes_before_its_caller_keeps_it() -> None:
    index = ResultIndex(kept=3)
    results = [CommandResult(s, s, []) for s in range(1, 6)]
    index.deliver(EventBatch(first_seq=1, last_seq=5, results=results, books=[], balances=[]))

    assert index.get(5) is results[4]
    assert index.get(2) is None
    assert index.passed(2)
    assert not index.passed(6)


async def test_result_index_when_a_caller_waits_wakes_it_on_delivery() -> None:
    index = ResultIndex()
    waiter = asyncio.create_task(index.wait(7, 5.0))
    await asyncio.sleep(0)
    assert index.waiting() == 1

    result = CommandResult(7, 70, [])
    index.deliver(EventBatch(first_seq=7, last_seq=7, results=[result], books=[], balances=[]))

    assert await waiter is result
    assert index.waiting() == 0
    assert await index.wait(8, 0.01) is None
    assert index.waiting() == 0


async def test_open_link_when_the_server_answers_creates_the_streams(
        nats_server: NatsServer) -> None:
    async with open_link(nats_server) as link:
        names = {info.config.name for info in await link.js.streams_info()}
        assert {link.topology.commands_stream, link.topology.events_stream} <= names
