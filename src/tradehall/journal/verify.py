"""Full verification of a journal directory: every record from seq 1, every snapshot.

This module owns `verify_journal`, the only reader that proves the whole chain (segment skipping
in `read_journal` and the writer's tail-only open trust segment headers) and ties each
snapshot's seq and chain hash to the journal record at that seq. It reports, it does not repair:
it must never truncate, delete or rewrite anything, and it never hides a `JournalCorrupted`; the
report carries it with its exact file, offset and seq, and `VerifyReport.raise_if_corrupted()`
re-raises it.

A pruned journal (its oldest segments removed by `prune_journal`) is verified from its first
retained segment, whose header is trusted for the seq and chain hash it starts from; the report
states the pruned prefix (`pruned_through`) instead of calling it damage. A snapshot taken
before that prefix ends cannot be tied to the journal any more and is reported as not checkable.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from tradehall.journal.errors import JournalCorrupted
from tradehall.journal.reader import JournalScan, SegmentSummary, first_retained_seq
from tradehall.journal.snapshot import Snapshot, list_snapshots, read_snapshot


@dataclass(frozen=True, slots=True)
class SnapshotCheck:
    """Whether one snapshot file is intact and agrees with the journal at its seq.

    `pruned` marks an intact snapshot older than the pruned journal's first record: not a
    fault (`ok` is true), but `reason` says it could not be tied to the journal.
    """

    name: str
    seq: int | None
    ok: bool
    reason: str | None
    pruned: bool = False


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What a full verification found.

    `records`, `first_seq`, `last_seq` and `last_hash` cover the good part of the journal (up to
    the damage, if `corruption` is set). `pruned_through` is the last seq removed by pruning
    (0 when the journal is whole): verification started after it, from the first retained
    segment's header. A torn tail is not corruption: it is reported in `torn_bytes` and the
    writer drops it on its next open.
    """

    records: int
    first_seq: int | None
    pruned_through: int
    last_seq: int
    last_hash: bytes
    torn_bytes: int
    torn_reason: str | None
    segments: tuple[SegmentSummary, ...]
    snapshots: tuple[SnapshotCheck, ...]
    corruption: JournalCorrupted | None

    @property
    def ok(self) -> bool:
        """Return whether the journal is intact and every snapshot it still covers agrees."""
        return self.corruption is None and all(check.ok for check in self.snapshots)

    def raise_if_corrupted(self) -> None:
        """Raise the `JournalCorrupted` found, if any."""
        if self.corruption is not None:
            raise self.corruption


def verify_journal(directory: str | os.PathLike[str]) -> VerifyReport:
    """Check every retained record and every snapshot against the journal."""
    snapshots, checks = _read_snapshots(directory)
    wanted = {snapshot.seq: snapshot for snapshot in snapshots}
    first = first_retained_seq(directory)
    seen: dict[int, bytes] = {}
    scan = JournalScan(directory, first)
    corruption: JournalCorrupted | None = None
    try:
        for record in scan:
            if record.seq in wanted:
                seen[record.seq] = record.chain_hash
    except JournalCorrupted as error:
        corruption = error
    result = scan.result()
    if result.first_seq == first:
        # The genesis hash at seq 0, or the trusted header hash just before a pruned journal.
        seen[first - 1] = result.start_hash
    checks.extend(_compare(snapshots, seen, first, result.last_seq, corruption is not None))
    return VerifyReport(
        records=result.records,
        first_seq=first if result.records else None,
        pruned_through=first - 1,
        last_seq=result.last_seq,
        last_hash=result.last_hash,
        torn_bytes=result.torn_bytes,
        torn_reason=result.torn_reason,
        segments=result.segments,
        snapshots=tuple(sorted(checks, key=lambda check: check.name)),
        corruption=corruption,
    )


def _read_snapshots(
    directory: str | os.PathLike[str],
) -> tuple[list[Snapshot], list[SnapshotCheck]]:
    snapshots: list[Snapshot] = []
    failed: list[SnapshotCheck] = []
    for entry in list_snapshots(directory):
        try:
            snapshots.append(read_snapshot(entry.path))
        except (JournalCorrupted, OSError) as error:
            failed.append(SnapshotCheck(entry.path.name, entry.seq, ok=False, reason=str(error)))
    return snapshots, failed


def _compare(
    snapshots: Iterable[Snapshot],
    seen: dict[int, bytes],
    first: int,
    last_seq: int,
    stopped_early: bool,
) -> list[SnapshotCheck]:
    checks: list[SnapshotCheck] = []
    for snapshot in snapshots:
        name, seq = snapshot.path.name, snapshot.seq
        pruned = seq < first - 1
        reason: str | None = None
        if pruned:
            reason = f"not checkable: the journal was pruned before seq {first}"
        elif seq not in seen:
            reason = (
                f"not checked: journal damaged before seq {seq}"
                if stopped_early
                else f"snapshot seq {seq} is ahead of the journal (last seq {last_seq})"
            )
        elif seen[seq] != snapshot.chain_hash:
            reason = f"chain hash differs from the journal at seq {seq}"
        ok = pruned or reason is None
        checks.append(SnapshotCheck(name, seq, ok=ok, reason=reason, pruned=pruned))
    return checks
