"""Load and soak of the fallback service with Locust, on loopback, bounded in time and users.

The server (the embedded platform in fallback mode: API, read models on SQLite or PostgreSQL)
runs in its own process. It is given `--users` users, each with two resting orders and a spot
holding, plus `--dealers` dealers, then put into fallback. Locust (`bench/locust_fallback.py`)
then runs headless for `--minutes` with all users logged in: users poll their requests and
snapshot and file cancels and closes; dealers work the queue in bulk. Every `--sample-s`
seconds the server's resident memory is sampled, so a soak shows whether it stays flat.

Prints per-endpoint request counts, failures, p50/p99 and throughput, and the memory series.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import print_preamble, print_table

HOST = "127.0.0.1"
PASSWORD = "load test password"


async def serve(data_dir: Path, port: int, users: int, dealers: int, ready_file: Path,
                database_url: str | None) -> None:
    """Run a fallback-mode platform with the load's users until SIGTERM."""
    import signal
    from decimal import Decimal

    import uvicorn

    from tradehall.bootstrap import build
    from tradehall.config import Settings
    from tradehall.entrypoints.api.app import create_app
    from tradehall.fallback.model import PlatformMode
    from tradehall.kernel.ids import AssetCode, Symbol
    from tradehall.service.trading import PlaceOrder
    from tradehall.trading import commands as c
    from tradehall.trading.model import InstrumentSpec

    settings = Settings(data_dir=data_dir, demo=False, fsync=False, host=HOST, port=port,
                        database_url=database_url, rate_limit_ip_per_s=0,
                        rate_limit_user_per_s=0, rate_limit_key_per_s=0)
    platform = await build(settings)
    await platform.start()
    await platform.engine.execute_many([
        c.AddAsset(asset=AssetCode("USD"), scale=2), c.AddAsset(asset=AssetCode("BTC"), scale=8),
        c.AddInstrument(spec=InstrumentSpec(
            symbol=Symbol("BTC-USD"), base=AssetCode("BTC"), quote=AssetCode("USD"),
            tick_size=Decimal("0.01"), lot_size=Decimal("0.0001")))])
    maker = await platform.auth.create_user("loadmaker", PASSWORD)
    await platform.trading.deposit(maker.account, "BTC", "1000")
    names = []
    for i in range(users):
        user = await platform.auth.create_user(f"load{i}", PASSWORD)
        await platform.trading.deposit(user.account, "USD", "1000000")
        await platform.trading.place_order(maker.account, PlaceOrder(
            symbol="BTC-USD", side="sell", qty="0.01", price="50000"))
        await platform.trading.place_order(user.account, PlaceOrder(
            symbol="BTC-USD", side="buy", qty="0.01", price="50000", time_in_force="ioc"))
        for price in ("40000", "41000"):
            await platform.trading.place_order(user.account, PlaceOrder(
                symbol="BTC-USD", side="buy", qty="0.01", price=price))
        names.append(user.username)
    desk = [(await platform.auth.create_user(f"dealer{i}", PASSWORD, ("dealer",))).username
            for i in range(dealers)]
    await platform.read_model.wait_for(platform.bus.last_seq, timeout_s=60)
    await platform.fallback.modes.set(PlatformMode.FALLBACK, actor="load",
                                      reason="load test")
    app = create_app(platform)
    # Keep-alive longer than any client's pause (Locust waits up to 6 s): otherwise the server
    # closes a connection just as the client reuses it (a reset that says nothing of the load).
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_level="warning",
                                           access_log=False, lifespan="off",
                                           timeout_keep_alive=65))
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: setattr(server, "should_exit", True))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.01)
    await asyncio.to_thread(ready_file.write_text, json.dumps({"users": names,
                                                               "dealers": desk}))
    await task
    await platform.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        total += int(fields[11]) + int(fields[12])
    return total / tick


def database_pids() -> list[int]:
    """PostgreSQL's server processes on this machine (its CPU is part of each request)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--dealers", type=int, default=5)
    parser.add_argument("--spawn-rate", type=float, default=20.0)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--sample-s", type=float, default=30.0)
    parser.add_argument("--database-url", default=None,
                        help="read models and requests on this database (default SQLite)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--ready-file", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.data_dir, args.port, args.users, args.dealers, args.ready_file,
                          args.database_url))
        return
    if not 1 <= args.users <= 20_000 or not 0 < args.minutes <= 240:
        parser.error("--users must be 1..20000 and --minutes 0..240")
    print_preamble(f"fallback load: {args.users} users, {args.dealers} dealers, "
                   f"{args.minutes:g} min, {'PostgreSQL' if args.database_url else 'SQLite'}")
    with tempfile.TemporaryDirectory(prefix="tradehall-fallback-load-") as tmp:
        run(args, Path(tmp))


def run(args: argparse.Namespace, tmp: Path) -> None:
    port = free_port()
    ready = tmp / "ready.json"
    command = [sys.executable, __file__, "--serve", "--port", str(port), "--data-dir",
               str(tmp / "platform"), "--users", str(args.users), "--dealers",
               str(args.dealers), "--ready-file", str(ready)]
    if args.database_url:
        command += ["--database-url", args.database_url]
    server = subprocess.Popen(command)
    try:
        deadline = time.monotonic() + 60 + args.users * 0.5
        while not ready.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the load server did not start")
            time.sleep(0.2)
        samples = [(0.0, rss_mib(server.pid))]
        db_pids = database_pids() if args.database_url else []
        cpu_before = (cpu_s([server.pid]), cpu_s(db_pids))
        locust_bin = Path(sys.executable).with_name("locust")
        env = dict(os.environ, TRADEHALL_LOAD_USERS=str(ready))
        seconds = int(args.minutes * 60)
        load = subprocess.Popen([
            str(locust_bin), "-f", str(Path(__file__).with_name("locust_fallback.py")),
            "--headless", "--host", f"http://{HOST}:{port}", "-u", str(args.users),
            "-r", str(args.spawn_rate), "-t", f"{seconds}s", "--csv", str(tmp / "stats"),
            "--only-summary", "--stop-timeout", "10", "--loglevel", "WARNING"], env=env)
        started = time.monotonic()
        while load.poll() is None:
            time.sleep(min(args.sample_s, 5.0))
            elapsed = time.monotonic() - started
            if elapsed - samples[-1][0] >= args.sample_s:
                samples.append((elapsed, rss_mib(server.pid)))
            if elapsed > seconds + 120:
                load.kill()
        samples.append((time.monotonic() - started, rss_mib(server.pid)))
        # Backends forked during the run count from zero; those from before, from the start.
        cpu = (cpu_s([server.pid]) - cpu_before[0],
               cpu_s(database_pids() if args.database_url else []) - cpu_before[1])
        report(tmp / "stats_stats.csv", samples, args, cpu, time.monotonic() - started)
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()


def report(stats_csv: Path, samples: list[tuple[float, float]], args: argparse.Namespace,
           cpu: tuple[float, float], elapsed_s: float) -> None:
    rows = []
    total = 0
    with stats_csv.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            rows.append([row["Name"], row["Request Count"], row["Failure Count"],
                         row["50%"], row["99%"], f"{float(row['Requests/s']):.1f}"])
            if row["Name"] == "Aggregated":
                total = int(row["Request Count"])
    print(f"\nconcurrent logged-in users: {args.users} (+{args.dealers} dealers)")
    print_table(["endpoint", "requests", "failures", "p50 ms", "p99 ms", "req/s"], rows)
    if total:
        print(f"\nserver CPU: {cpu[0]:.0f} s in {elapsed_s:.0f} s "
              f"({cpu[0] / elapsed_s:.2f} cores), {cpu[0] / total * 1000:.2f} ms per request")
        if args.database_url:
            print(f"PostgreSQL CPU: {cpu[1]:.0f} s ({cpu[1] / elapsed_s:.2f} cores), "
                  f"{cpu[1] / total * 1000:.2f} ms per request")
    print("\nserver resident memory (MiB) over the run:")
    print("  " + ", ".join(f"{t / 60:.1f} min: {m:.0f}" for t, m in samples))
    # Warm-up: the login storm (argon2 takes 64 MiB per hash in flight) is over by then.
    warm = next((m for t, m in samples if t >= min(300.0, samples[-1][0] / 3)), samples[0][1])
    print(f"  peak {max(m for _, m in samples):.0f} MiB; growth after warm-up "
          f"({min(5.0, samples[-1][0] / 180):.1f} min): {samples[-1][1] - warm:+.1f} MiB")


if __name__ == "__main__":
    main()
