"""Benchmark of the matching engine alone: in-process, one core, risk checks and ledger included.

For each book shape (`bench/streams.py`: thin ~40 levels / ~500 resting orders, deep ~300
levels / ~14k) the script generates the stream up-front (not timed), builds a fresh engine
with the setup and warm-up applied (not timed), then measures the same measured commands
several ways, each on its own fresh engine:

- `untimed`: a bare `for cmd, ts in stream: apply(cmd, ts)` loop; best and median of
  `--repeat` runs. This is the throughput figure.
- `apply_batch of 512`: the same commands through `MatchingEngine.apply_batch` in slices of
  512 (sliced before the clock starts), as the engine host drives it: the loop and the calls
  stay in compiled code, each slice's events live until the slice ends, and the collector's
  young threshold is the host's (`YOUNG_GC_THRESHOLD`, set while the pass runs); best of
  `--repeat`.
- `untimed, gc off`: the same loop with the cyclic garbage collector disabled, to show what
  the collector costs.
- `per-call timed`: each `apply` wrapped in `time.perf_counter_ns()`; gives p50/p99/p99.9/max
  latency per command (the two clock reads add roughly 0.1 us per command).
- `baseline`: the dict-of-deques toy book of `bench/baseline_book.py` on the same stream,
  matching only (no risk, ledger, events or validation), for context.

The untimed and the timed runs must end on the same state hash, which is checked. Objects
alive before a run (the generated stream) are hidden from the cyclic garbage collector with
`gc.freeze()`, so GC time is the engine's own. `--profile N` instead
runs cProfile over one measured pass and prints the top N functions. Owns nothing but
measurement: no files are written.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import statistics
import sys
import time
from array import array

from baseline_book import SimpleBook, run, translate
from measure import (
    GcTimer,
    frozen_heap,
    peak_rss_mib,
    percentile,
    print_preamble,
    print_table,
)
from streams import SHAPES, Stream, add_stream_arguments, build_stream, fresh_engine
from tradehall.engine.matcher import MatchingEngine
from tradehall.engine.state import state_hash
from tradehall.entrypoints.workers.engine_host import YOUNG_GC_THRESHOLD

Row = list[str]


def run_untimed(stream: Stream, gc_enabled: bool) -> tuple[float, GcTimer, MatchingEngine]:
    """One bare pass over the measured commands; returns (seconds, gc timer, engine)."""
    with frozen_heap():
        engine = fresh_engine(stream)
        apply = engine.apply
        measured = stream.measured
        with GcTimer(gc_enabled) as gc_timer:
            start = time.perf_counter_ns()
            for cmd, ts in measured:
                apply(cmd, ts)
            elapsed = time.perf_counter_ns() - start
    return elapsed / 1e9, gc_timer, engine


BATCH = 512


def run_batched(stream: Stream) -> tuple[float, GcTimer, MatchingEngine]:
    """One pass through `apply_batch` in slices of BATCH; returns (seconds, gc timer, engine)."""
    with frozen_heap():
        engine = fresh_engine(stream)
        apply_batch = engine.apply_batch
        measured = stream.measured
        batches = [measured[i:i + BATCH] for i in range(0, len(measured), BATCH)]
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], YOUNG_GC_THRESHOLD), *thresholds[1:])
        try:
            with GcTimer() as gc_timer:
                start = time.perf_counter_ns()
                for batch in batches:
                    apply_batch(batch)
                elapsed = time.perf_counter_ns() - start
        finally:
            gc.set_threshold(*thresholds)
    return elapsed / 1e9, gc_timer, engine


def run_timed(stream: Stream) -> tuple[float, array[int], GcTimer, MatchingEngine]:
    """One pass timing every `apply`; returns (seconds, latencies in ns, gc timer, engine)."""
    latencies = array("q", bytes(8 * len(stream.measured)))
    with frozen_heap():
        engine = fresh_engine(stream)
        apply = engine.apply
        clock = time.perf_counter_ns
        with GcTimer() as gc_timer:
            start = clock()
            for i, (cmd, ts) in enumerate(stream.measured):
                before = clock()
                apply(cmd, ts)
                latencies[i] = clock() - before
            elapsed = clock() - start
    return elapsed / 1e9, latencies, gc_timer, engine


def run_baseline(stream: Stream, repeat: int) -> tuple[float, int]:
    """Best time of the toy book over the measured ops, after replaying setup and warm-up."""
    warm_ops = translate(stream.warmup)
    ops = translate(stream.measured)
    best, fills = float("inf"), 0
    for _ in range(repeat):
        with frozen_heap():
            book = SimpleBook()
            run(book, warm_ops)
            book.fills = 0
            gc.collect()
            start = time.perf_counter_ns()
            run(book, ops)
            best = min(best, (time.perf_counter_ns() - start) / 1e9)
            fills = book.fills
    return best, fills


def rate_row(book: str, mode: str, count: int, seconds: float, gc_timer: GcTimer | None,
             latencies: list[int] | None = None) -> Row:
    """Format one table row."""
    lat = latencies or []
    def us(fraction: float) -> str:
        return f"{percentile(lat, fraction) / 1e3:.1f}" if lat else "-"
    return [book, mode, f"{count:,}", f"{seconds:.3f}", f"{count / seconds:,.0f}",
            f"{seconds / count * 1e6:.2f}", us(0.50), us(0.99), us(0.999),
            f"{lat[-1] / 1e3:.0f}" if lat else "-",
            f"{gc_timer.ns / 1e6:.0f} ({gc_timer.collections})" if gc_timer else "-"]


def kind_rows(stream: Stream, latencies: array[int]) -> list[Row]:
    """Per-call latency by kind of command, from the timed run."""
    by_kind: dict[str, list[int]] = {}
    for kind, latency in zip(stream.stats.kind_of, latencies, strict=True):
        by_kind.setdefault(kind, []).append(latency)
    total = sum(latencies)
    rows: list[Row] = []
    for kind, values in sorted(by_kind.items(), key=lambda kv: -sum(kv[1])):
        values.sort()
        spent = sum(values)
        rows.append([stream.shape.name, kind, f"{len(values):,}",
                     f"{len(values) / len(latencies):.1%}", f"{spent / len(values) / 1e3:.2f}",
                     f"{percentile(values, 0.5) / 1e3:.1f}",
                     f"{percentile(values, 0.99) / 1e3:.1f}", f"{spent / total:.1%}"])
    return rows


def bench_book(stream: Stream, repeat: int, baseline: bool) -> tuple[list[Row], list[Row]]:
    """All rows of one book shape, and its per-kind latency rows."""
    name, count = stream.shape.name, len(stream.measured)
    rows: list[Row] = []
    hashes: set[str] = set()
    runs: list[tuple[float, GcTimer]] = []
    batched: list[tuple[float, GcTimer]] = []
    for i in range(repeat):  # alternating, so both modes see the same machine
        seconds, gc_timer, engine = run_untimed(stream, gc_enabled=True)
        if i == 0:
            hashes.add(state_hash(engine))
        del engine  # one engine alive at a time
        runs.append((seconds, gc_timer))
        seconds, gc_timer, engine = run_batched(stream)
        if i == 0:
            hashes.add(state_hash(engine))
        del engine
        batched.append((seconds, gc_timer))
    best = min(runs, key=lambda r: r[0])
    rows.append(rate_row(name, f"untimed, best of {repeat}", count, best[0], best[1]))
    if repeat > 1:
        median = statistics.median(seconds for seconds, _ in runs)
        rows.append(rate_row(name, f"untimed, median of {repeat}", count, median, None))
    best = min(batched, key=lambda r: r[0])
    rows.append(rate_row(name, f"apply_batch of {BATCH}, best of {repeat}", count, best[0],
                         best[1]))
    seconds, gc_timer, _ = run_untimed(stream, gc_enabled=False)
    rows.append(rate_row(name, "untimed, gc off", count, seconds, gc_timer))
    seconds, latencies, gc_timer, engine = run_timed(stream)
    hashes.add(state_hash(engine))
    del engine
    rows.append(rate_row(name, "per-call timed", count, seconds, gc_timer, sorted(latencies)))
    kinds = kind_rows(stream, latencies)
    if len(hashes) != 1:
        raise SystemExit(f"engine runs of {name} ended on different state hashes: {hashes}")
    if baseline:
        seconds, fills = run_baseline(stream, repeat)
        row = rate_row(name, "baseline dict-of-deques", count, seconds, None)
        row[1] += f" ({fills / count:.2f} fills/cmd)"
        rows.append(row)
    return rows, kinds


def profile_book(stream: Stream, top: int) -> None:
    """Run cProfile over one measured pass and print the top functions by own time."""
    with frozen_heap():
        engine = fresh_engine(stream)
        apply = engine.apply
        profiler = cProfile.Profile()
        profiler.enable()
        for cmd, ts in stream.measured:
            apply(cmd, ts)
        profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_stream_arguments(parser, books=[*SHAPES, "both"], default_book="both")
    parser.add_argument("--count", type=int, default=200_000, help="measured commands")
    parser.add_argument("--repeat", type=int, default=3, help="untimed passes per book")
    parser.add_argument("--no-baseline", action="store_true", help="skip the toy-book row")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="only run cProfile over one pass and print the top N functions")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Generate the streams, run every case, print the table."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    print_preamble("engine alone, one thread")
    books = list(SHAPES) if args.book == "both" else [args.book]
    rows: list[Row] = []
    kinds: list[Row] = []
    for name in books:
        start = time.perf_counter()
        stream = build_stream(SHAPES[name], seed=args.seed, warmup=args.warmup,
                              count=args.count, accounts=args.accounts)
        print(f"stream {stream.describe()} (generated in {time.perf_counter() - start:.1f} s)",
              flush=True)
        if args.profile:
            profile_book(stream, args.profile)
            continue
        book_rows, kind_table = bench_book(stream, args.repeat, not args.no_baseline)
        rows.extend(book_rows)
        kinds.extend(kind_table)
        del stream
        gc.collect()
    if rows:
        print()
        print_table(["book", "mode", "commands", "seconds", "commands/s", "us/cmd", "p50 us",
                     "p99 us", "p99.9 us", "max us", "gc ms (runs)"], rows, left=2)
        print()
        print("per-call latency by kind of command (timed run):")
        print_table(["book", "kind", "commands", "share", "mean us", "p50 us", "p99 us",
                     "share of time"], kinds, left=2)
    print(f"peak RSS: {peak_rss_mib():.0f} MiB (includes the generated stream)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
