"""Benchmark of the journal writer: throughput and acknowledgement latency of group commit.

This script owns nothing but measurement: it writes throw-away journals in a temporary directory
(removed afterwards), prints the command line and one table, and must never touch a real data
directory or write report files. Each case runs for a fixed time budget with ~100-byte
payloads:

- `batch N`: one producer appends N records and waits for the ticket before the next append
  (closed loop), so each fsync covers exactly N records.
- `adapt R`: one producer appends single records at an offered rate of R records/s (`max`: as
  fast as it can, which saturates the writer and shows the backpressure bound) while a waiter
  thread collects acknowledgements; the committer syncs whatever is pending, so the group size
  adapts to the load and to the disk's fsync latency.

Latency is append call to ticket done, per ticket. A `replay` row reads back the largest journal
written. Peak RSS comes from `resource.getrusage`.
"""

from __future__ import annotations

import argparse
import resource
import shlex
import sys
import tempfile
import threading
import time
from array import array
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from tradehall.journal import JournalConfig, JournalWriter, OsFileOps, Ticket, read_journal


class CountingOps(OsFileOps):
    """Counts and times fsync calls: the mean group size and the disk's worst stall."""

    def __init__(self) -> None:
        self.fsyncs = 0
        self.slowest_fsync_ns = 0

    def fsync(self, fd: int) -> None:
        """Fsync, counting and timing it."""
        start = time.perf_counter_ns()
        super().fsync(fd)
        self.fsyncs += 1
        self.slowest_fsync_ns = max(self.slowest_fsync_ns, time.perf_counter_ns() - start)


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One row of the table."""

    mode: str
    fsync: bool
    records: int
    seconds: float
    latencies_ns: array[int]
    fsyncs: int
    slowest_fsync_ns: int


def run_batch(root: Path, fsync: bool, batch: int, budget_s: float, payload: bytes) -> CaseResult:
    """Append `batch` records at a time, waiting for each ticket, until the budget is spent."""
    ops = CountingOps()
    latencies = array("q")
    with JournalWriter.open(JournalConfig(str(root), fsync=fsync), file_ops=ops) as writer:
        fsyncs_at_open = ops.fsyncs
        seq = writer.last_seq
        start = time.perf_counter_ns()
        deadline = start + int(budget_s * 1e9)
        now = start
        while now < deadline:
            records = [(seq + i, now, payload) for i in range(1, batch + 1)]
            writer.append(records).wait()
            seq += batch
            done = time.perf_counter_ns()
            latencies.append(done - now)
            now = done
        elapsed = (now - start) / 1e9
    fsyncs = ops.fsyncs - fsyncs_at_open
    return CaseResult(
        f"batch {batch}", fsync, seq, elapsed, latencies, fsyncs, ops.slowest_fsync_ns
    )


def run_adaptive(
    root: Path, fsync: bool, budget_s: float, payload: bytes, rate: int | None
) -> CaseResult:
    """Append single records at `rate` per second (None: flat out), timing each ack."""
    ops = CountingOps()
    # A deque keeps only the unacknowledged backlog in memory (append/popleft are thread-safe).
    in_flight: deque[tuple[Ticket, int]] = deque()
    latencies = array("q")
    producing = threading.Event()
    producing.set()

    def collect() -> None:
        while producing.is_set() or in_flight:
            if not in_flight:
                time.sleep(0.0001)
                continue
            ticket, sent_at = in_flight.popleft()
            if not ticket.done():
                ticket.wait()
            latencies.append(time.perf_counter_ns() - sent_at)

    with JournalWriter.open(JournalConfig(str(root), fsync=fsync), file_ops=ops) as writer:
        fsyncs_at_open = ops.fsyncs
        waiter = threading.Thread(target=collect, name="bench-waiter")
        waiter.start()
        seq = writer.last_seq
        start = time.perf_counter_ns()
        deadline = start + int(budget_s * 1e9)
        now = start
        while now < deadline:
            if rate is not None and seq >= (now - start) * rate // 1_000_000_000:
                time.sleep(0.0002)  # Ahead of the offered rate: let time catch up.
                now = time.perf_counter_ns()
                continue
            seq += 1
            # Stamp before append so the latency includes any backpressure wait.
            now = time.perf_counter_ns()
            in_flight.append((writer.append([(seq, now, payload)]), now))
        producing.clear()
        waiter.join()
        elapsed = (time.perf_counter_ns() - start) / 1e9
    mode = f"adapt {'max' if rate is None else f'{rate // 1000}k'}"
    fsyncs = ops.fsyncs - fsyncs_at_open
    return CaseResult(mode, fsync, seq, elapsed, latencies, fsyncs, ops.slowest_fsync_ns)


def run_replay(root: Path) -> tuple[int, float]:
    """Read a journal back; return (records, seconds)."""
    start = time.perf_counter_ns()
    count = sum(1 for _ in read_journal(root))
    return count, (time.perf_counter_ns() - start) / 1e9


def percentile(sorted_values: list[int], fraction: float) -> int:
    """Return the nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return 0
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def format_row(result: CaseResult) -> str:
    """Render one result as a table row."""
    lat = sorted(result.latencies_ns)
    rate = result.records / result.seconds if result.seconds else 0.0
    per_sync = f"{result.records / result.fsyncs:9.1f}" if result.fsyncs else f"{'-':>9}"
    slowest = f"{result.slowest_fsync_ns / 1e6:12.1f}" if result.fsyncs else f"{'-':>12}"
    return (
        f"{result.mode:<10} {'on' if result.fsync else 'off':<5} {result.records:>9} "
        f"{result.seconds:>7.2f} {rate:>11,.0f} {percentile(lat, 0.50) / 1e3:>10.1f} "
        f"{percentile(lat, 0.99) / 1e3:>10.1f} {per_sync} {slowest}"
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=4.0, help="time budget per case")
    parser.add_argument("--payload-bytes", type=int, default=100)
    parser.add_argument("--batches", default="1,64,512", help="offered batch sizes, comma list")
    parser.add_argument(
        "--rates", default="100000,max", help="offered rates of the adaptive cases, comma list"
    )
    parser.add_argument("--no-fsync-off", action="store_true", help="skip the fsync=off cases")
    parser.add_argument("--dir", default=None, help="parent of the temporary journal directory")
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="sys.setswitchinterval value in seconds (default: leave Python's 0.005)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run every case and print the table."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    print("command:", shlex.join([Path(sys.executable).name, *sys.argv]))
    print(f"python {sys.version.split()[0]}, switch interval {sys.getswitchinterval()} s")
    payload = bytes(args.payload_bytes)
    batches = [int(b) for b in args.batches.split(",") if b]
    rates = [None if r == "max" else int(r) for r in args.rates.split(",") if r]
    header = (
        f"{'mode':<10} {'fsync':<5} {'records':>9} {'seconds':>7} {'records/s':>11} "
        f"{'p50 ack us':>10} {'p99 ack us':>10} {'rec/fsync':>9} {'max fsync ms':>12}"
    )
    print(header)
    print("-" * len(header))
    largest: tuple[int, Path] | None = None
    with tempfile.TemporaryDirectory(prefix="journal-bench-", dir=args.dir) as tmp:
        for fsync in (True, False) if not args.no_fsync_off else (True,):
            cases: list[tuple[int, int | None]] = [(b, None) for b in batches]
            cases += [(0, rate) for rate in rates]
            for number, (batch, rate) in enumerate(cases):
                root = Path(tmp) / f"{'sync' if fsync else 'nosync'}-{number}"
                if batch:
                    result = run_batch(root, fsync, batch, args.seconds, payload)
                else:
                    result = run_adaptive(root, fsync, args.seconds, payload, rate)
                print(format_row(result), flush=True)
                if largest is None or result.records > largest[0]:
                    largest = (result.records, root)
        print(f"peak RSS before replay: {peak_rss_mib():.1f} MiB")
        if largest is not None:
            count, seconds = run_replay(largest[1])
            print(f"{'replay':<10} {'-':<5} {count:>9} {seconds:>7.2f} {count / seconds:>11,.0f}")
    # Replay maps each segment; its touched page-cache pages count in RSS while mapped.
    print(f"peak RSS after replay: {peak_rss_mib():.1f} MiB")
    return 0


def peak_rss_mib() -> float:
    """Return the process's peak resident set size so far (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    sys.exit(main())
