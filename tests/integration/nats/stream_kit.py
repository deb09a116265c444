"""Helpers of the scale-out reader and port tests: a NATS link on a private server, and event
batches written to the events stream the way an engine leader writes them (real JetStream)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager

from nats.js import JetStreamContext

from tests.kit.nats import NatsServer
from tradehall.adapters.nats.link import NatsLink
from tradehall.adapters.nats.streams import (
    FIRST_SEQ,
    LAST_SEQ,
    Topology,
    encode_batch,
    encode_market,
)
from tradehall.service.messages import CommandResult, EventBatch, MarketSnapshot


def topology(server: NatsServer, prefix: str = "TT", lease_s: float = 3.0) -> Topology:
    return Topology(url=server.url, prefix=prefix, lease_s=lease_s)


@asynccontextmanager
async def open_link(server: NatsServer, prefix: str = "TT", name: str = "test",
                    lease_s: float = 3.0) -> AsyncIterator[NatsLink]:
    """An open link (streams created) to the private server, closed after the block."""
    link = NatsLink(topology(server, prefix, lease_s), name)
    await asyncio.wait_for(link.open(), 15)
    try:
        yield link
    finally:
        await link.close()


def batch(first: int, last: int) -> EventBatch:
    """A batch of results `first..last` (no events: what counts here is the seqs)."""
    return EventBatch(first_seq=first, last_seq=last,
                      results=[CommandResult(s, s * 1_000, []) for s in range(first, last + 1)],
                      books=[], balances=[])


async def append_batch(js: JetStreamContext, topo: Topology, first: int, last: int) -> int:
    """Append a batch as the engine leader does (headers included); return its position."""
    ack = await js.publish(topo.batch_subject, encode_batch(batch(first, last)),
                           headers={FIRST_SEQ: str(first), LAST_SEQ: str(last)})
    return int(ack.seq)


async def append_market(js: JetStreamContext, topo: Topology, engine_seq: int) -> int:
    market = MarketSnapshot(engine_seq=engine_seq, ts_ns=engine_seq * 1_000, books=[])
    ack = await js.publish(topo.snapshot_subject, encode_market(market),
                           headers={LAST_SEQ: str(engine_seq)})
    return int(ack.seq)


def seqs(batches: Iterable[EventBatch]) -> list[int]:
    return [r.seq for b in batches for r in b.results]


async def eventually(predicate: Callable[[], bool], timeout_s: float = 15.0,
                     what: str = "condition") -> None:
    """Wait until `predicate()` holds (polled every 20 ms); fail with `what` after the timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
