"""Pruning: remove old snapshots and the journal segments that no kept snapshot needs.

This module owns `prune_journal`, the only code that deletes journal data. It keeps the newest
`keep_snapshots` valid snapshots and removes older valid ones; with `segments=True` it also
removes, oldest first, every segment whose records all lie at or before the oldest kept
snapshot's seq, so every kept snapshot can still be replayed forward and the journal stays one
contiguous run of segments at every moment (a crash half-way leaves a smaller valid prune).

It must never delete: a damaged snapshot (it cannot tell which state it held, so it stays as
evidence and is reported in `damaged_snapshots`), the last segment, a segment whose successor
has no valid header (the writer needs it after a crash while rolling), or anything at all when
no valid snapshot exists. Before removing segments it checks that every kept snapshot the
journal covers agrees with it (the chain hash at its seq, from the oldest kept snapshot on);
if one does not, it raises `JournalCorrupted` and removes nothing. The segments it removes are
not checked: run `verify_journal` first to prove them.

Concurrency. Removed segments are closed ones a writer never touches again, but the directory
lock decides who may change the journal: by default `prune_journal` takes the lock for its
whole run (offline: it raises `JournalLocked` while a writer is open). A process that holds the
writer passes it as `writer=` instead; the engine host does so to drop old snapshots after each
snapshot it writes. A dry run only reads, so it takes no lock.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from tradehall.journal.codec import SEGMENT_HEADER_SIZE, decode_segment_header
from tradehall.journal.errors import JournalCorrupted
from tradehall.journal.files import (
    DirectoryLock,
    FileOps,
    OsFileOps,
    fsync_directory,
    write_all,
)
from tradehall.journal.reader import (
    PRUNE_MARKER,
    list_segments,
    prune_marker_text,
    read_journal,
    segments_directory,
)
from tradehall.journal.snapshot import (
    SkippedSnapshot,
    checked_snapshots,
    snapshots_directory,
)

if TYPE_CHECKING:
    from tradehall.journal.writer import JournalWriter


class _Kept(NamedTuple):
    # A checked snapshot without its payload: several may be kept, each can be large.
    path: Path
    seq: int
    chain_hash: bytes


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What `prune_journal` kept and removed (or, in a dry run, would remove).

    `first_seq` is the first seq the journal holds afterwards (1 when nothing was ever pruned).
    A directory without a journal folder is left alone and reported as keeping nothing.
    """

    kept_snapshots: tuple[Path, ...]
    removed_snapshots: tuple[Path, ...]
    damaged_snapshots: tuple[SkippedSnapshot, ...]
    removed_segments: tuple[Path, ...]
    first_seq: int
    dry_run: bool


def prune_journal(
    directory: str | os.PathLike[str],
    *,
    keep_snapshots: int,
    segments: bool = True,
    dry_run: bool = False,
    writer: JournalWriter | None = None,
    file_ops: FileOps | None = None,
) -> PruneResult:
    """Keep the newest `keep_snapshots` valid snapshots; remove older ones and unneeded segments.

    Parameters
    ----------
    segments
        Also remove the segments whose records all lie at or before the oldest kept snapshot.
    dry_run
        Decide and report, but remove nothing (and take no lock).
    writer
        The open writer of this journal, held by the caller: its lock stands in for the one
        `prune_journal` would otherwise take.

    Raises
    ------
    JournalLocked
        If another writer holds the journal (and no `writer` was given).
    JournalCorrupted
        If a kept snapshot disagrees with the journal, or the journal is damaged after it
        (only when `segments` is true); nothing is removed then.
    ValueError
        If `keep_snapshots` < 1, or `writer` is closed or belongs to another directory.
    """
    if keep_snapshots < 1:
        raise ValueError(f"keep_snapshots must be >= 1, got {keep_snapshots}")
    if writer is not None and (
        writer.closed or writer.directory.resolve() != Path(directory).resolve()
    ):
        raise ValueError("writer must be open on the journal being pruned")
    folder = segments_directory(directory)
    if not folder.is_dir():
        # Snapshots without a journal are nobody's to judge here: leave them alone.
        return PruneResult((), (), (), (), 1, dry_run)
    ops = file_ops if file_ops is not None else OsFileOps()
    if dry_run or writer is not None:
        return _prune(directory, keep_snapshots, segments, dry_run, ops)
    lock = DirectoryLock(folder)
    try:
        return _prune(directory, keep_snapshots, segments, dry_run, ops)
    finally:
        lock.release()


def _prune(
    directory: str | os.PathLike[str],
    keep: int,
    with_segments: bool,
    dry_run: bool,
    ops: FileOps,
) -> PruneResult:
    kept, older, damaged = _sort_snapshots(directory, keep)
    all_segments = list_segments(directory)
    first_seq = all_segments[0][0] if all_segments else 1
    doomed_segments: list[Path] = []
    if kept and with_segments:
        _check_kept(directory, kept, first_seq)
        doomed_segments = _segments_before(all_segments, min(s.seq for s in kept))
    if doomed_segments:
        first_seq = all_segments[len(doomed_segments)][0]
    if not dry_run:
        if doomed_segments:
            # Before anything goes: a journal starting later than the marker lost segments.
            _write_marker(ops, segments_directory(directory), first_seq)
        _remove(ops, segments_directory(directory), doomed_segments)
        _remove(ops, snapshots_directory(directory), older)
    return PruneResult(
        kept_snapshots=tuple(snapshot.path for snapshot in kept),
        removed_snapshots=tuple(older),
        damaged_snapshots=tuple(damaged),
        removed_segments=tuple(doomed_segments),
        first_seq=first_seq,
        dry_run=dry_run,
    )


def _sort_snapshots(
    directory: str | os.PathLike[str], keep: int
) -> tuple[list[_Kept], list[Path], list[SkippedSnapshot]]:
    # Newest first: the first `keep` valid ones are kept, later valid ones go.
    kept: list[_Kept] = []
    older: list[Path] = []
    damaged: list[SkippedSnapshot] = []
    for found in checked_snapshots(directory):
        if isinstance(found, SkippedSnapshot):
            damaged.append(found)
        elif len(kept) < keep:
            kept.append(_Kept(found.path, found.seq, found.chain_hash))
        else:
            older.append(found.path)
    return kept, older, damaged


def _check_kept(directory: str | os.PathLike[str], kept: list[_Kept], first_seq: int) -> None:
    # Snapshots from before an earlier prune cannot be checked and decide nothing below.
    covered = sorted((s for s in kept if s.seq >= first_seq - 1), key=lambda s: s.seq)
    if not covered:
        return
    oldest, wanted = covered[0], {s.seq: s for s in covered[1:]}
    last_seq = oldest.seq
    for record in read_journal(directory, oldest.seq + 1, prev_hash=oldest.chain_hash):
        last_seq = record.seq
        snapshot = wanted.pop(record.seq, None)
        if snapshot is not None and snapshot.chain_hash != record.chain_hash:
            reason = f"chain hash differs from the journal at seq {record.seq}"
            raise JournalCorrupted(snapshot.path.name, 0, reason, record.seq)
        if not wanted:
            return
    for snapshot in wanted.values():
        reason = f"snapshot seq {snapshot.seq} is ahead of the journal (last seq {last_seq})"
        raise JournalCorrupted(snapshot.path.name, 0, reason, snapshot.seq)


def _segments_before(all_segments: list[tuple[int, Path]], oldest_kept: int) -> list[Path]:
    # A segment goes when the next one starts at or before oldest_kept + 1 and has a valid
    # header, so the first retained segment can always be read; the last one always stays.
    doomed: list[Path] = []
    for (_, path), (next_seq, next_path) in pairwise(all_segments):
        if next_seq > oldest_kept + 1 or not _header_matches(next_path, next_seq):
            break
        doomed.append(path)
    return doomed


def _header_matches(path: Path, name_seq: int) -> bool:
    with path.open("rb") as file:
        head = file.read(SEGMENT_HEADER_SIZE)
    try:
        return decode_segment_header(head).first_seq == name_seq
    except ValueError:
        return False


def _write_marker(ops: FileOps, folder: Path, first_seq: int) -> None:
    # Atomic and durable, like a snapshot: temporary file, fsync, rename, fsync the folder.
    temporary = folder / f".{PRUNE_MARKER}.tmp"
    fd = ops.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        write_all(ops, fd, prune_marker_text(first_seq))
        ops.fsync(fd)
    finally:
        ops.close(fd)
    os.replace(temporary, folder / PRUNE_MARKER)
    fsync_directory(ops, folder)


def _remove(ops: FileOps, folder: Path, paths: list[Path]) -> None:
    if not paths:
        return
    for path in sorted(paths):  # oldest first: what is left stays contiguous
        path.unlink()
    fsync_directory(ops, folder)
