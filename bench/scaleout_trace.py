"""Where a scale-out order's time goes, from the store times JetStream records.

Every process runs on this host, so one wall clock serves them all. The load generator notes
the wall time at which it writes each request and reads its answer (one request in flight);
the answer carries the command's engine seq, which is its position in the commands stream,
where JetStream recorded when it stored it; the events stream records when the leader's batch
holding that seq was stored. That splits each order into three segments:

- request written -> command stored: HTTP and the route in the API process, the publish to
  NATS and JetStream's store (the PubAck follows the store);
- command stored -> its event batch stored: delivery to the engine node, apply, building the
  batch, its publish and store;
- event batch stored -> answer read: delivery to the API's event relay, the result handed to
  the waiting request, rendering and the HTTP answer.

Reads the streams with ordered consumers and writes nothing; talks only to the given NATS.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from measure import percentile, print_table
from rest_client import Pair, open_warm
from tradehall.adapters.nats.events import find_start
from tradehall.adapters.nats.streams import FIRST_SEQ, LAST_SEQ, Topology, connect, delivery


@dataclass(frozen=True)
class TracedOrder:
    sent_ns: int  # wall clock
    answered_ns: int
    seq: int


async def traced_orders(port: int, keys: Sequence[Sequence[str]], seconds: float,
                        max_orders: int) -> list[TracedOrder]:
    """Send orders one at a time (resting, then filling, as the closed loop does)."""
    conn = (await open_warm(port, 1))[0]
    pair = Pair(port, keys, 0)
    traced: list[TracedOrder] = []
    deadline = time.perf_counter() + seconds
    while len(traced) < max_orders and time.perf_counter() < deadline:
        _, raw = pair.take()
        sent = time.time_ns()
        status, body = await conn.request(raw)
        answered = time.time_ns()
        if status == 201:
            traced.append(TracedOrder(sent, answered, int(json.loads(body)["seq"])))
    conn.close()
    return traced


async def _read_until(js: JetStreamContext, subject: str, stream: str, start: int,
                      done: Callable[[Msg], bool], timeout_s: float = 30.0) -> None:
    """Read a stream from a position with an ordered consumer until `done(msg)` says so."""
    finished = asyncio.Event()

    async def on_msg(msg: Msg) -> None:
        if done(msg):
            finished.set()

    sub = await js.subscribe(subject, stream=stream, ordered_consumer=True, cb=on_msg,
                             pending_msgs_limit=-1, pending_bytes_limit=-1,
                             config=api.ConsumerConfig(
                                 deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                                 opt_start_seq=start))
    try:
        await asyncio.wait_for(finished.wait(), timeout_s)
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


async def store_times(url: str, prefix: str, first: int,
                      last: int) -> tuple[dict[int, int], dict[int, int]]:
    """Wall-clock store times (ns) of the commands `first..last`, and of the event batch that
    holds each one's result, by engine seq."""
    topology = Topology(url=url, prefix=prefix)
    nc = await connect(url, "bench-trace")
    commands: dict[int, int] = {}
    events: dict[int, int] = {}

    def on_command(msg: Msg) -> bool:
        seq, ts = delivery(msg)
        commands[seq] = ts
        return seq >= last

    def on_batch(msg: Msg) -> bool:
        _, ts = delivery(msg)
        headers = msg.headers or {}
        low, high = int(headers[FIRST_SEQ]), int(headers[LAST_SEQ])
        for seq in range(max(low, first), min(high, last) + 1):
            events[seq] = ts
        return high >= last

    try:
        js = nc.jetstream()
        await _read_until(js, topology.commands_subject, topology.commands_stream, first,
                          on_command)
        start = await find_start(js, topology, first - 1)
        await _read_until(js, topology.batch_subject, topology.events_stream, start, on_batch)
    finally:
        await nc.close()
    return commands, events


async def trace(port: int, keys: Sequence[Sequence[str]], url: str, prefix: str,
                seconds: float = 3.0, max_orders: int = 500) -> None:
    """Send orders one at a time, then print where their time went."""
    traced = await traced_orders(port, keys, seconds, max_orders)
    if not traced:
        print("trace: no order was answered 201")
        return
    commands, events = await store_times(url, prefix, min(t.seq for t in traced),
                                         max(t.seq for t in traced))
    parts: list[list[int]] = [[], [], [], []]
    for t in traced:
        stored, published = commands.get(t.seq), events.get(t.seq)
        if stored is None or published is None:
            continue
        for part, ns in zip(parts, (stored - t.sent_ns, published - stored,
                                    t.answered_ns - published, t.answered_ns - t.sent_ns),
                            strict=True):
            part.append(ns)
    names = ["request written -> command stored (API, NATS publish, JetStream store)",
             "command stored -> event batch stored (engine node: apply, publish)",
             "event batch stored -> answer read (relay, result, render, HTTP)",
             "whole round trip"]
    total_mean = sum(parts[3]) / max(1, len(parts[3]))
    rows = []
    for name, part in zip(names, parts, strict=True):
        values = sorted(part)
        mean = sum(values) / max(1, len(values))
        rows.append([name, f"{percentile(values, 0.5) / 1e6:.2f}",
                     f"{percentile(values, 0.99) / 1e6:.2f}", f"{mean / 1e6:.2f}",
                     f"{100 * mean / max(1.0, total_mean):.0f}%"])
    print(f"where the time goes, {len(parts[3])} orders one at a time (wall-clock stamps: "
          "the load generator's, and JetStream's store times of the command and of its "
          "event batch):")
    print_table(["segment", "p50 ms", "p99 ms", "mean ms", "of mean"], rows)
