"""The journal writer: append-only segments, adaptive group commit, torn-tail recovery on open.

This module owns the write path into `DIR/journal/`: `JournalConfig`, opening (scan the last
segment, truncate a torn tail, continue the chain and sequence), encoding appends in order under
one lock, and the committer thread that turns everything pending into one `write` and one
`fsync` per group before acknowledging it. It must never acknowledge a record before its group
is fsynced (when `fsync=True`), never retry or hide a failed write or fsync (the writer is
poisoned and every later call raises `JournalWriteFailed`), and never accept a sequence number
other than `last_seq + 1`. It never reads a clock: timestamps come with the records.

Opening walks only the tail (`scan_tail`: the last segment, or the last two after a crash while
rolling) and trusts that segment's header, so it costs the same on a journal of any length. The
records before the tail are checked elsewhere: by recovery (every record after the snapshot,
chained to the snapshot's hash) and by `verify_journal` (all of them).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

from tradehall.journal.codec import (
    SEGMENT_HEADER_SIZE,
    encode_batch,
    encode_segment_header,
    segment_file_name,
)
from tradehall.journal.errors import JournalWriteFailed
from tradehall.journal.files import (
    DirectoryLock,
    FileOps,
    OsFileOps,
    ensure_directory,
    fsync_directory,
    write_all,
)
from tradehall.journal.reader import ScanResult, scan_tail, segments_directory
from tradehall.journal.ticket import CommitProgress, Ticket


@dataclass(frozen=True, slots=True)
class JournalConfig:
    """Where the journal lives and how it commits.

    `fsync=False` acknowledges after the write reaches the OS (benchmarks and tests only).
    A segment rolls after the append that makes it reach `segment_max_bytes`. One group commit
    takes at most `max_batch_records` records (whole appends, at least one); `append` blocks
    while more than `max_pending_records` are waiting, so a slow disk slows producers down
    instead of growing memory without bound. `commit_interval_us` is how long the committer
    may wait, after the first pending record, for more to join its group: 0 (the default)
    commits whatever is pending at once (adaptive group commit); a positive interval trades
    that much acknowledgement latency for fewer, larger fsyncs under a trickle of appends.
    """

    directory: str | os.PathLike[str]
    fsync: bool = True
    segment_max_bytes: int = 256 * 1024 * 1024
    max_batch_records: int = 4096
    max_pending_records: int = 65536
    commit_interval_us: int = 0

    def __post_init__(self) -> None:
        if self.segment_max_bytes <= SEGMENT_HEADER_SIZE:
            raise ValueError(f"segment_max_bytes must exceed {SEGMENT_HEADER_SIZE}")
        if self.max_batch_records < 1 or self.max_pending_records < 1:
            raise ValueError("max_batch_records and max_pending_records must be >= 1")
        if self.commit_interval_us < 0:
            raise ValueError("commit_interval_us must be >= 0")


class _Roll(NamedTuple):
    first_seq: int
    prev_hash: bytes


class _Entry(NamedTuple):
    data: bytes
    records: int
    roll_after: _Roll | None


class JournalWriter:
    """Append records to the journal and acknowledge them once durable; one per directory."""

    def __init__(
        self,
        config: JournalConfig,
        ops: FileOps,
        lock: DirectoryLock,
        scan: ScanResult,
        fd: int,
        segment_bytes: int,
    ) -> None:
        """Wrap an already prepared tail segment; use `JournalWriter.open` instead."""
        self._config = config
        self._ops = ops
        self._dir_lock = lock
        self._recovery = scan
        self._folder = segments_directory(config.directory)
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._space = threading.Condition(self._lock)
        self._progress = CommitProgress(self._lock)
        # Producer side, guarded by _lock.
        self._last_seq = scan.last_seq
        self._last_hash = scan.last_hash
        self._segment_bytes = segment_bytes
        self._pending: deque[_Entry] = deque()
        self._pending_records = 0
        self._queued = 0
        self._closed = False
        self._committer_idle = False
        self._max_pending = config.max_pending_records
        self._segment_max_bytes = config.segment_max_bytes
        # Committer side, touched only by the committer thread until it is joined.
        self._fd: int | None = fd
        self._thread = threading.Thread(target=self._run, name="journal-committer", daemon=True)
        self._thread.start()

    @classmethod
    def open(cls, config: JournalConfig, *, file_ops: FileOps | None = None) -> JournalWriter:
        """Open (or create) the journal, drop a torn tail and start the committer.

        Only the last segment is read (see the module docstring).

        Raises
        ------
        JournalCorrupted
            If the last segment (or, after a crash while rolling, the one before it) is damaged
            anywhere but at its tail.
        JournalLocked
            If another writer holds the directory.
        """
        ops = file_ops if file_ops is not None else OsFileOps()
        folder = segments_directory(config.directory)
        ensure_directory(ops, folder, durable=config.fsync)
        lock = DirectoryLock(folder)
        try:
            scan = scan_tail(config.directory)
            fd, segment_bytes = _prepare_tail(ops, folder, scan, config.fsync)
        except BaseException:
            lock.release()
            raise
        return cls(config, ops, lock, scan, fd, segment_bytes)

    @property
    def directory(self) -> Path:
        """Return the journal root this writer holds (and holds the lock of) while open."""
        return Path(self._config.directory)

    @property
    def closed(self) -> bool:
        """Return whether `close` was called (the directory lock is then released)."""
        with self._lock:
            return self._closed

    @property
    def last_seq(self) -> int:
        """Return the seq of the last record appended (0 for an empty journal)."""
        with self._lock:
            return self._last_seq

    @property
    def last_hash(self) -> bytes:
        """Return the chain hash of the last record appended."""
        with self._lock:
            return self._last_hash

    @property
    def recovery(self) -> ScanResult:
        """Return what `open` found in the segments it walked, including a dropped torn tail."""
        return self._recovery

    # -- Appending ---------------------------------------------------------------------------

    def append(self, records: Sequence[tuple[int, int, bytes]]) -> Ticket:
        """Queue (seq, ts_ns, payload) records for the next group commit; return its ticket.

        Raises
        ------
        ValueError
            If the seqs are not `last_seq + 1, +2, ...` or `records` is empty.
        JournalWriteFailed
            If the committer has failed.
        """
        count = len(records)
        if count == 0:
            raise ValueError("append needs at least one record")
        with self._lock:
            if self._closed or self._progress.error is not None:
                self._raise_if_unusable()
            if self._pending_records + count > self._max_pending:
                self._wait_for_space_locked(count)
            first_seq = self._last_seq + 1
            data, last_hash = encode_batch(self._last_hash, first_seq, records)
            self._last_seq += count
            self._last_hash = last_hash
            self._segment_bytes += len(data)
            roll = None
            if self._segment_bytes >= self._segment_max_bytes:
                roll = _Roll(self._last_seq + 1, last_hash)
                self._segment_bytes = SEGMENT_HEADER_SIZE
            return self._enqueue_locked(_Entry(data, count, roll), first_seq)

    def append_sync(self, records: Sequence[tuple[int, int, bytes]]) -> Ticket:
        """Append records and block until they are durable."""
        ticket = self.append(records)
        ticket.wait()
        return ticket

    def roll(self) -> None:
        """Start a new segment after everything queued so far, and wait until it exists."""
        with self._lock:
            self._raise_if_unusable()
            if self._segment_bytes > SEGMENT_HEADER_SIZE:
                roll = _Roll(self._last_seq + 1, self._last_hash)
                self._segment_bytes = SEGMENT_HEADER_SIZE
                self._enqueue_locked(_Entry(b"", 0, roll), self._last_seq + 1)
            entry = self._queued
        self._progress.wait_for(entry, None)

    def flush(self) -> None:
        """Block until everything appended so far is durable."""
        with self._lock:
            entry = self._queued
        self._progress.wait_for(entry, None)

    def close(self) -> None:
        """Commit what is pending, stop the committer and release the directory.

        Raises
        ------
        JournalWriteFailed
            If the committer failed at any point (so a failure is never lost on close).
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._work.notify()
            self._space.notify_all()
        self._thread.join()
        try:
            if self._fd is not None:
                self._ops.close(self._fd)
                self._fd = None
        finally:
            self._dir_lock.release()
        if self._progress.error is not None:
            raise JournalWriteFailed(self._progress.error)

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _wait_for_space_locked(self, count: int) -> None:
        # One append larger than the limit still goes through once nothing else is pending.
        while self._pending_records and self._pending_records + count > self._max_pending:
            self._space.wait()
            self._raise_if_unusable()

    def _raise_if_unusable(self) -> None:
        if self._progress.error is not None:
            raise JournalWriteFailed(self._progress.error)
        if self._closed:
            raise RuntimeError("journal writer is closed")

    def _enqueue_locked(self, entry: _Entry, first_seq: int) -> Ticket:
        self._pending.append(entry)
        self._pending_records += entry.records
        self._queued += 1
        # Notifying costs about a microsecond; skip it while the committer is busy anyway.
        if self._committer_idle:
            self._work.notify()
        return Ticket(self._progress, self._queued, first_seq, self._last_seq)

    # -- Committer thread --------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closed:
                    self._committer_idle = True
                    self._work.wait()
                    self._committer_idle = False
                if not self._pending:
                    return
                self._gather_locked()
                batch = self._take_batch_locked()
            try:
                self._commit(batch)
            except Exception as error:  # Handed to every waiter, never dropped.
                with self._lock:
                    self._progress.fail_locked(error)
                    self._space.notify_all()
                return
            with self._lock:
                self._progress.advance_locked(len(batch))

    def _gather_locked(self) -> None:
        """Wait up to the commit interval for a group to fill (never past close)."""
        interval = self._config.commit_interval_us
        if not interval:
            return
        deadline = time.monotonic() + interval / 1_000_000
        cap = self._config.max_batch_records
        self._committer_idle = True  # appends notify us while we gather
        try:
            while not self._closed and self._pending_records < cap:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._work.wait(remaining)
        finally:
            self._committer_idle = False

    def _take_batch_locked(self) -> list[_Entry]:
        batch = [self._pending.popleft()]
        records = batch[0].records
        cap = self._config.max_batch_records
        while self._pending and records + self._pending[0].records <= cap:
            entry = self._pending.popleft()
            batch.append(entry)
            records += entry.records
        self._pending_records -= records
        self._space.notify_all()
        return batch

    def _commit(self, batch: list[_Entry]) -> None:
        chunks: list[bytes] = []
        for entry in batch:
            chunks.append(entry.data)
            if entry.roll_after is not None:
                self._write_group(chunks)
                chunks = []
                self._roll_segment(entry.roll_after)
        self._write_group(chunks)

    def _write_group(self, chunks: list[bytes]) -> None:
        data = b"".join(chunks)
        if not data:
            return
        assert self._fd is not None
        write_all(self._ops, self._fd, data)
        if self._config.fsync:
            self._ops.fsync(self._fd)

    def _roll_segment(self, roll: _Roll) -> None:
        assert self._fd is not None
        fd, self._fd = self._fd, None
        self._ops.close(fd)
        self._fd = _create_segment(self._ops, self._folder, roll, self._config.fsync)


def _create_segment(ops: FileOps, folder: Path, roll: _Roll, fsync: bool) -> int:
    # The header is made durable (file and directory entry) before any record goes in, so a
    # crash leaves either no new segment or a headerless one, which the reader treats as torn.
    path = folder / segment_file_name(roll.first_seq)
    fd = ops.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND)
    try:
        write_all(ops, fd, encode_segment_header(roll.first_seq, roll.prev_hash))
        if fsync:
            ops.fsync(fd)
            fsync_directory(ops, folder)
    except BaseException:
        ops.close(fd)
        raise
    return fd


def _prepare_tail(ops: FileOps, folder: Path, scan: ScanResult, fsync: bool) -> tuple[int, int]:
    # Return an append descriptor on the last segment, with its torn tail gone, and its size.
    fresh = _Roll(scan.last_seq + 1, scan.last_hash)
    if scan.tail_path is None:
        return _create_segment(ops, folder, fresh, fsync), SEGMENT_HEADER_SIZE
    if scan.headerless_tail:
        scan.tail_path.unlink()
        return _create_segment(ops, folder, fresh, fsync), SEGMENT_HEADER_SIZE
    if scan.torn_bytes:
        os.truncate(scan.tail_path, scan.good_end)
    fd = ops.open(scan.tail_path, os.O_WRONLY | os.O_APPEND)
    if scan.torn_bytes and fsync:
        try:
            ops.fsync(fd)
        except BaseException:
            ops.close(fd)
            raise
    return fd, scan.good_end
