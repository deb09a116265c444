"""Trade-to-client latency of the `/v1/ws` fan-out with 1k and 10k connected clients.

One server process (the real platform: engine thread with its fsynced journal, projections,
uvicorn) pinned to CPU 0; client processes pinned to CPU 1 hold the connections, each
subscribed to `trades.BTC-USD`; a driver (also on CPU 1) rests a large ask and sends one
crossing IOC buy per tick through the REST API, so each tick makes one trade and one
`trades` message per client. Latency is measured from the trade's engine time (the `ts` in
the message, taken before the journal write) to the moment the client's socket delivered the
frame, on sampled connections spread over every process (all connections read everything,
else the server would drop them as slow consumers). Clients speak minimal RFC 6455 by hand
(handshake, masked frames out, unmasked frames parsed only on sampled connections) so that
the load generator's own cost stays far below the server's. Bounded: `--seconds` per run.

    .venv/bin/python bench/ws_bench.py --clients 1000 10000 --rate 20 --seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import calendar
import contextlib
import json
import multiprocessing as mp
import os
import resource
import secrets
import socket
import struct
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from measure import percentile
from tradehall.entrypoints.cli.serve import WS_PROTOCOL
from tradehall.kernel.clock import LiveClock

CLOCK = LiveClock()
# --deflate: the server allows permessage-deflate and every client offers it (as browsers
# do). An environment variable, so the spawned server and client processes see it too.
DEFLATE = os.environ.get("WS_BENCH_DEFLATE") == "1"
SERVER_CPU, CLIENT_CPU = 0, 1


def _pin(cpu: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        if os.cpu_count() and os.cpu_count() > cpu:  # type: ignore[operator]
            os.sched_setaffinity(0, {cpu})


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# -- Server process -----------------------------------------------------------------------------


def serve(port: int, data_dir: str, ready: Any) -> None:
    """Run the platform with one instrument and two funded users; report keys on `ready`."""
    _pin(SERVER_CPU)
    _raise_fd_limit()
    asyncio.run(_serve(port, Path(data_dir), ready))


async def _serve(port: int, data_dir: Path, ready: Any) -> None:
    from dataclasses import replace
    from decimal import Decimal

    import uvicorn

    from tradehall.bootstrap import build
    from tradehall.config import Settings
    from tradehall.entrypoints.api.app import create_app
    from tradehall.entrypoints.api.ws.feed import market_data
    from tradehall.kernel.ids import AssetCode, Symbol
    from tradehall.trading import commands as c
    from tradehall.trading.model import InstrumentSpec

    settings = Settings(data_dir=data_dir, demo=False, port=port)
    platform = await build(settings)
    app = create_app(platform, manage=True)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error",
                            access_log=False, ws_ping_interval=None, backlog=8192,
                            ws=WS_PROTOCOL, ws_per_message_deflate=DEFLATE)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for this
        await asyncio.sleep(0.05)
    feed = market_data(platform)
    feed.config = replace(feed.config, idle_timeout_s=3600.0)
    # Where the time goes: engine time -> batch reaches the fan-out, and the fan-out itself.
    arrive: list[int] = []
    fanout: list[int] = []
    on_batch = feed.on_batch

    cpu_per_send: list[float] = []  # CPU (not wall) time of a trade's fan-out per client

    def timed(batch: Any) -> None:
        t0, c0 = CLOCK.now_ns(), time.thread_time_ns()
        if batch.results:
            arrive.append(t0 - batch.results[-1].ts_ns)
        on_batch(batch)
        fanout.append(CLOCK.now_ns() - t0)
        traded = any(type(ev).__name__ == "Trade" for r in batch.results for ev in r.events)
        if traded and feed.connections:
            cpu_per_send.append((time.thread_time_ns() - c0) / len(feed.connections) / 1e3)

    feed.on_batch = timed  # type: ignore[method-assign]
    await platform.engine.execute_many([
        c.AddAsset(asset=AssetCode("USD"), scale=2), c.AddAsset(asset=AssetCode("BTC"), scale=8),
        c.AddInstrument(spec=InstrumentSpec(symbol=Symbol("BTC-USD"), base=AssetCode("BTC"),
                                            quote=AssetCode("USD"), tick_size=Decimal("0.01"),
                                            lot_size=Decimal("0.0001")))])
    keys = []
    for name in ("maker", "taker"):
        user = await platform.auth.create_user(name, "bench password 123")
        key = await platform.auth.create_api_key(user)
        for asset, amount in (("USD", "100000000"), ("BTC", "100000")):
            await platform.trading.deposit(user.account, asset, amount)
        keys.append({"APCA-API-KEY-ID": key.key_id, "APCA-API-SECRET-KEY": key.secret})
    ready.put(keys)
    while True:
        await asyncio.sleep(1)
        stats = {"connections": len(feed.connections), "dropped": feed.dropped,
                 "rss_mib": _rss_mib(), "arrive_p50_ms": percentile(sorted(arrive), .5) / 1e6,
                 "arrive_p99_ms": percentile(sorted(arrive), .99) / 1e6,
                 "fanout_p50_ms": percentile(sorted(fanout), .5) / 1e6,
                 "fanout_p99_ms": percentile(sorted(fanout), .99) / 1e6,
                 "cpu_us_per_send": sorted(cpu_per_send)[len(cpu_per_send) // 2]
                 if cpu_per_send else 0.0}
        with contextlib.suppress(OSError):
            (data_dir / "stats.json").write_text(json.dumps(stats))
        if task.done():
            return


def _rss_mib() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


# -- Client processes ---------------------------------------------------------------------------


def _frame(text: str) -> bytes:
    payload = text.encode()
    mask = secrets.token_bytes(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


SUBSCRIBE = _frame(json.dumps({"type": "subscribe", "channels": ["trades.BTC-USD"]}))
PONG = _frame(json.dumps({"type": "pong"}))


def parse_ts(text: str) -> int:
    """RFC 3339 `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` to UTC nanoseconds."""
    seconds = calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1_000_000_000 + int(text[20:29])


OFFER = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if DEFLATE else ""


class _Client(asyncio.Protocol):
    def __init__(self, sampled: bool, latencies: list[int], counters: dict[str, int]) -> None:
        self.sampled = sampled
        self.latencies = latencies
        self.counters = counters
        self.buffer = bytearray()
        self.upgraded = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.inflate = zlib.decompressobj(wbits=-15)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        transport.write(
            f"GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n{OFFER}"
            f"Sec-WebSocket-Version: 13\r\n\r\n".encode())

    def data_received(self, data: bytes) -> None:
        now = CLOCK.now_ns()
        self.counters["bytes"] += len(data)
        if not self.upgraded.done():
            self.buffer += data
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            ok = self.buffer.startswith(b"HTTP/1.1 101")
            del self.buffer[:end + 4]
            self.upgraded.set_result(ok)
            if not self.sampled:
                self.buffer.clear()
        elif self.sampled:
            self.buffer += data
        if self.sampled:
            self._frames(now)

    def _frames(self, now: int) -> None:
        buf = self.buffer
        while len(buf) >= 2:
            length, offset = buf[1] & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, offset = struct.unpack_from("!H", buf, 2)[0], 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, offset = struct.unpack_from("!Q", buf, 2)[0], 10
            if len(buf) < offset + length:
                return
            payload = bytes(buf[offset:offset + length])
            if buf[0] & 0x40:  # RSV1: a compressed message (RFC 7692)
                payload = self.inflate.decompress(payload + b"\x00\x00\xff\xff")
            del buf[:offset + length]
            if payload.startswith(b'{"type":"trades"'):
                for trade in json.loads(payload)["trades"]:
                    self.latencies.append(now - parse_ts(trade["ts"]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.counters["closed"] += 1


def clients(port: int, count: int, sample_every: int, seconds: float, out: Any,
            start_at: Any) -> None:
    """Hold `count` connections for the run and report sampled latencies on `out`."""
    _pin(CLIENT_CPU)
    _raise_fd_limit()
    out.put(asyncio.run(_clients(port, count, sample_every, seconds, start_at)))


async def _clients(port: int, count: int, sample_every: int, seconds: float,
                   start_at: Any) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    latencies: list[int] = []
    counters = {"bytes": 0, "closed": 0}
    protocols: list[_Client] = []
    for i in range(count):
        proto = _Client(i % sample_every == 0, latencies, counters)
        await loop.create_connection(lambda p=proto: p, "127.0.0.1", port)  # type: ignore[misc]
        protocols.append(proto)
        if not await proto.upgraded:
            raise RuntimeError("the WebSocket handshake was refused")
        assert proto.transport is not None
        proto.transport.write(SUBSCRIBE)
    start_at.wait()  # every process connected: the driver starts trading
    latencies.clear()
    end = loop.time() + seconds
    while loop.time() < end:
        await asyncio.sleep(min(10.0, max(0.0, end - loop.time())))
        for proto in protocols:
            if proto.transport is not None and not proto.transport.is_closing():
                proto.transport.write(PONG)
    await asyncio.sleep(1.0)  # let the last messages arrive
    for proto in protocols:
        if proto.transport is not None:
            proto.transport.close()
    return {"latencies": latencies, "closed": counters["closed"], "bytes": counters["bytes"]}


# -- Driver -------------------------------------------------------------------------------------


@dataclass
class RunResult:
    clients: int
    trades: int
    samples: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    dropped: int
    server_rss_mib: float
    notes: list[str] = field(default_factory=list)


async def _drive(port: int, keys: list[dict[str, str]], rate: float, seconds: float) -> int:
    import httpx

    maker, taker = keys
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        ask = {"symbol": "BTC-USD", "side": "sell", "qty": "90000", "price": "100.00"}
        response = await http.post("/v1/orders", json=ask, headers=maker)
        response.raise_for_status()
        loop = asyncio.get_running_loop()
        start, trades = loop.time(), 0
        buy = {"symbol": "BTC-USD", "side": "buy", "qty": "0.0001", "price": "100.00",
               "time_in_force": "ioc"}
        while loop.time() - start < seconds:
            (await http.post("/v1/orders", json=buy, headers=taker)).raise_for_status()
            trades += 1
            await asyncio.sleep(max(0.0, start + trades / rate - loop.time()))
        return trades


def run(n_clients: int, processes: int, rate: float, seconds: float, sample: int) -> RunResult:
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="ws-bench-") as tmp:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        ready = ctx.Queue()
        server = ctx.Process(target=serve, args=(port, tmp, ready), daemon=True)
        server.start()
        keys = ready.get(timeout=120)
        out = ctx.Queue()
        start_at = ctx.Barrier(processes + 1)
        per = [n_clients // processes + (1 if i < n_clients % processes else 0)
               for i in range(processes)]
        workers = [ctx.Process(target=clients, args=(port, n, sample, seconds + 2, out, start_at),
                               daemon=True) for n in per]
        for w in workers:
            w.start()
        start_at.wait(timeout=600)
        _pin(CLIENT_CPU)
        time.sleep(1.0)
        trades = asyncio.run(_drive(port, keys, rate, seconds))
        reports = [out.get(timeout=seconds + 120) for _ in workers]
        stats = json.loads((Path(tmp) / "stats.json").read_text())
        print("  server:", {k: round(v, 2) for k, v in stats.items()}, flush=True)
        for w in workers:
            w.join(timeout=10)
        server.terminate()
        server.join(timeout=10)
    latencies = sorted(x for r in reports for x in r["latencies"])
    ms = 1e-6
    return RunResult(clients=n_clients, trades=trades, samples=len(latencies),
                     p50_ms=round(percentile(latencies, 0.50) * ms, 2),
                     p99_ms=round(percentile(latencies, 0.99) * ms, 2),
                     max_ms=round((latencies[-1] if latencies else 0) * ms, 2),
                     dropped=stats["dropped"], server_rss_mib=round(stats["rss_mib"], 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument("--rate", type=float, default=20.0, help="trades per second")
    parser.add_argument("--seconds", type=float, default=15.0, help="trading time per run")
    parser.add_argument("--sample", type=int, default=20, help="measure every Nth connection")
    parser.add_argument("--deflate", action="store_true",
                        help="clients offer permessage-deflate and the server accepts it")
    args = parser.parse_args()
    if args.deflate:
        os.environ["WS_BENCH_DEFLATE"] = "1"
    deflate = "on" if args.deflate else "off"
    print(f"uvicorn ws={WS_PROTOCOL.__name__}, permessage-deflate {deflate}")
    print(f"{'clients':>8} {'trades':>7} {'samples':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'max ms':>8} {'dropped':>8} {'server RSS MiB':>15}")
    for n in args.clients:
        r = run(n, args.processes, args.rate, args.seconds, args.sample)
        print(f"{r.clients:>8} {r.trades:>7} {r.samples:>8} {r.p50_ms:>8} {r.p99_ms:>8} "
              f"{r.max_ms:>8} {r.dropped:>8} {r.server_rss_mib:>15}", flush=True)


if __name__ == "__main__":
    main()
