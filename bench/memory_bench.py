"""Benchmark of memory: what `--orders` resting orders (default 1,000,000) cost the engine.

Submits non-crossing limit orders, one symbol, buys below and sells above the mid over
`--levels` price levels per side, round-robin over `--accounts` funded accounts, so every
order rests. Commands are made one at a time and dropped by the script: whatever stays alive
is kept by the engine itself (the order, its command, its client order id, index entries and
the register of client order ids used for duplicate detection).

Two passes, each on a fresh engine:

1. RSS: resident set size before and after (from `/proc/self/statm`), after a full collection;
   also the time of the adds and of one full `gc.collect()` with everything resting.
2. tracemalloc: bytes traced after the setup versus after the orders, and the allocation sites
   holding the most, per resting order (tracing makes this pass several times slower).

Owns nothing but measurement: no files are written.
"""

from __future__ import annotations

import argparse
import gc
import linecache
import sys
import time
import tracemalloc

from measure import current_rss_bytes, peak_rss_mib, print_preamble, print_table
from streams import MID_TICKS, SYMBOL, T0, account_ids, setup_commands
from tradehall.engine.matcher import MatchingEngine
from tradehall.kernel.ids import ClientOrderId
from tradehall.trading import commands as c
from tradehall.trading.model import Side

Row = list[str]
MIB = 1024 * 1024


def funded_engine(accounts: int) -> MatchingEngine:
    """An engine with the benchmark instrument and funded accounts."""
    engine = MatchingEngine()
    for i, cmd in enumerate(setup_commands(account_ids(accounts))):
        engine.apply(cmd, T0 + i)
    return engine


def add_resting(engine: MatchingEngine, orders: int, levels: int, accounts: int) -> float:
    """Submit `orders` non-crossing limit orders; return the seconds it took."""
    ids = account_ids(accounts)
    apply = engine.apply
    ts = T0 + 10_000
    start = time.perf_counter()
    for i in range(orders):
        is_buy = i % 2 == 0
        offset = 1 + (i // 2) % levels
        cmd = c.SubmitOrder(account=ids[i % accounts], client_order_id=ClientOrderId(f"m{i}"),
                            symbol=SYMBOL, side=Side.BUY if is_buy else Side.SELL,
                            qty=1 + i % 10,
                            price=MID_TICKS - offset if is_buy else MID_TICKS + offset)
        apply(cmd, ts + i)
    return time.perf_counter() - start


def resting_count(engine: MatchingEngine) -> tuple[int, int]:
    """Resting orders and occupied levels of the benchmark symbol."""
    book = engine.book(SYMBOL)
    levels = list(book.bids.values()) + list(book.asks.values())
    return sum(level.count for level in levels), len(levels)


def rss_pass(args: argparse.Namespace) -> list[Row]:
    """Measure RSS growth, add rate and a full collection's pause."""
    engine = funded_engine(args.accounts)
    gc.collect()
    before = current_rss_bytes()
    seconds = add_resting(engine, args.orders, args.levels, args.accounts)
    start = time.perf_counter()
    gc.collect()
    gc_s = time.perf_counter() - start
    after = current_rss_bytes()
    resting, levels = resting_count(engine)
    if resting != args.orders:
        raise SystemExit(f"expected {args.orders:,} resting orders, found {resting:,}")
    per_order = (after - before) / resting
    return [
        ["resting orders / levels", f"{resting:,} / {levels:,}", "-"],
        ["adds (non-crossing limits)", f"{seconds:.2f} s", f"{resting / seconds:,.0f} cmd/s"],
        ["RSS before -> after", f"{before / MIB:,.0f} -> {after / MIB:,.0f} MiB",
         f"{per_order:,.0f} bytes/order"],
        ["one full gc.collect()", f"{gc_s * 1e3:,.0f} ms",
         f"{gc_s * 1e9 / resting:,.0f} ns/order"],
    ]


def tracemalloc_pass(args: argparse.Namespace) -> tuple[list[Row], list[Row]]:
    """Measure traced bytes per resting order and where they are allocated."""
    tracemalloc.start()
    engine = funded_engine(args.accounts)
    gc.collect()
    base = tracemalloc.take_snapshot()
    base_current, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    seconds = add_resting(engine, args.orders, args.levels, args.accounts)
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    resting, _ = resting_count(engine)
    rows = [
        ["traced after setup -> after orders",
         f"{base_current / MIB:,.1f} -> {current / MIB:,.1f} MiB",
         f"{(current - base_current) / resting:,.0f} bytes/order"],
        ["traced peak during the adds", f"{peak / MIB:,.1f} MiB", f"{seconds:.1f} s traced"],
    ]
    sites: list[Row] = []
    for stat in snapshot.compare_to(base, "lineno")[:args.top]:
        frame = stat.traceback[0]
        where = f"{frame.filename.rsplit('/', 2)[-2]}/{frame.filename.rsplit('/', 1)[-1]}"
        code = linecache.getline(frame.filename, frame.lineno).strip()
        sites.append([f"{where}:{frame.lineno}", code[:60], f"{stat.size_diff / MIB:,.1f} MiB",
                      f"{stat.size_diff / resting:,.0f}", f"{stat.count_diff / resting:.2f}"])
    return rows, sites


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--levels", type=int, default=1_000, help="price levels per side")
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--top", type=int, default=10, help="allocation sites to list")
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip the traced pass")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run both passes and print the tables."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not 0 < args.levels < MID_TICKS // 5:  # the instrument band is 20%
        raise SystemExit("--levels must keep every price within the instrument's band")
    print_preamble("engine alone, resting orders only")
    rows = rss_pass(args)
    peak = peak_rss_mib()
    gc.collect()
    sites: list[Row] = []
    if not args.no_tracemalloc:
        traced, sites = tracemalloc_pass(args)
        rows.extend(traced)
    print()
    print_table(["measure", "value", "per resting order"], rows)
    if sites:
        print()
        print("allocation sites holding the most after the adds (tracemalloc, by line):")
        print_table(["site", "code", "size", "bytes/order", "blocks/order"], sites, left=2)
    print(f"peak RSS after the RSS pass: {peak:,.0f} MiB; at the end: {peak_rss_mib():,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
