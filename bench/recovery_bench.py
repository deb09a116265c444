"""Benchmark of recovery: snapshot write and load, journal replay, `EngineHost.open` end to end.

Builds one data directory in a temporary folder (removed afterwards) with the journal writer
and **fsync off** (durability is not what is measured here and it saves minutes; the bytes on
disk are the same as `EngineHost.submit` writes): setup and warm-up, snapshot S1 (by
`EngineHost.snapshot`), then `--journal` commands of the stream (default 1,000,000), then close.
Then it times, each on a cold `EngineHost.open`:

1. recovery from S1 plus the `--journal` commands after it (load, verify, replay);
2. writing snapshot S2 of the state after those commands (on the recovered host), and a
   recovery from S2 alone (nothing to replay);
3. recovery from the journal only (snapshots hidden): setup + warm-up + `--journal` commands
   replayed from seq 1.

Before 1 and 2 it also times `JournalWriter.open` alone (the scan that finds the last seq and a
torn tail, then close), with the records and segments that scan walked. `--segment-mib` sets
the segment size (the writer rolls at it and at each snapshot). Last, with the snapshots back:
the snapshot retention the host runs after each snapshot (reading and checking every snapshot,
nothing to remove with two), `prune_journal` keeping only S2, and the writer open and recovery
of the pruned folder.

Each recovery must end on the state hash of the engine that wrote the journal (checked,
not timed). The snapshot loads are also broken down into file read + checksum, `restore`,
and the state-hash check that `open` does. The files are read from the page cache, as they
were just written: a cold disk read adds their size divided by the disk's read rate.
Owns nothing but measurement: no report files, no real data directory.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from measure import GcTimer, peak_rss_mib, print_preamble, print_table
from streams import SHAPES, OrderCrowd, Timed, add_stream_arguments
from tradehall.engine.codec import encode_command
from tradehall.engine.state import encode_state, restore, state_hash
from tradehall.entrypoints.workers.engine_host import EngineHost, EngineHostConfig, Recovery
from tradehall.journal import JournalConfig, JournalWriter, load_latest_snapshot, prune_journal
from tradehall.journal.reader import list_segments

Row = list[str]
MIB = 1024 * 1024


def append(host: EngineHost, chunk: Sequence[Timed]) -> None:
    """Journal commands the generator has already applied to the host's engine.

    The records are exactly what `EngineHost.submit` writes (`encode_command` payloads, seq and
    ts); only the second application of each command is skipped, since the generator's shadow
    engine is the host's engine here. This halves the build time and changes no byte on disk.
    """
    first = host.seq + 1
    records = [(first + i, ts, encode_command(cmd)) for i, (cmd, ts) in enumerate(chunk)]
    host.writer.append(records).wait()
    host.seq += len(chunk)


def host_config(root: Path, args: argparse.Namespace) -> EngineHostConfig:
    """The host configuration every step uses (fsync off, the chosen segment size).

    Snapshot retention is off so that the snapshot write rows time the write alone; the
    retention is timed on its own row.
    """
    return EngineHostConfig(data_dir=root, fsync=False, segment_max_bytes=args.segment_mib * MIB,
                            snapshots_kept=0)


def build(root: Path, args: argparse.Namespace) -> tuple[str, int, Row]:
    """Write setup, warm-up, S1 and the journal; return (final state hash, seq, S1 row)."""
    crowd = OrderCrowd(SHAPES[args.book], args.seed, args.accounts)
    config = host_config(root, args)
    writer = JournalWriter.open(JournalConfig(directory=root, fsync=False,
                                              segment_max_bytes=config.segment_max_bytes))
    host = EngineHost(config, crowd.engine, writer,
                      Recovery(snapshot_seq=0, replayed=0, last_seq=0, torn_bytes=0))
    with host:
        append(host, crowd.setup())
        left = args.warmup
        while left:
            chunk = min(args.batch, left)
            append(host, crowd.run(chunk))
            left -= chunk
        start = time.perf_counter()
        s1 = host.snapshot()
        s1_row = ["write snapshot S1 (after warm-up)", f"{time.perf_counter() - start:.2f}",
                  f"{s1.stat().st_size / MIB:.1f} MiB", f"seq {host.seq:,}", "-"]
        left = args.journal
        while left:
            chunk = min(args.batch, left)
            append(host, crowd.run(chunk))
            left -= chunk
        return state_hash(host.engine), host.seq, s1_row


def timed_writer_open(root: Path, args: argparse.Namespace, label: str) -> Row:
    """Time `JournalWriter.open` alone (scan, lock, tail) and close it again."""
    gc.collect()
    config = JournalConfig(directory=root, fsync=False,
                           segment_max_bytes=args.segment_mib * MIB)
    start = time.perf_counter()
    writer = JournalWriter.open(config)
    seconds = time.perf_counter() - start
    scan = writer.recovery
    writer.close()
    return [label, f"{seconds:.3f}", f"{scan.records:,} records walked",
            f"{len(scan.segments)} of {len(list_segments(root))} segments", "-"]


def timed_open(root: Path, args: argparse.Namespace, label: str,
               expected_hash: str | None) -> tuple[Row, EngineHost]:
    """Time one `EngineHost.open`, check the recovered state, return its row and the host.

    `expected_hash` None skips the check (a snapshot-only open already checks that the
    restored state hashes to the state hash written with the snapshot).
    """
    gc.collect()
    with GcTimer() as gc_timer:
        start = time.perf_counter()
        host = EngineHost.open(host_config(root, args))
        seconds = time.perf_counter() - start
    rec = host.recovery
    if expected_hash is not None and state_hash(host.engine) != expected_hash:
        raise SystemExit(f"{label}: recovered state hash differs from the writer's")
    rate = f"{rec.replayed / seconds:,.0f} cmd/s" if rec.replayed else "-"
    return [label, f"{seconds:.2f}", f"{rec.replayed:,} replayed", rate,
            f"{gc_timer.ns / 1e9:.2f}"], host


def snapshot_breakdown(root: Path, label: str) -> list[Row]:
    """Time the parts of loading the newest snapshot: read + checksum, restore, hash check."""
    gc.collect()
    start = time.perf_counter()
    snapshot = load_latest_snapshot(root)
    read_s = time.perf_counter() - start
    assert snapshot is not None
    with GcTimer() as gc_timer:
        start = time.perf_counter()
        engine = restore(snapshot.payload)
        restore_s = time.perf_counter() - start
    start = time.perf_counter()
    digest = hashlib.blake2b(encode_state(engine), digest_size=32).digest()
    verify_s = time.perf_counter() - start
    if digest != snapshot.state_hash:
        raise SystemExit(f"{label}: snapshot does not hash to its state hash")
    start = time.perf_counter()
    gc.collect()
    gc_s = time.perf_counter() - start
    resting = len(engine.orders_by_id)
    register = sum(len(ids) for ids in engine.client_ids.values())
    return [
        [f"  {label}: read file + checksum", f"{read_s:.2f}",
         f"{len(snapshot.payload) / MIB:.1f} MiB payload", "-", "-"],
        [f"  {label}: restore()", f"{restore_s:.2f}", f"{resting:,} live orders",
         f"{register:,} client ids kept", f"{gc_timer.ns / 1e9:.2f}"],
        [f"  {label}: state hash check", f"{verify_s:.2f}", "-", "-", "-"],
        [f"  {label}: one full gc.collect() after", f"{gc_s:.2f}", "-", "-", "-"],
    ]


def prune_rows(root: Path, args: argparse.Namespace, expected_hash: str) -> list[Row]:
    """Time the host's snapshot retention, a prune down to S2, and opening the pruned folder."""
    start = time.perf_counter()
    kept = prune_journal(root, keep_snapshots=3, segments=False)
    rows = [["snapshot retention (keep 3, as after each snapshot)",
             f"{time.perf_counter() - start:.2f}", f"{len(kept.kept_snapshots)} snapshots read",
             "0 removed", "-"]]
    start = time.perf_counter()
    pruned = prune_journal(root, keep_snapshots=1)
    rows.append(["prune_journal(keep_snapshots=1)", f"{time.perf_counter() - start:.2f}",
                 f"{len(pruned.removed_segments)} segments, {len(pruned.removed_snapshots)} "
                 f"snapshot removed", f"starts at seq {pruned.first_seq:,}", "-"])
    rows.append(timed_writer_open(root, args, "writer open: after prune"))
    row, host = timed_open(root, args, "open: S2 after prune", expected_hash)
    host.close()
    rows.append(row)
    return rows


def journal_bytes(root: Path) -> int:
    """Bytes of every journal segment."""
    return sum(p.stat().st_size for p in (root / "journal").glob("*.log"))


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_stream_arguments(parser, books=list(SHAPES), default_book="thin")
    parser.add_argument("--journal", type=int, default=1_000_000,
                        help="commands journaled after snapshot S1")
    parser.add_argument("--batch", type=int, default=4_096, help="submit batch while building")
    parser.add_argument("--segment-mib", type=int, default=256,
                        help="journal segment size in MiB (the writer's default is 256)")
    parser.add_argument("--dir", default=None, help="parent of the temporary data directory")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Build the journal, time each recovery, print the table."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    print_preamble("journal built with fsync off; files read from the page cache")
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="recovery-bench-", dir=args.dir) as tmp:
        root = Path(tmp) / "data"
        start = time.perf_counter()
        expected, last_seq, s1_row = build(root, args)
        print(f"built {last_seq:,} journaled commands ({journal_bytes(root) / MIB:.0f} MiB, "
              f"{args.book} book) in {time.perf_counter() - start:.1f} s "
              "(includes generating the stream with a shadow engine)", flush=True)
        rows.append(s1_row)
        rows.extend(snapshot_breakdown(root, "S1"))
        rows.append(timed_writer_open(root, args, "writer open: S1 + journal"))
        row, host = timed_open(root, args, f"open: S1 + {args.journal:,} journaled", expected)
        rows.append(row)
        start = time.perf_counter()
        s2 = host.snapshot()
        rows.append([f"write snapshot S2 (after {args.journal:,} more)",
                     f"{time.perf_counter() - start:.2f}", f"{s2.stat().st_size / MIB:.1f} MiB",
                     f"seq {host.seq:,}", "-"])
        host.close()
        del host
        print("  done: S1 + journal, S2 written", flush=True)
        rows.append(timed_writer_open(root, args, "writer open: after S2"))
        row, host = timed_open(root, args, "open: S2 only", None)
        host.close()
        del host
        rows.append(row)
        rows.extend(snapshot_breakdown(root, "S2"))
        (root / "snapshots").rename(root / "snapshots-hidden")
        row, host = timed_open(root, args, f"open: journal only, {last_seq:,} commands",
                               expected)
        host.close()
        del host
        rows.append(row)
        (root / "snapshots-hidden").rename(root / "snapshots")
        rows.extend(prune_rows(root, args, expected))
    print()
    print_table(["step", "seconds", "size / work", "note", "gc s"], rows)
    print(f"peak RSS: {peak_rss_mib():.0f} MiB")
    print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
