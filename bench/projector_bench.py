"""Benchmark of the SQL projector: commands/s and rows/s it writes into SQLite and PostgreSQL.

A generated stream (`streams.py`, thin book by default) is applied to a bare engine and cut
into `EventBatch`es of `--batch` commands, each with the balances of the accounts it touched,
the way the engine thread publishes them (untimed). For every backend and every merge size
(`--merge`: the most commands one transaction takes, as the projector merges batches that
queued while it committed), a fresh database gets the setup and warm-up projected (untimed),
then the measured batches are projected in transactions of that size and timed: commands/s,
rows written/s, transaction time p50/p99 (sequential mode). SQLite lives in a temporary
directory; PostgreSQL in a database created on the server named by `--postgres` and dropped
afterwards.

Owns nothing but measurement: it never touches a real data directory and writes no report.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

from measure import frozen_heap, peak_rss_mib, percentile, print_preamble, print_table
from streams import SHAPES, Stream, Timed, add_stream_arguments, build_stream, fresh_engine
from tradehall.adapters.inproc.bus import InprocEventBus
from tradehall.adapters.sql import SqlDatabase
from tradehall.engine import queries
from tradehall.engine.matcher import MatchingEngine
from tradehall.kernel.ids import SYSTEM_ACCOUNTS, AccountId
from tradehall.service.messages import BalanceSnapshot, CommandResult, EventBatch
from tradehall.trading import events as e

Row = list[str]


class Batcher:
    """Applies commands to one engine and wraps each group into an `EventBatch`."""

    def __init__(self) -> None:
        self.engine = MatchingEngine()
        self.seq = 0

    def batches(self, commands: Sequence[Timed], size: int) -> list[EventBatch]:
        return [self._batch(commands[i:i + size]) for i in range(0, len(commands), size)]

    def _batch(self, commands: Sequence[Timed]) -> EventBatch:
        results = []
        accounts: set[AccountId] = set()
        for cmd, ts in commands:
            self.seq += 1
            events = self.engine.apply(cmd, ts)
            results.append(CommandResult(self.seq, ts, events))
            for ev in events:
                if isinstance(ev, e.Trade):
                    accounts.add(ev.maker_account)
                    accounts.add(ev.taker_account)
                elif isinstance(ev, e.OrderAccepted | e.OrderCanceled | e.OrderAmended
                                | e.Deposited):
                    accounts.add(ev.account)
        balances = [BalanceSnapshot(a, b.asset, b.available, b.held)
                    for a in sorted(accounts - SYSTEM_ACCOUNTS)
                    for b in queries.balances(self.engine, a)]
        return EventBatch(first_seq=results[0].seq, last_seq=self.seq, results=results,
                          books=[], balances=balances)


def engine_only(stream: Stream) -> float:
    """Commands/s of a bare engine on the measured commands: how loaded the machine is."""
    engine = fresh_engine(stream)
    apply = engine.apply
    start = time.perf_counter()
    for cmd, ts in stream.measured:
        apply(cmd, ts)
    return len(stream.measured) / (time.perf_counter() - start)


def group(batches: Sequence[EventBatch], merge: int) -> list[list[EventBatch]]:
    """Group consecutive batches into transactions of at most `merge` commands."""
    out: list[list[EventBatch]] = []
    size = merge
    for batch in batches:
        if size + len(batch.results) > merge:
            out.append([])
            size = 0
        out[-1].append(batch)
        size += len(batch.results)
    return out


async def run_case(url: str, backend: str, preload: Sequence[EventBatch],
                   measured: Sequence[EventBatch], merge: int, mode: str) -> Row:
    """Project the preload untimed, then the measured batches in transactions of `merge`.

    `pipelined` runs `SqlProjector.run()` on a subscription holding every measured batch (it
    folds the next transaction while one commits); `sequential` calls `apply()` per group.
    """
    db = await SqlDatabase.open(url)
    try:
        projector = db.projector(None, max_commands=merge)
        for txn in group(preload, 20_000):
            await projector.apply(txn)
        before = (projector.rows, projector.transactions, projector.prepare_ns,
                  projector.commit_ns)
        durations: list[int] = []
        commands = sum(len(b.results) for b in measured)
        clock = time.perf_counter_ns
        start = clock()
        if mode == "pipelined":
            bus = InprocEventBus()
            projector = db.projector(bus.subscribe("bench"), max_commands=merge)
            before = (0, 0, 0, 0)
            for batch in measured:
                bus.publish(batch)
            bus.close()
            await projector.run()
        else:
            for txn in group(measured, merge):
                t0 = clock()
                await projector.apply(txn)
                durations.append(clock() - t0)
        seconds = (clock() - start) / 1e9
        rows = projector.rows - before[0]
        txns = projector.transactions - before[1]
        fold_s = (projector.prepare_ns - before[2]) / 1e9
        commit_s = (projector.commit_ns - before[3]) / 1e9
    finally:
        await db.close()
    lat = sorted(durations)
    p50 = f"{percentile(lat, 0.50) / 1e6:.1f}" if lat else "-"
    p99 = f"{percentile(lat, 0.99) / 1e6:.1f}" if lat else "-"
    return [backend, mode, f"{merge:,}", f"{commands:,}", f"{txns:,}", f"{seconds:.2f}",
            f"{fold_s:.2f}", f"{commit_s:.2f}", f"{commands / seconds:,.0f}",
            f"{rows / seconds:,.0f}", p50, p99]


async def run(args: argparse.Namespace, preload: list[EventBatch],
              measured: list[EventBatch]) -> list[Row]:
    rows: list[Row] = []
    merges = [int(m) for m in args.merge.split(",") if m]
    backends = [b for b in args.backends.split(",") if b]
    modes = [m for m in args.modes.split(",") if m]
    with tempfile.TemporaryDirectory(prefix="projector-bench-", dir=args.dir) as tmp:
        number = 0
        for backend in backends:
            for mode in modes:
                for merge in merges:
                    number += 1
                    if backend == "sqlite":
                        url = f"sqlite:///{Path(tmp) / f'readmodels-{number}.sqlite3'}"
                        rows.append(await run_case(url, backend, preload, measured, merge,
                                                   mode))
                    else:
                        rows.append(await postgres_case(args.postgres, preload, measured,
                                                        merge, mode))
                    print(f"  done: {backend}, {mode}, merge {merge}", flush=True)
    return rows


async def postgres_case(admin_url: str, preload: Sequence[EventBatch],
                        measured: Sequence[EventBatch], merge: int, mode: str) -> Row:
    """Run one case in a fresh database on the PostgreSQL server, dropped afterwards."""
    name = f"tradehall_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        url = admin_url.rsplit("/", 1)[0] + "/" + name
        return await run_case(url, "postgresql", preload, measured, merge, mode)
    finally:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_stream_arguments(parser, books=list(SHAPES), default_book="thin")
    parser.add_argument("--count", type=int, default=200_000, help="measured commands")
    parser.add_argument("--batch", type=int, default=256,
                        help="commands per published batch (an engine group commit)")
    parser.add_argument("--merge", default="256,4096,20000",
                        help="most commands per transaction, comma list")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--modes", default="pipelined,sequential")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a database on the server, used to create and drop the bench's")
    parser.add_argument("--dir", default=None, help="parent of the temporary SQLite files")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Generate the stream and its batches, run every case, print the table."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    print_preamble("SQL projector, one process, loopback PostgreSQL, SQLite in a temp dir")
    start = time.perf_counter()
    stream = build_stream(SHAPES[args.book], seed=args.seed, warmup=args.warmup,
                          count=args.count, accounts=args.accounts)
    batcher = Batcher()
    preload = batcher.batches(stream.setup + stream.warmup, args.batch)
    measured = batcher.batches(stream.measured, args.batch)
    fills = sum(isinstance(ev, e.Trade) for b in measured for r in b.results for ev in r.events)
    print(f"stream {stream.describe()}; {len(measured):,} measured batches of {args.batch}, "
          f"{fills:,} trades (generated in {time.perf_counter() - start:.1f} s)", flush=True)
    with frozen_heap():
        engine_rate = engine_only(stream)
        rows = asyncio.run(run(args, preload, measured))
    print()
    print_table(["backend", "mode", "merge", "commands", "txns", "seconds", "fold s",
                 "commit s", "commands/s", "rows/s", "p50 txn ms", "p99 txn ms"], rows, left=2)
    print(f"engine alone on the same commands: {engine_rate:,.0f} commands/s (machine calibration)")
    print(f"peak RSS: {peak_rss_mib():.0f} MiB (includes the generated stream and batches)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
