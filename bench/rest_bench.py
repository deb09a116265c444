"""Benchmark of the order round trip through the native REST API on loopback.

The server (the whole embedded platform: engine thread with its fsynced journal, SQL
projections, uvicorn) runs in its own process, pinned to one core; the load generator
(`rest_client.py`: raw asyncio HTTP/1.1 on keep-alive connections, one per in-flight request,
so the client's cost per request stays far below the server's) runs here, pinned to the other,
when there are two. Latency is measured from just before the request is written to the end of
the response body.

Each worker repeats a pair: a resting limit sell (acknowledged, no fill) then an IOC limit buy
at that price from another account (acknowledged and filled), so the book stays bounded. Two
parts:

- closed loop at 1, 4, 16, 64 requests in flight: p50/p99 of each kind and the throughput;
- open loop at rising rates (latency counted from each request's scheduled time, so a stall
  is not hidden): the highest rate whose p99 stays under 10 ms.

`--topology scaleout` measures the same through the scale-out topology instead
(`scaleout_topology.py`: a private nats-server with JetStream, an engine node, optionally a hot
standby with `--standby`, a projector and one API process, each `tradehall serve --role ...`, on
a fresh PostgreSQL database that is dropped after); `--topology both` runs the embedded platform,
then the scale-out topology, and prints a side-by-side summary. Nothing is pinned in scale-out:
four or five processes, PostgreSQL and the load generator share the machine's cores. Its CPU
table gives each process's CPU per request (PostgreSQL: the backends of the run's database), and
a last part (`scaleout_trace.py`) sends orders one at a time and splits their round trip at
JetStream's store times of the command and of its event batch.

Bounded in time and count; talks only to 127.0.0.1; its data directory is temporary and
removed. `--profile FILE` writes a cProfile of the embedded server's event-loop thread.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from measure import percentile, print_preamble, print_table
from rest_client import HOST, closed_loop, open_loop
from scaleout_topology import PREFIX, scale_out
from scaleout_trace import trace

if TYPE_CHECKING:
    from tradehall.bootstrap import Platform

ASSETS = {"USD": 2, "BTC": 8}
P99_GOAL_MS = 10.0


# -- Server process ---------------------------------------------------------------------------


def pin(core: int) -> None:
    """Pin this process to one core when the machine has two or more."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) >= 2:
        os.sched_setaffinity(0, {cores[core % len(cores)]})


async def add_market(platform: Platform, users: int) -> list[list[str]]:
    """Add the benchmark's assets, BTC-USD and funded users with API keys; return the keys."""
    from decimal import Decimal

    from tradehall.kernel.ids import AssetCode, Symbol
    from tradehall.trading import commands as c
    from tradehall.trading.model import InstrumentSpec

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
    if not await platform.read_model.wait_for(platform.engine.last_seq, timeout_s=30):
        raise RuntimeError("the read models did not catch up with the set-up")
    return credentials


async def serve(data_dir: Path, port: int, users: int, ready_file: Path,
                profile: Path | None, read_models: Path | None = None) -> None:
    """Run a platform with the benchmark's market and users until SIGTERM."""
    import signal

    import uvicorn

    from tradehall.bootstrap import build
    from tradehall.config import Settings
    from tradehall.entrypoints.api.app import create_app
    from tradehall.entrypoints.cli.serve import uvicorn_config

    database_url = (f"sqlite:///{read_models / 'read-models.db'}"
                    if read_models is not None else None)
    settings = Settings(data_dir=data_dir, demo=False, fsync=True, host=HOST, port=port,
                        database_url=database_url)
    platform = await build(settings)
    await platform.start()
    credentials = await add_market(platform, users)
    app = create_app(platform)
    server = uvicorn.Server(uvicorn_config(app, settings, lifespan="off"))
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


async def provision(data_dir: Path, users: int, ready_file: Path) -> None:
    """Set up the market and users of a scale-out deployment through an in-process platform
    of role api (NATS and the database from the TRADEHALL_* variables), then stop it."""
    from tradehall.bootstrap import build
    from tradehall.config import Settings

    platform = await build(Settings(data_dir=data_dir, demo=False, role="api", host=HOST))
    await platform.start()
    try:
        credentials = await add_market(platform, users)
    finally:
        await platform.stop()
    await asyncio.to_thread(ready_file.write_text, json.dumps(credentials))


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


@dataclass
class CpuProbe:
    """The CPU counters of the measured side: `read()` gives CPU seconds so far per part (in
    the order of `parts`, the table's column names after the total)."""

    caption: str
    parts: list[str]
    read: Callable[[], dict[str, float]]


def cpu_per_request(before: dict[str, float], after: dict[str, float],
                    requests: int) -> list[float]:
    """CPU microseconds per request: the total, then each part."""
    n = max(1, requests)
    parts = [(after[k] - before[k]) * 1e6 / n for k in after]
    return [sum(parts), *parts]


def machine_busy_s() -> float:
    """CPU seconds the machine's processes have used so far, all cores (/proc/stat: user,
    nice, system; interrupt time, which no process is charged for, left out)."""
    user, nice, system = (int(f) for f in Path("/proc/stat").read_text().split()[1:4])
    return (user + nice + system) / os.sysconf("SC_CLK_TCK")


class OthersMeter:
    """How busy the rest of the machine was: its busy time minus the measured processes' and
    this load generator's, in cores on average since `mark()` (other sessions' work)."""

    def __init__(self, probe: CpuProbe) -> None:
        self.probe = probe
        self.marked = self._now()

    def _now(self) -> tuple[float, float, float]:
        own = os.times()
        ours = sum(self.probe.read().values()) + own.user + own.system
        return machine_busy_s(), ours, time.perf_counter()

    def mark(self) -> None:
        self.marked = self._now()

    def cores(self) -> float:
        busy, ours, at = self._now()
        before_busy, before_ours, before_at = self.marked
        return max(0.0, (busy - before_busy) - (ours - before_ours)) / max(1e-9,
                                                                             at - before_at)


async def settle(probe: CpuProbe, timeout_s: float = 60.0) -> float:
    """Wait until the server is idle (projections caught up); return the seconds waited."""
    start = time.perf_counter()
    last = sum(probe.read().values())
    while time.perf_counter() - start < timeout_s:
        await asyncio.sleep(0.25)
        now = sum(probe.read().values())
        if now - last < 0.025:  # under 10% of one core
            break
        last = now
    return time.perf_counter() - start


# -- Driver -------------------------------------------------------------------------------------


@dataclass
class Level:
    """One closed-loop level's figures, for the side-by-side summary (latencies in ns)."""

    in_flight: int
    rate: float
    rest: tuple[int, int]
    fill: tuple[int, int]
    cpu_us: float  # CPU per request, every measured process


@dataclass
class Outcome:
    levels: list[Level] = field(default_factory=list)
    sustained: float = 0.0


def ms(ns: int) -> str:
    return f"{ns / 1e6:.2f}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def server_process(args: argparse.Namespace,
                   data_dir: Path) -> Iterator[tuple[int, list[list[str]], int]]:
    port = free_port()
    ready = data_dir / "ready.json"
    command = [sys.executable, __file__, "--serve", "--port", str(port), "--data-dir",
               str(data_dir / "platform"), "--users", str(args.users), "--ready-file",
               str(ready)]
    if args.profile:
        command += ["--profile", args.profile]
    folder = None
    if args.read_models_dir is not None:
        folder = Path(tempfile.mkdtemp(prefix="rest-bench-", dir=args.read_models_dir))
        command += ["--read-models", str(folder)]
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
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


async def run_closed(args: argparse.Namespace, port: int, keys: list[list[str]],
                     probe: CpuProbe, outcome: Outcome) -> None:
    rows = []
    cpu_rows = []
    others = OthersMeter(probe)
    for in_flight in args.in_flight:
        await settle(probe)
        before = probe.read()
        others.mark()
        samples, elapsed = await closed_loop(port, keys, in_flight, args.seconds, args.requests)
        cpu = cpu_per_request(before, probe.read(), len(samples.rest) + len(samples.cross))
        cpu_rows.append([str(in_flight), *(f"{us:,.0f}" for us in cpu),
                         f"{others.cores():.2f}"])
        rest, cross = sorted(samples.rest), sorted(samples.cross)
        both = sorted(rest + cross)
        level = Level(in_flight, len(both) / elapsed,
                      (percentile(rest, 0.5), percentile(rest, 0.99)),
                      (percentile(cross, 0.5), percentile(cross, 0.99)), cpu[0])
        outcome.levels.append(level)
        rows.append([str(in_flight), f"{level.rate:,.0f}", ms(level.rest[0]), ms(level.rest[1]),
                     ms(level.fill[0]), ms(level.fill[1]), ms(percentile(both, 0.99)),
                     f"{samples.fills / max(1, len(cross)):.2f}", str(samples.errors)])
    print("closed loop (requests in flight, 1 sell resting + 1 IOC buy filling per pair):")
    print_table(["in flight", "orders/s", "rest p50", "rest p99", "fill p50", "fill p99",
                 "all p99 ms", "fills/IOC", "errors"], rows)
    print(probe.caption)
    print_table(["in flight", "total", *probe.parts, "others (cores)"], cpu_rows)
    print("(others: CPU the rest of the machine used meanwhile: other sessions' work, "
          "PostgreSQL's background processes)")


async def drive(args: argparse.Namespace, port: int, keys: list[list[str]],
                probe: CpuProbe) -> Outcome:
    outcome = Outcome()
    others = OthersMeter(probe)
    await closed_loop(port, keys, 4, 2.0, 1_000)  # warm-up
    await run_closed(args, port, keys, probe, outcome)
    rows = []
    for rate in args.rates:
        await settle(probe)
        samples, dropped = await open_loop(port, keys, rate, args.rate_seconds, 256)
        both = sorted(samples.rest + samples.cross)
        p99 = percentile(both, 0.99) / 1e6
        ok = p99 < P99_GOAL_MS and dropped == 0 and samples.errors == 0
        rows.append([f"{rate:,.0f}", str(len(both)), ms(percentile(both, 0.5)), f"{p99:.2f}",
                     str(dropped), str(samples.errors), "yes" if ok else "no"])
        if ok:
            outcome.sustained = rate
        else:
            break
    print("open loop (latency from the scheduled send time):")
    print_table(["offered/s", "answered", "p50 ms", "p99 ms", "dropped", "errors",
                 f"p99 < {P99_GOAL_MS:g} ms"], rows)
    print(f"sustained orders/s with p99 < {P99_GOAL_MS:g} ms: {outcome.sustained:,.0f}")
    print(f"machine: the rest of it used {others.cores():.2f} cores on average during this "
          "part; load average at its end "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return outcome


# -- Topologies -----------------------------------------------------------------------------------


def run_embedded(args: argparse.Namespace) -> Outcome:
    if not args.no_pin:
        pin(1)
    with tempfile.TemporaryDirectory(prefix="rest-bench-") as tmp, \
            server_process(args, Path(tmp)) as (port, keys, pid):
        probe = CpuProbe("server CPU per request, microseconds (main thread = event loop; "
                         "other threads = engine, SQLite driver, thread pool):",
                         ["main", "other"], lambda: thread_cpu(pid))
        return asyncio.run(drive(args, port, keys, probe))


def provision_process(args: argparse.Namespace, folder: Path,
                      env: dict[str, str]) -> list[list[str]]:
    """Run `--provision` in a child process with the deployment's environment."""
    ready = folder / "credentials.json"
    subprocess.run([sys.executable, __file__, "--provision", "--data-dir",
                    str(folder / "provision"), "--users", str(args.users), "--ready-file",
                    str(ready)], env=env, check=True, timeout=300)
    credentials: list[list[str]] = json.loads(ready.read_text())
    return credentials


def run_scaleout(args: argparse.Namespace) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="rest-bench-scaleout-") as tmp, scale_out(
            Path(tmp), postgres=args.postgres, standby=args.standby,
            provision=lambda env: provision_process(args, Path(tmp), env)) as (
                deployment, keys):
        print(f"scale-out: nats-server, engine{' + hot standby' if args.standby else ''}, "
              f"projector, api on PostgreSQL database {deployment.database}; "
              f"{deployment.processes()} processes and this load generator on "
              f"{os.cpu_count()} cores, no pinning (it cannot hold with this many processes)")
        probe = CpuProbe("CPU per request of each scale-out process, microseconds "
                         "(postgres = the backends of this run's database):",
                         [*(r.name for r in deployment.roles), "nats", "postgres"],
                         deployment.cpu_seconds)

        async def measure() -> Outcome:
            outcome = await drive(args, deployment.api_port, keys, probe)
            await settle(probe)
            await trace(deployment.api_port, keys, deployment.nats.url, PREFIX,
                        seconds=args.trace_seconds)
            return outcome
        return asyncio.run(measure())


def print_summary(args: argparse.Namespace, embedded: Outcome, scaleout: Outcome) -> None:
    rows = []
    for e, s in zip(embedded.levels, scaleout.levels, strict=True):
        rows.append([str(e.in_flight), f"{e.rate:,.0f}", f"{s.rate:,.0f}",
                     f"{ms(e.rest[0])} / {ms(e.rest[1])}", f"{ms(s.rest[0])} / {ms(s.rest[1])}",
                     f"{ms(e.fill[0])} / {ms(e.fill[1])}", f"{ms(s.fill[0])} / {ms(s.fill[1])}",
                     f"{e.cpu_us:,.0f}", f"{s.cpu_us:,.0f}"])
    print("side by side (closed loop; latencies p50 / p99 ms; CPU per order in microseconds, "
          "all processes of the topology):")
    print_table(["in flight", "embedded orders/s", "scale-out orders/s", "embedded rest",
                 "scale-out rest", "embedded fill", "scale-out fill", "embedded CPU",
                 "scale-out CPU"], rows)

    def sustained(outcome: Outcome) -> str:
        if outcome.sustained:
            return f"{outcome.sustained:,.0f}"
        return f"none (not even {args.rates[0]:,.0f}/s)"
    print(f"sustained orders/s with p99 < {P99_GOAL_MS:g} ms: embedded "
          f"{sustained(embedded)}, scale-out {sustained(scaleout)}")


def describe(args: argparse.Namespace) -> str:
    embedded = "server and load generator on separate cores, fsync on"
    if args.no_pin:
        embedded = "server and load generator placed by the OS, fsync on"
    if args.read_models_dir is not None:
        embedded += f", SQLite read models under {args.read_models_dir}"
    scaleout = ("scale-out (nats-server with JetStream, engine"
                f"{' + standby' if args.standby else ''}, projector, api, PostgreSQL), "
                "no pinning")
    if args.topology == "embedded":
        return f"native REST order round trip, {embedded}"
    if args.topology == "scaleout":
        return f"native REST order round trip through the {scaleout}"
    return f"native REST order round trip: embedded ({embedded}), then {scaleout}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topology", choices=["embedded", "scaleout", "both"],
                        default="embedded")
    parser.add_argument("--in-flight", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--seconds", type=float, default=5.0, help="per closed-loop level")
    parser.add_argument("--requests", type=int, default=20_000, help="cap per level")
    parser.add_argument("--rates", type=float, nargs="+",
                        default=[50, 100, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000])
    parser.add_argument("--rate-seconds", type=float, default=4.0)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--profile", help="write a cProfile of the embedded server's loop to "
                        "this file")
    parser.add_argument("--no-pin", action="store_true",
                        help="let the OS place both processes (on a machine shared with others)")
    parser.add_argument("--standby", action="store_true",
                        help="scale-out: run a second engine node as hot standby")
    parser.add_argument("--trace-seconds", type=float, default=3.0,
                        help="scale-out: orders sent one at a time to split the round trip")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432",
                        help="scale-out: local PostgreSQL server to create the run's database "
                        "on (dropped after)")
    parser.add_argument("--read-models-dir", type=Path,
                        help="embedded: keep the SQLite read models in a temporary folder "
                        "under this one (another device than the journal's, e.g. /dev/shm)")
    parser.add_argument("--read-models", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--provision", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ready-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        if not args.no_pin:
            pin(0)
        asyncio.run(serve(args.data_dir, args.port, args.users, args.ready_file,
                          Path(args.profile) if args.profile else None, args.read_models))
        return
    if args.provision:
        asyncio.run(provision(args.data_dir, args.users, args.ready_file))
        return
    if urllib.parse.urlsplit(args.postgres).hostname != HOST:
        parser.error(f"--postgres must be a server on {HOST}")
    print_preamble(describe(args))
    print(f"load average at the start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    cores = os.sched_getaffinity(0)
    outcomes: dict[str, Outcome] = {}
    if args.topology in ("embedded", "both"):
        if args.topology == "both":
            print("\n== embedded platform (one process) ==")
        outcomes["embedded"] = run_embedded(args)
        os.sched_setaffinity(0, cores)  # the scale-out processes inherit it
    if args.topology in ("scaleout", "both"):
        if args.topology == "both":
            print("\n== scale-out topology ==")
        outcomes["scaleout"] = run_scaleout(args)
    if len(outcomes) == 2:
        print("\n== summary ==")
        print_summary(args, outcomes["embedded"], outcomes["scaleout"])


if __name__ == "__main__":
    main()
