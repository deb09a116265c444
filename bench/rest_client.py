"""The load generator of the REST benchmarks: raw asyncio HTTP/1.1 on keep-alive connections.

One connection per in-flight request and no HTTP library, so the client's cost per request
stays far below the server's; latency runs from just before a request is written to the end
of its response body. Each worker repeats a pair: a resting limit sell, then an IOC buy at
that price from another account (so the book stays bounded). `closed_loop` keeps a number of
requests outstanding; `open_loop` sends at a fixed rate and counts latency from each
request's scheduled time. Talks only to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

HOST = "127.0.0.1"


# -- Raw HTTP client ----------------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection that sends a request and reads one response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(HOST, port)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await self.reader.readexactly(length)
        return status, body

    def close(self) -> None:
        self.writer.close()


def order_request(port: int, key: Sequence[str], body: dict[str, Any]) -> bytes:
    payload = json.dumps(body, separators=(",", ":")).encode()
    return (f"POST /v1/orders HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            f"APCA-API-KEY-ID: {key[0]}\r\nAPCA-API-SECRET-KEY: {key[1]}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
            ).encode() + payload


@dataclass
class Samples:
    rest: list[int] = field(default_factory=list)
    cross: list[int] = field(default_factory=list)
    fills: int = 0
    errors: int = 0

    def add(self, kind: str, ns: int, status: int, body: bytes) -> None:
        if status != 201:
            self.errors += 1
            if self.errors <= 3:
                print("unexpected answer:", status, body[:200].decode(errors="replace"))
            return
        if kind == "rest":
            self.rest.append(ns)
        else:
            self.cross.append(ns)
            self.fills += body.count(b'"trade_id"')


class Pair:
    """The requests of one worker: a resting sell by one account, then a crossing buy by
    another, each pair from the next two accounts, so that no account's rate limit is the
    bottleneck (the server limits each API key to 200 requests a second by default)."""

    def __init__(self, port: int, keys: Sequence[Sequence[str]], worker: int) -> None:
        self.port = port
        cents = 10_000 + worker % 50
        price = f"{cents // 100}.{cents % 100:02d}"
        self.requests: list[tuple[str, bytes]] = []
        for n in range(max(1, len(keys) // 2)):
            maker = keys[(2 * (worker + n)) % len(keys)]
            taker = keys[(2 * (worker + n) + 1) % len(keys)]
            self.requests.append(("rest", order_request(port, maker, {
                "symbol": "BTC-USD", "side": "sell", "qty": "0.0100", "price": price})))
            self.requests.append(("cross", order_request(port, taker, {
                "symbol": "BTC-USD", "side": "buy", "qty": "0.0100", "price": price,
                "time_in_force": "ioc"})))
        self.next = 0

    def take(self) -> tuple[str, bytes]:
        request = self.requests[self.next]
        self.next = (self.next + 1) % len(self.requests)
        return request


async def open_warm(port: int, count: int) -> list[Connection]:
    """Open connections and send one untimed request on each (the server's first is slower)."""
    conns = [await Connection.open(port) for _ in range(count)]
    probe = f"GET /v1/instruments HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
    await asyncio.gather(*(conn.request(probe) for conn in conns))
    return conns


# -- Closed loop --------------------------------------------------------------------------------


async def closed_loop(port: int, keys: Sequence[Sequence[str]], in_flight: int,
                      seconds: float, max_requests: int) -> tuple[Samples, float]:
    """Keep `in_flight` requests outstanding; return samples and the elapsed seconds."""
    samples = Samples()
    conns = await open_warm(port, in_flight)
    budget = max_requests
    deadline = time.perf_counter() + seconds

    async def worker(i: int) -> None:
        nonlocal budget
        pair = Pair(port, keys, i)
        conn = conns[i]
        while budget > 0 and time.perf_counter() < deadline:
            budget -= 1
            kind, raw = pair.take()
            start = time.perf_counter_ns()
            status, body = await conn.request(raw)
            samples.add(kind, time.perf_counter_ns() - start, status, body)

    start = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(in_flight)))
    elapsed = time.perf_counter() - start
    for conn in conns:
        conn.close()
    return samples, elapsed


# -- Open loop ----------------------------------------------------------------------------------


async def open_loop(port: int, keys: Sequence[Sequence[str]], rate: float, seconds: float,
                    max_connections: int) -> tuple[Samples, int]:
    """Send at a fixed rate; latency from each request's scheduled time. Returns late count."""
    samples = Samples()
    idle = await open_warm(port, 64)
    total = int(rate * seconds)
    pairs = [Pair(port, keys, i) for i in range(64)]
    dropped = 0
    tasks: set[asyncio.Task[None]] = set()

    async def one(kind: str, raw: bytes, scheduled_ns: int) -> None:
        conn = idle.pop() if idle else await Connection.open(port)
        status, body = await conn.request(raw)
        samples.add(kind, time.perf_counter_ns() - scheduled_ns, status, body)
        idle.append(conn)

    start_ns = time.perf_counter_ns()
    interval_ns = int(1e9 / rate)
    for i in range(total):
        scheduled = start_ns + i * interval_ns
        delay = (scheduled - time.perf_counter_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        if len(tasks) >= max_connections:
            dropped += 1  # the server is this far behind: count it, keep the schedule
            continue
        kind, raw = pairs[i % len(pairs)].take()
        task = asyncio.create_task(one(kind, raw, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    for conn in idle:
        conn.close()
    return samples, dropped
