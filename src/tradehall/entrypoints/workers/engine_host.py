"""The engine host: sequence, journal, apply, and release results only once durable.

Pipeline per batch (exchange-core's stages, in one thread plus the journal's committer):
sequence the commands, hand their encoded records to the journal's group committer, apply them
to the engine while the fsync runs, then wait for the fsync before any result leaves. A crash
before the fsync loses only commands nobody was told about. On open, the host loads the newest
valid snapshot and replays the journal after it, so the state equals the one before the crash.

Who checks what on open: the journal writer reads only the last segment (to find the last seq
and drop a torn tail); the replay then checks every record after the snapshot, chained to the
snapshot's hash. `tradehall journal verify` proves the whole journal. After each snapshot the
host removes snapshot files beyond the newest `snapshots_kept`; it never removes segments.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from pathlib import Path

from tradehall.engine.codec import decode_command, encode_command
from tradehall.engine.matcher import MatchingEngine
from tradehall.engine.state import encode_state, restore
from tradehall.journal import (
    JournalConfig,
    JournalCorrupted,
    JournalWriter,
    Snapshot,
    Ticket,
    load_latest_snapshot,
    prune_journal,
    read_journal,
    remove_partial_snapshots,
    write_snapshot,
)
from tradehall.trading.commands import EngineCommand
from tradehall.trading.events import EngineEvent

_log = logging.getLogger(__name__)

YOUNG_GC_THRESHOLD = 5_000
"""Allocations between young collections once a host is open (CPython's default is 700).

A batch keeps every command's event list alive until the batch is durable, so at 700 most of
them outlive a few young collections, are promoted, and make the older generations' collections
cost 15-25% of the host's time; 2,000-10,000 gave 1.2-1.4x the journaled throughput in
`bench/host_bench.py` (docs/benchmarks.md)."""


@dataclass(frozen=True, slots=True)
class EngineHostConfig:
    """Where the host keeps its journal and snapshots, and how it commits."""

    data_dir: str | os.PathLike[str]
    fsync: bool = True
    segment_max_bytes: int = 256 * 1024 * 1024
    snapshot_every: int = 0  # commands between automatic snapshots; 0 turns them off
    # Newest valid snapshots kept after each snapshot (older files are removed; damaged ones
    # stay as evidence); 0 keeps all. Segments are never pruned here (`prune_journal`).
    snapshots_kept: int = 3
    max_batch_records: int = 4096  # most records in one group commit
    commit_interval_us: int = 0  # longest wait for a group to fill; 0 commits at once
    # Raised (never lowered) for the whole process when the host opens; 0 leaves it alone.
    young_gc_threshold: int = YOUNG_GC_THRESHOLD

    def __post_init__(self) -> None:
        if self.snapshots_kept < 0:
            raise ValueError("snapshots_kept must be >= 0")
        if self.young_gc_threshold < 0:
            raise ValueError("young_gc_threshold must be >= 0")


@dataclass(frozen=True, slots=True)
class Recovery:
    """What opening the host found and did."""

    snapshot_seq: int
    replayed: int
    last_seq: int
    torn_bytes: int


@dataclass(frozen=True, slots=True)
class Started:
    """A batch applied and handed to the journal, not yet known durable (`EngineHost.start`)."""

    first_seq: int
    last_seq: int
    results: list[list[EngineEvent]]
    ticket: Ticket


ReplayCallback = Callable[[int, int, list[EngineEvent]], None]
"""Called with (seq, ts_ns, events) for each command recovery replays."""


class EngineHost:
    """Owns one engine, its journal writer, and its snapshots."""

    def __init__(self, config: EngineHostConfig, engine: MatchingEngine, writer: JournalWriter,
                 recovery: Recovery) -> None:
        self.config = config
        self.engine = engine
        self.writer = writer
        self.recovery = recovery
        self.seq = recovery.last_seq
        self._since_snapshot = 0
        self._retention: threading.Thread | None = None

    @classmethod
    def open(cls, config: EngineHostConfig, *, max_snapshot_seq: int | None = None,
             on_replay: ReplayCallback | None = None) -> EngineHost:
        """Recover the engine from the newest snapshot plus the journal, then open the writer.

        `max_snapshot_seq` makes recovery start from a snapshot at or before that seq, and
        `on_replay` receives the events of every replayed command: together they let a
        projection that has seen the events up to some seq catch up on the ones after it.
        """
        root = Path(config.data_dir)
        root.mkdir(parents=True, exist_ok=True)
        # The writer reads the last segment, takes the directory lock and drops a torn tail.
        writer = JournalWriter.open(JournalConfig(
            directory=root, fsync=config.fsync, segment_max_bytes=config.segment_max_bytes,
            max_batch_records=config.max_batch_records,
            commit_interval_us=config.commit_interval_us))
        try:
            # Holding the lock, so a temporary snapshot file is a crashed write's, never a live one.
            for leftover in remove_partial_snapshots(root):
                _log.warning("removed %s, left by a snapshot write that never finished",
                             leftover.name)
            with _collector_paused():
                engine, snapshot_seq, chain_hash = _load_snapshot(root, max_snapshot_seq)
                scan = writer.recovery
                if scan.last_seq < snapshot_seq:
                    raise JournalCorrupted(str(root), 0, f"journal ends at {scan.last_seq} "
                                           f"before snapshot {snapshot_seq}", scan.last_seq)
                replayed = 0
                seq = snapshot_seq
                # prev_hash ties the snapshot to the journal it continues: a foreign or stale
                # snapshot is refused instead of silently replayed onto.
                for record in read_journal(root, from_seq=snapshot_seq + 1,
                                           prev_hash=chain_hash):
                    events = engine.apply(decode_command(record.payload), record.ts_ns)
                    seq = record.seq
                    if on_replay is not None:
                        on_replay(seq, record.ts_ns, events)
                    replayed += 1
        except BaseException:
            writer.close()
            raise
        # What recovery built lives long: keep it out of every later collection.
        gc.freeze()
        _raise_young_threshold(config.young_gc_threshold)
        recovery = Recovery(snapshot_seq=snapshot_seq, replayed=replayed, last_seq=seq,
                            torn_bytes=scan.torn_bytes)
        return cls(config, engine, writer, recovery)

    def submit(self, batch: Sequence[tuple[EngineCommand, int]]) -> list[list[EngineEvent]]:
        """Journal and apply a batch; return each command's events once the batch is durable."""
        started = self.start(batch)
        self.complete(started)
        return started.results

    def start(self, batch: Sequence[tuple[EngineCommand, int]]) -> Started:
        """Hand a batch to the journal's committer and apply it while it is written.

        Nothing in the returned `Started` may leave the host before `complete` returns for it.
        Several may be in flight, completed in the order they were started: a caller that
        starts batch N+1 before completing N applies N+1 while N's fsync runs (pipelined group
        commit), and each batch's results still wait for their own fsync.
        """
        first = self.seq + 1
        encode = encode_command
        records = [(seq, ts, encode(cmd)) for seq, (cmd, ts) in zip(count(first), batch)]
        ticket = self.writer.append(records)
        results = self.engine.apply_batch(batch)  # overlaps the fsync
        self.seq += len(batch)
        return Started(first, self.seq, results, ticket)

    def complete(self, started: Started) -> None:
        """Wait until a started batch is durable; snapshot when one is due.

        Raises
        ------
        JournalWriteFailed
            If the batch could not be made durable: the engine holds commands the journal does
            not, so the host must not be used any more.
        """
        started.ticket.wait()
        self._since_snapshot += started.last_seq - started.first_seq + 1
        every = self.config.snapshot_every
        if every and self._since_snapshot >= every:
            self.snapshot()  # after every batch started so far is durable (it flushes)

    def snapshot(self) -> Path:
        """Write a snapshot of the current state (after everything journaled so far), then
        remove snapshot files beyond the newest `snapshots_kept`."""
        self.writer.flush()
        payload = encode_state(self.engine)
        digest = hashlib.blake2b(payload, digest_size=32).digest()
        path = write_snapshot(self.config.data_dir, self.seq, self.writer.last_hash, digest,
                              payload)
        self.writer.roll()
        self._since_snapshot = 0
        if self.config.snapshots_kept:
            # Off the engine's thread: it reads and checks every snapshot (~0.5 s for 125 MiB).
            self._join_retention()
            self._retention = threading.Thread(
                target=self._drop_old_snapshots, args=(self.config.snapshots_kept,),
                name="snapshot-retention", daemon=True)
            self._retention.start()
        return path

    def _join_retention(self) -> None:
        if self._retention is not None:
            self._retention.join()
            self._retention = None

    def _drop_old_snapshots(self, keep: int) -> None:
        # Snapshot files only: the read models may still need the journal's older segments.
        try:
            result = prune_journal(self.config.data_dir, keep_snapshots=keep, segments=False,
                                   writer=self.writer)
        except OSError as exc:
            # The snapshot itself is durable; a file left behind costs only disk space.
            _log.error("could not remove old snapshots: %s", exc)
            return
        for damaged in result.damaged_snapshots:
            _log.warning("damaged snapshot kept as evidence: %s: %s", damaged.path.name,
                         damaged.reason)

    def close(self) -> None:
        """Finish removing old snapshots, then flush and close the journal."""
        try:
            self._join_retention()
        finally:
            self.writer.close()

    def __enter__(self) -> EngineHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while recovery builds millions of live objects."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _raise_young_threshold(young: int) -> None:
    first, second, third = gc.get_threshold()
    if young > first:
        gc.set_threshold(young, second, third)


def restore_snapshot(snapshot: Snapshot) -> MatchingEngine:
    """Rebuild the engine a snapshot holds, checked against the snapshot's state hash.

    Raises
    ------
    JournalCorrupted
        If the restored state does not hash to the state hash written with the snapshot.
    """
    engine = restore(snapshot.payload)
    if hashlib.blake2b(encode_state(engine), digest_size=32).digest() != snapshot.state_hash:
        raise JournalCorrupted(str(snapshot.path), 0,
                               "restored state does not hash to the snapshot's state hash",
                               snapshot.seq)
    return engine


def _load_snapshot(root: Path,
                   max_seq: int | None) -> tuple[MatchingEngine, int, bytes | None]:
    snapshot = load_latest_snapshot(root, max_seq)
    if snapshot is None:
        return MatchingEngine(), 0, None
    return restore_snapshot(snapshot), snapshot.seq, snapshot.chain_hash
