"""Benchmark of the engine host: journal, group-commit fsync and apply, through `submit`.

One producer thread calls `EngineHost.submit(batch)` in a closed loop: each call encodes the
batch, hands it to the journal's committer (one `write` + one `fsync` per group), applies it to
the engine while the fsync runs, and returns only once the batch is durable, so its duration is
the batch's acknowledgement latency. With `--mode pipelined` (or `both`) the producer instead
starts batch N+1 (`EngineHost.start`: encode, hand over, apply) before completing batch N
(`EngineHost.complete`: wait for its fsync), so the engine works while the disk does; a batch's
latency then runs from its start to its completion. For every batch size (`--batches`) and
fsync on and off, a fresh host in a temporary directory (removed afterwards) gets the stream's
setup and warm-up (not timed, batches of 4,096), then the measured commands for `--seconds` or
until the stream runs out. An `engine only` row applies the same commands without a host, for
comparison. The generated stream is hidden from the cyclic GC (`gc.freeze()`), so GC time is
the host's.

Owns nothing but measurement: it never touches a real data directory and writes no report.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from array import array
from collections.abc import Sequence
from pathlib import Path

from measure import GcTimer, frozen_heap, peak_rss_mib, percentile, print_preamble, print_table
from streams import SHAPES, Stream, Timed, add_stream_arguments, build_stream, fresh_engine
from tradehall.entrypoints.workers.engine_host import EngineHost, EngineHostConfig, Started

Row = list[str]
PRELOAD_BATCH = 4_096


def submit_all(host: EngineHost, commands: Sequence[Timed], batch: int) -> None:
    """Submit commands in batches, untimed."""
    for i in range(0, len(commands), batch):
        host.submit(commands[i:i + batch])


def run_case(root: Path, stream: Stream, batch: int, fsync: bool, budget_s: float,
             pipelined: bool) -> Row:
    """Measure one (batch size, fsync, mode) case on a fresh host; return its table row.

    Plain: `submit` one batch at a time. Pipelined: `start` batch N+1, then `complete` batch
    N, so N+1 is applied while N's fsync runs; a batch's latency runs from its start to its
    completion."""
    measured = stream.measured
    latencies = array("q")
    with frozen_heap(), EngineHost.open(EngineHostConfig(data_dir=root, fsync=fsync)) as host:
        submit_all(host, stream.setup, PRELOAD_BATCH)
        submit_all(host, stream.warmup, PRELOAD_BATCH)
        # Pre-slice so the loop times submit only, not list slicing.
        batches = [measured[i:i + batch] for i in range(0, len(measured), batch)]
        clock = time.perf_counter_ns
        done = 0
        with GcTimer() as gc_timer:
            start = clock()
            deadline = start + int(budget_s * 1e9)
            now = start
            if pipelined:
                now, done = _pipelined(host, batches, latencies, deadline)
            else:
                submit = host.submit
                for chunk in batches:
                    submit(chunk)
                    after = clock()
                    latencies.append(after - now)
                    now = after
                    done += len(chunk)
                    if now >= deadline:
                        break
            seconds = (now - start) / 1e9
    lat = sorted(latencies)
    return [f"{batch}{' pipelined' if pipelined else ''}", "on" if fsync else "off",
            f"{done:,}", f"{seconds:.2f}",
            f"{done / seconds:,.0f}", f"{percentile(lat, 0.50) / 1e3:,.0f}",
            f"{percentile(lat, 0.99) / 1e3:,.0f}", f"{lat[-1] / 1e3:,.0f}",
            f"{gc_timer.ns / 1e6:.0f}"]


def _pipelined(host: EngineHost, batches: Sequence[Sequence[Timed]], latencies: array[int],
               deadline: int) -> tuple[int, int]:
    """Keep one batch in flight behind the one being applied; return (end time, commands)."""
    clock = time.perf_counter_ns
    done = 0
    inflight: tuple[Started, int] | None = None
    now = clock()
    for chunk in batches:
        started = host.start(chunk)
        if inflight is not None:
            host.complete(inflight[0])
            now = clock()
            latencies.append(now - inflight[1])
            done += len(inflight[0].results)
        inflight = (started, clock())
        if now >= deadline:
            break
    if inflight is not None:
        host.complete(inflight[0])
        now = clock()
        latencies.append(now - inflight[1])
        done += len(inflight[0].results)
    return now, done


def engine_only_row(stream: Stream) -> Row:
    """The same measured commands applied to a bare engine, no host, no journal."""
    with frozen_heap():
        engine = fresh_engine(stream)
        apply = engine.apply
        with GcTimer() as gc_timer:
            start = time.perf_counter_ns()
            for cmd, ts in stream.measured:
                apply(cmd, ts)
            seconds = (time.perf_counter_ns() - start) / 1e9
    count = len(stream.measured)
    return ["engine only", "-", f"{count:,}", f"{seconds:.2f}", f"{count / seconds:,.0f}",
            "-", "-", "-", f"{gc_timer.ns / 1e6:.0f}"]


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_stream_arguments(parser, books=list(SHAPES), default_book="thin")
    parser.add_argument("--count", type=int, default=300_000,
                        help="measured commands available to each case")
    parser.add_argument("--batches", default="1,64,512,4096", help="batch sizes, comma list")
    parser.add_argument("--seconds", type=float, default=3.0, help="time budget per case")
    parser.add_argument("--fsync", choices=["on", "off", "both"], default="both")
    parser.add_argument("--dir", default=None, help="parent of the temporary data directories")
    parser.add_argument("--mode", choices=["plain", "pipelined", "both"], default="both",
                        help="submit one batch at a time, keep one in flight, or both")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Generate the stream, run every case, print the table."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    print_preamble(f"engine host, one producer, temporary directories under "
                   f"{'the system temp dir' if args.dir is None else args.dir}")
    start = time.perf_counter()
    stream = build_stream(SHAPES[args.book], seed=args.seed, warmup=args.warmup,
                          count=args.count, accounts=args.accounts)
    print(f"stream {stream.describe()} (generated in {time.perf_counter() - start:.1f} s)",
          flush=True)
    modes = {"on": [True], "off": [False], "both": [True, False]}[args.fsync]
    kinds = {"plain": [False], "pipelined": [True], "both": [False, True]}[args.mode]
    batches = [int(b) for b in args.batches.split(",") if b]
    rows = [engine_only_row(stream)]
    with tempfile.TemporaryDirectory(prefix="host-bench-", dir=args.dir) as tmp:
        for fsync in modes:
            for number, batch in enumerate(batches):
                for pipelined in kinds:
                    root = Path(tmp) / f"{'sync' if fsync else 'nosync'}-{number}-{pipelined}"
                    rows.append(run_case(root, stream, batch, fsync, args.seconds, pipelined))
                    print(f"  done: batch {batch}, fsync {'on' if fsync else 'off'}"
                          f"{', pipelined' if pipelined else ''}", flush=True)
    print()
    print_table(["batch", "fsync", "commands", "seconds", "commands/s", "p50 ack us",
                 "p99 ack us", "max ack us", "gc ms"], rows)
    print(f"peak RSS: {peak_rss_mib():.0f} MiB (includes the generated stream)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
