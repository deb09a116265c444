"""Benchmark of the scale-out engine: commands through NATS JetStream, events back, failover.

Starts a private `nats-server` with JetStream (temporary store, free port on 127.0.0.1) and
two engine processes (`tradehall serve --role engine`: a leader and a hot standby). This
process plays the API: it publishes commands to the command stream (each acknowledged once
JetStream stored it) and reads the event stream back with an ordered consumer. Three parts:

- open loop at rising rates: each command is published at its scheduled time; its latency is
  from that time to the arrival of the event batch that carries its result (stored, sequenced,
  applied by the leader, published, delivered), p50/p99 per rate;
- burst: the whole measured stream published as fast as the window allows; commands per
  second from the first publish to the last result;
- failover: a steady flow, the leader killed with SIGKILL, and the time from the kill to the
  first result (and the first trade) of a command published after the kill, with the lease
  time it depends on.

The stream is `bench/streams.py`'s thin book (one symbol, ~30% cancels). Everything runs on
this machine's cores together (NATS, two engines, this driver), so the figures are those of
the whole topology squeezed onto one host. Bounded in time and count; talks only to loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from measure import percentile, print_preamble, print_table
from scaleout_topology import free_port, nats_server
from streams import SHAPES, build_stream
from tradehall.adapters.nats.streams import MSG_ID, Topology, connect, decode_batch
from tradehall.engine.codec import encode_command
from tradehall.trading import events as e
from tradehall.trading.commands import EngineCommand

PREFIX = "BENCH"
TRADEHALL = str(Path(sys.executable).parent / "tradehall")


class EngineProcess:
    """One `tradehall serve --role engine` process."""

    def __init__(self, name: str, url: str, lease_s: float, logs: Path) -> None:
        self.name = name
        self.port = free_port()
        env = {**os.environ, "TRADEHALL_NATS_URL": url, "TRADEHALL_NATS_PREFIX": PREFIX,
               "TRADEHALL_ENGINE_LEASE_S": str(lease_s), "TRADEHALL_NODE_ID": name}
        with (logs / f"{name}.log").open("ab") as out:
            self.proc = subprocess.Popen(
                [TRADEHALL, "serve", "--role", "engine", "--no-demo", "--host", "127.0.0.1",
                 "--port", str(self.port), "--data-dir", str(logs / name)],
                stdout=out, stderr=subprocess.STDOUT, env=env)

    def health(self) -> dict[str, object]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz",
                                        timeout=1) as resp:
                body: dict[str, object] = json.loads(resp.read())
                return body
        except OSError as exc:
            if hasattr(exc, "read"):
                body = json.loads(exc.read())
                return body
            return {"role": "down"}

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Driver:
    """Publishes commands and records when each one's result arrives."""

    def __init__(self, js: JetStreamContext, topology: Topology) -> None:
        self.js = js
        self.topology = topology
        self.published = 0
        self.arrived: dict[int, float] = {}  # engine seq -> perf_counter at arrival
        self.traded: dict[int, float] = {}  # seqs whose result has a trade
        self.last_seq = 0
        self.progress = asyncio.Event()

    async def start_reading(self) -> None:
        await self.js.subscribe(self.topology.batch_subject, stream=self.topology.events_stream,
                                ordered_consumer=True, cb=self._on_batch,
                                pending_msgs_limit=-1, pending_bytes_limit=-1,
                                config=api.ConsumerConfig(
                                    deliver_policy=api.DeliverPolicy.NEW))

    async def _on_batch(self, msg: Msg) -> None:
        now = time.perf_counter()
        batch = decode_batch(msg.data)
        for result in batch.results:
            if result.seq <= self.last_seq:
                continue
            self.arrived[result.seq] = now
            if any(isinstance(ev, e.Trade) for ev in result.events):
                self.traded[result.seq] = now
        self.last_seq = max(self.last_seq, batch.last_seq)
        self.progress.set()

    async def publish_sync(self, commands: Sequence[EngineCommand]) -> None:
        for command in commands:
            await self.publish(command)

    async def publish(self, command: EngineCommand) -> int:
        self.published += 1
        ack = await self.js.publish(self.topology.commands_subject, encode_command(command),
                                    headers={MSG_ID: f"bench-{self.published}"})
        return int(ack.seq)

    async def publish_async(self, command: EngineCommand) -> asyncio.Future[api.PubAck]:
        self.published += 1
        return await self.js.publish_async(self.topology.commands_subject,
                                           encode_command(command),
                                           headers={MSG_ID: f"bench-{self.published}"})

    async def wait_for(self, seq: int, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.last_seq < seq:
            self.progress.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no result for seq {seq} (last {self.last_seq})")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.progress.wait(), remaining)


async def open_loop(driver: Driver, commands: list[EngineCommand], rate: float,
                    seconds: float) -> tuple[int, list[int], int]:
    """Publish at `rate`/s for `seconds`; return (count, sorted latencies in µs, late acks)."""
    count = min(len(commands), int(rate * seconds))
    start = time.perf_counter() + 0.05
    scheduled: dict[int, float] = {}
    acks: list[tuple[float, asyncio.Future[api.PubAck]]] = []
    for i in range(count):
        at = start + i / rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        acks.append((at, await driver.publish_async(commands[i])))
    for at, future in acks:
        ack = await future
        scheduled[int(ack.seq)] = at
    await driver.wait_for(max(scheduled))
    latencies = sorted(int((driver.arrived[s] - at) * 1e6) for s, at in scheduled.items())
    return count, latencies, 0


async def burst(driver: Driver, commands: list[EngineCommand]) -> tuple[int, float]:
    start = time.perf_counter()
    futures = [await driver.publish_async(c) for c in commands]
    last = max([int((await f).seq) for f in futures])
    await driver.wait_for(last, timeout_s=300)
    return len(commands), time.perf_counter() - start


async def failover(driver: Driver, engines: list[EngineProcess], commands: list[EngineCommand],
                   rate: float) -> dict[str, float]:
    """Steady flow; kill the leader; time to the first new result and the first new trade."""
    leader = next(p for p in engines if p.health().get("role") == "leader")
    standby = next(p for p in engines if p is not leader)
    killed_at = 0.0
    after: list[int] = []
    start = time.perf_counter()
    for i, command in enumerate(commands):
        at = start + i / rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if not killed_at and time.perf_counter() - start > 2.0:
            leader.kill()
            killed_at = time.perf_counter()
        future = await driver.publish_async(command)
        if killed_at:
            after.append(int((await future).seq))
    await driver.wait_for(max(after), timeout_s=60)
    first_result = min(driver.arrived[s] for s in after)
    traded = [driver.traded[s] for s in after if s in driver.traded]
    role = standby.health().get("role")
    return {"to_first_result_s": first_result - killed_at,
            "to_first_trade_s": (min(traded) - killed_at) if traded else float("nan"),
            "commands_after_kill": float(len(after)), "standby_role_after": float(
                role == "leader")}


async def catch_up(url: str, lease_s: float, tmp: Path,
                   engines: list[EngineProcess]) -> None:
    """A third node replays the whole command stream: how fast one node follows alone."""
    node = EngineProcess("engine-c", url, lease_s, tmp)
    engines.append(node)
    samples: list[tuple[float, int]] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        health = node.health()
        seq = health.get("seq")
        if isinstance(seq, int) and seq > 0:
            samples.append((time.perf_counter(), seq))
            if health.get("role") == "standby":
                break
        await asyncio.sleep(0.05)
    if len(samples) < 2:
        print("\ncatch-up: the third node did not report progress")
        return
    (t0, s0), (t1, s1) = samples[0], samples[-1]
    print(f"\ncatch-up: a third engine node replayed commands {s0:,} to {s1:,} of the stream "
          f"at {(s1 - s0) / (t1 - t0):,.0f} commands/s (consume and apply, one node alone)")


async def run(args: argparse.Namespace, tmp: Path) -> None:
    stream = build_stream(SHAPES[args.book], seed=args.seed, warmup=args.warmup,
                          count=args.count, accounts=args.accounts)
    print(stream.describe())
    with nats_server(tmp / "nats") as nats:
        url = nats.url
        engines = [EngineProcess(n, url, args.lease_s, tmp) for n in ("engine-a", "engine-b")]
        try:
            topology = Topology(url=url, prefix=PREFIX)
            nc = await connect(url, "bench")
            js = nc.jetstream()
            deadline = time.monotonic() + 60
            while {p.health().get("role") for p in engines} != {"leader", "standby"}:
                if time.monotonic() > deadline:
                    raise RuntimeError("the engines did not start; see their logs")
                await asyncio.sleep(0.1)
            driver = Driver(js, topology)
            await driver.start_reading()
            await driver.publish_sync([c for c, _ in stream.setup])
            for chunk in range(0, len(stream.warmup), 5_000):
                await burst(driver, [c for c, _ in stream.warmup[chunk:chunk + 5_000]])
            measured = [c for c, _ in stream.measured]
            rows = []
            used = 0
            for rate in args.rates:
                part = measured[used:used + int(rate * args.rate_seconds)]
                used += len(part)
                count, lat, _ = await open_loop(driver, part, rate, args.rate_seconds)
                rows.append([f"{rate:,.0f}/s", f"{count:,}", f"{percentile(lat, 0.5) / 1000:.2f}",
                             f"{percentile(lat, 0.99) / 1000:.2f}",
                             f"{lat[-1] / 1000:.1f}" if lat else "-"])
            print("\nopen loop: command published at its scheduled time -> its result in the "
                  "event stream (ms)")
            print_table(["rate", "commands", "p50", "p99", "max"], rows)
            part = measured[used:used + args.burst]
            used += len(part)
            count, seconds = await burst(driver, part)
            print(f"\nburst: {count:,} commands in {seconds:.2f} s = {count / seconds:,.0f} "
                  "commands/s (published, stored, applied, published as events, delivered)")
            fail = measured[used:used + int(args.failover_rate * 6)]
            result = await failover(driver, engines, fail, args.failover_rate)
            print(f"\nfailover at {args.failover_rate:,.0f} commands/s, lease "
                  f"{args.lease_s:g} s: leader SIGKILLed -> first new result "
                  f"{result['to_first_result_s'] * 1000:,.0f} ms, first new trade "
                  f"{result['to_first_trade_s'] * 1000:,.0f} ms; "
                  f"{result['commands_after_kill']:,.0f} commands published after the kill, "
                  f"all with results; standby leads: {bool(result['standby_role_after'])}")
            await catch_up(url, args.lease_s, tmp, engines)
            await nc.close()
        finally:
            for p in engines:
                p.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--book", choices=list(SHAPES), default="thin")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20_000)
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--rates", type=float, nargs="+", default=[1_000, 5_000, 10_000])
    parser.add_argument("--rate-seconds", type=float, default=4.0)
    parser.add_argument("--burst", type=int, default=50_000)
    parser.add_argument("--failover-rate", type=float, default=1_000)
    parser.add_argument("--lease-s", type=float, default=3.0)
    args = parser.parse_args()
    print_preamble("scale-out engine over NATS JetStream (private nats-server, leader and "
                   "standby engine processes, this driver), all on this machine")
    with tempfile.TemporaryDirectory(prefix="scaleout-bench-") as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
