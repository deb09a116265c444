"""Benchmark of the order round trip through the native REST API on loopback.

The server (the whole embedded platform: engine thread with its fsynced journal, SQL
projections, uvicorn) runs in its own process, pinned to one core; the load generator runs
here, pinned to the other, when there are two. The load generator is raw asyncio HTTP/1.1 on
keep-alive connections (one per in-flight request), so the client's cost per request stays far
below the server's; latency is measured from just before the request is written to the end of
the response body.

Each worker repeats a pair: a resting limit sell (acknowledged, no fill) then an IOC limit buy
at that price from another account (acknowledged and filled), so the book stays bounded. Two
parts:

- closed loop at 1, 4, 16, 64 requests in flight: p50/p99 of each kind and the throughput;
- open loop at rising rates (latency counted from each request's scheduled time, so a stall
  is not hidden): the highest rate whose p99 stays under 10 ms.

Bounded in time and count; talks only to 127.0.0.1; its data directory is temporary and
removed. `--profile FILE` writes a cProfile of the server's event-loop thread.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from measure import percentile, print_preamble, print_table

HOST = "127.0.0.1"
ASSETS = {"USD": 2, "BTC": 8}
P99_GOAL_MS = 10.0


# -- Server process ---------------------------------------------------------------------------


def pin(core: int) -> None:
    """Pin this process to one core when the machine has two or more."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) >= 2:
        os.sched_setaffinity(0, {cores[core % len(cores)]})


async def serve(data_dir: Path, port: int, users: int, ready_file: Path,
                profile: Path | None) -> None:
    """Run a platform with the benchmark's market and users until SIGTERM."""
    import signal
    from decimal import Decimal

    import uvicorn

    from tradehall.bootstrap import build
    from tradehall.config import Settings
    from tradehall.entrypoints.api.app import create_app
    from tradehall.kernel.ids import AssetCode, Symbol
    from tradehall.trading import commands as c
    from tradehall.trading.model import InstrumentSpec

    settings = Settings(data_dir=data_dir, demo=False, fsync=True, host=HOST, port=port)
    platform = await build(settings)
    await platform.start()
    setup: list[c.EngineCommand] = [c.AddAsset(asset=AssetCode(a), scale=s)
                                    for a, s in ASSETS.items()]
    setup.append(c.AddInstrument(spec=InstrumentSpec(
        symbol=Symbol("BTC-USD"), base=AssetCode("BTC"), quote=AssetCode("USD"),
        tick_size=Decimal("0.01"), lot_size=Decimal("0.0001"))))
    await platform.engine.execute_many(setup)
    credentials = []
    for i in range(users):
        user = await platform.auth.create_user(f"bench{i}", "bench password")
        key = await platform.auth.create_api_key(user, "bench")
        await platform.trading.deposit(user.account, "USD", "100000000")
        await platform.trading.deposit(user.account, "BTC", "100000")
        credentials.append([key.key_id, key.secret])
    await platform.read_model.wait_for(platform.bus.last_seq, timeout_s=30)
    app = create_app(platform)
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_level="warning",
                                           access_log=False, lifespan="off"))
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: setattr(server, "should_exit", True))
    profiler = None
    if profile is not None:
        import cProfile
        profiler = cProfile.Profile()
        profiler.enable()
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.01)
    await asyncio.to_thread(ready_file.write_text, json.dumps(credentials))
    await task
    if profiler is not None and profile is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    await platform.stop()


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
    """The requests of one worker: a resting sell by one account, a crossing buy by another."""

    def __init__(self, port: int, keys: Sequence[Sequence[str]], worker: int) -> None:
        self.port = port
        maker = keys[(2 * worker) % len(keys)]
        taker = keys[(2 * worker + 1) % len(keys)]
        cents = 10_000 + worker % 50
        price = f"{cents // 100}.{cents % 100:02d}"
        self.sell = order_request(port, maker, {"symbol": "BTC-USD", "side": "sell",
                                                "qty": "0.0100", "price": price})
        self.buy = order_request(port, taker, {"symbol": "BTC-USD", "side": "buy",
                                               "qty": "0.0100", "price": price,
                                               "time_in_force": "ioc"})
        self.next_is_sell = True

    def take(self) -> tuple[str, bytes]:
        kind, raw = ("rest", self.sell) if self.next_is_sell else ("cross", self.buy)
        self.next_is_sell = not self.next_is_sell
        return kind, raw


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


# -- Server CPU -------------------------------------------------------------------------------


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) used so far by a process: its main thread and the rest.

    The main thread runs the event loop (HTTP, routes, projections' Python side); the others
    are the engine thread, the SQLite driver threads and the pool of sync dependencies (CPython
    3.11 gives them no OS-level names to tell them apart).
    """
    tick = os.sysconf("SC_CLK_TCK")
    out = {"loop": 0.0, "other": 0.0}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        seconds = (int(fields[11]) + int(fields[12])) / tick
        out["loop" if task.name == str(pid) else "other"] += seconds
    return out


def cpu_per_request(before: dict[str, float], after: dict[str, float],
                    requests: int) -> list[str]:
    """Server CPU microseconds per request: total, main thread, other threads."""
    n = max(1, requests)
    parts = [(after[k] - before[k]) * 1e6 / n for k in ("loop", "other")]
    return [f"{sum(parts):,.0f}", *(f"{p:,.0f}" for p in parts)]


async def settle(pid: int, timeout_s: float = 60.0) -> float:
    """Wait until the server is idle (projections caught up); return the seconds waited."""
    start = time.perf_counter()
    last = sum(thread_cpu(pid).values())
    while time.perf_counter() - start < timeout_s:
        await asyncio.sleep(0.25)
        now = sum(thread_cpu(pid).values())
        if now - last < 0.025:  # under 10% of one core
            break
        last = now
    return time.perf_counter() - start


# -- Driver -------------------------------------------------------------------------------------


def ms(ns: int) -> str:
    return f"{ns / 1e6:.2f}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def server_process(args: argparse.Namespace, data_dir: Path) -> Any:
    port = free_port()
    ready = data_dir / "ready.json"
    command = [sys.executable, __file__, "--serve", "--port", str(port), "--data-dir",
               str(data_dir / "platform"), "--users", str(args.users), "--ready-file",
               str(ready)]
    if args.profile:
        command += ["--profile", args.profile]
    if args.no_pin:
        command.append("--no-pin")
    proc = subprocess.Popen(command)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the benchmark server did not start")
            time.sleep(0.05)
        yield port, json.loads(ready.read_text()), proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def drive(args: argparse.Namespace, port: int, keys: list[list[str]], pid: int) -> None:
    await closed_loop(port, keys, 4, 2.0, 1_000)  # warm-up
    rows = []
    cpu_rows = []
    for in_flight in args.in_flight:
        await settle(pid)
        before = thread_cpu(pid)
        samples, elapsed = await closed_loop(port, keys, in_flight, args.seconds, args.requests)
        cpu_rows.append([str(in_flight), *cpu_per_request(
            before, thread_cpu(pid), len(samples.rest) + len(samples.cross))])
        rest, cross = sorted(samples.rest), sorted(samples.cross)
        both = sorted(rest + cross)
        rows.append([str(in_flight), f"{len(both) / elapsed:,.0f}", ms(percentile(rest, 0.5)),
                     ms(percentile(rest, 0.99)), ms(percentile(cross, 0.5)),
                     ms(percentile(cross, 0.99)), ms(percentile(both, 0.99)),
                     f"{samples.fills / max(1, len(cross)):.2f}", str(samples.errors)])
    print("closed loop (requests in flight, 1 sell resting + 1 IOC buy filling per pair):")
    print_table(["in flight", "orders/s", "rest p50", "rest p99", "fill p50", "fill p99",
                 "all p99 ms", "fills/IOC", "errors"], rows)
    print("server CPU per request, microseconds (main thread = event loop; other threads = "
          "engine, SQLite driver, thread pool):")
    print_table(["in flight", "total", "main", "other"], cpu_rows)
    rows = []
    best = 0.0
    for rate in args.rates:
        await settle(pid)
        samples, dropped = await open_loop(port, keys, rate, args.rate_seconds, 256)
        both = sorted(samples.rest + samples.cross)
        p99 = percentile(both, 0.99) / 1e6
        ok = p99 < P99_GOAL_MS and dropped == 0 and samples.errors == 0
        rows.append([f"{rate:,.0f}", str(len(both)), ms(percentile(both, 0.5)), f"{p99:.2f}",
                     str(dropped), str(samples.errors), "yes" if ok else "no"])
        if ok:
            best = rate
        else:
            break
    print("open loop (latency from the scheduled send time):")
    print_table(["offered/s", "answered", "p50 ms", "p99 ms", "dropped", "errors",
                 f"p99 < {P99_GOAL_MS:g} ms"], rows)
    print(f"sustained orders/s with p99 < {P99_GOAL_MS:g} ms: {best:,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--in-flight", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--seconds", type=float, default=5.0, help="per closed-loop level")
    parser.add_argument("--requests", type=int, default=20_000, help="cap per level")
    parser.add_argument("--rates", type=float, nargs="+",
                        default=[50, 100, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000])
    parser.add_argument("--rate-seconds", type=float, default=4.0)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--profile", help="write a cProfile of the server loop to this file")
    parser.add_argument("--no-pin", action="store_true",
                        help="let the OS place both processes (on a machine shared with others)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ready-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        if not args.no_pin:
            pin(0)
        asyncio.run(serve(args.data_dir, args.port, args.users, args.ready_file,
                          Path(args.profile) if args.profile else None))
        return
    print_preamble("native REST order round trip, server and load generator on separate "
                   "cores, fsync on")
    if not args.no_pin:
        pin(1)
    with tempfile.TemporaryDirectory(prefix="rest-bench-") as tmp, \
            server_process(args, Path(tmp)) as (port, keys, pid):
        asyncio.run(drive(args, port, keys, pid))


if __name__ == "__main__":
    main()
