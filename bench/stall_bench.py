"""Benchmark of the engine's longest stops while one account's client order ids pile up.

The engine keeps every client order id an account used for the retention window (a day by
default) to answer a resubmission with the original order. A market maker places and cancels
millions of orders a day on one account, so that account's register and the list of finished
orders grow to millions of entries. This script does exactly that: one account places a
resting limit order and cancels it, `--orders` times, all inside the window, and times every
`apply`. A structure that grows in one piece (a dict that rehashes every key, a list that is
copied to grow) shows up as a single very slow command; the figures are the slowest command,
the p99.99 and the number of commands over 1 and 10 ms. With `--day` the orders are DAY
orders, and the first command of the next day (when they would all expire) is timed too.
Run it with `PYTHONPATH` on a compiled build (`build_compiled.py`) for the figures of
`docs/benchmarks.md`. In-process, nothing written.
"""

from __future__ import annotations

import argparse
import gc
import time
from array import array

from measure import peak_rss_mib, percentile, print_preamble, print_table
from streams import MID_TICKS, SYMBOL, T0, account_ids, setup_commands
from tradehall.engine.matcher import MatchingEngine
from tradehall.kernel.clock import NANOS_PER_DAY
from tradehall.kernel.ids import ClientOrderId
from tradehall.trading import commands as c
from tradehall.trading.model import Side, TimeInForce


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=3_000_000,
                        help="orders placed and canceled by the one account")
    parser.add_argument("--day", action="store_true",
                        help="DAY orders; also time the first command of the next day")
    args = parser.parse_args()
    tif = TimeInForce.DAY if args.day else TimeInForce.GTC
    print_preamble(f"one account places and cancels {args.orders:,} orders inside the "
                   "client order id retention window; every apply timed")
    engine = MatchingEngine()
    (account,) = account_ids(1)
    for i, cmd in enumerate(setup_commands([account])):
        engine.apply(cmd, T0 + i)
    gc.collect()
    apply = engine.apply
    clock = time.perf_counter_ns
    ts = T0 + 1_000
    # An array, not a list: the collector would traverse a list's millions of items on every
    # full collection and show its own pause as the engine's.
    times = array("q")
    record = times.append
    start = time.perf_counter()
    for i in range(args.orders):
        coid = ClientOrderId(f"mm{i}")
        place = c.SubmitOrder(account=account, client_order_id=coid, symbol=SYMBOL,
                              side=Side.BUY, qty=1, price=MID_TICKS - 1 - i % 50,
                              time_in_force=tif)
        drop = c.CancelOrder(account=account, client_order_id=coid)
        t0 = clock()
        apply(place, ts + i)
        t1 = clock()
        apply(drop, ts + i)
        t2 = clock()
        record(t1 - t0)
        record(t2 - t1)
    seconds = time.perf_counter() - start
    midnight = "-"
    if args.day:  # every order is done: nothing may expire, and nothing should take long
        t0 = clock()
        apply(c.AdvanceTime(), (ts // NANOS_PER_DAY + 1) * NANOS_PER_DAY)
        midnight = f"{(clock() - t0) / 1e6:,.1f} ms"
    worst_at = max(range(len(times)), key=times.__getitem__)
    times = array("q", sorted(times))
    registered = len(engine.client_ids[account])
    print_table(["figure", "value"], [
        ["commands", f"{len(times):,} in {seconds:.1f} s ({len(times) / seconds:,.0f}/s, "
                     "timing included)"],
        ["ids registered at the end", f"{registered:,}"],
        ["p50 / p99 / p99.99 per command", " / ".join(
            f"{percentile(times, q) / 1e3:,.1f} us" for q in (0.5, 0.99, 0.9999))],
        ["slowest command", f"{times[-1] / 1e6:,.1f} ms (command {worst_at:,})"],
        ["commands over 1 ms / over 10 ms",
         f"{sum(t > 1_000_000 for t in times):,} / {sum(t > 10_000_000 for t in times):,}"],
        ["first command of the next day (--day)", midnight],
        ["peak RSS", f"{peak_rss_mib():,.0f} MiB"],
    ])


if __name__ == "__main__":
    main()
