"""Full verification of a journal directory: every record from seq 1, every snapshot.

This module owns `verify_journal`, the only reader that proves the whole chain (segment skipping
in `read_journal` trusts segment headers) and ties each snapshot's seq and chain hash to the
journal record at that seq. It reports, it does not repair: it must never truncate, delete or
rewrite anything, and it never hides a `JournalCorrupted`; the report carries it with its exact
file, offset and seq, and `VerifyReport.raise_if_corrupted()` re-raises it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from tradehall.journal.codec import GENESIS_HASH
from tradehall.journal.errors import JournalCorrupted
from tradehall.journal.reader import JournalScan, SegmentSummary
from tradehall.journal.snapshot import Snapshot, list_snapshots, read_snapshot


@dataclass(frozen=True, slots=True)
class SnapshotCheck:
    """Whether one snapshot file is intact and agrees with the journal at its seq."""

    name: str
    seq: int | None
    ok: bool
    reason: str | None


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What a full verification found.

    `records`, `last_seq` and `last_hash` cover the good part of the journal (up to the damage,
    if `corruption` is set). A torn tail is not corruption: it is reported in `torn_bytes` and
    the writer drops it on its next open.
    """

    records: int
    first_seq: int | None
    last_seq: int
    last_hash: bytes
    torn_bytes: int
    torn_reason: str | None
    segments: tuple[SegmentSummary, ...]
    snapshots: tuple[SnapshotCheck, ...]
    corruption: JournalCorrupted | None

    @property
    def ok(self) -> bool:
        """Return whether the journal is intact and every snapshot agrees with it."""
        return self.corruption is None and all(check.ok for check in self.snapshots)

    def raise_if_corrupted(self) -> None:
        """Raise the `JournalCorrupted` found, if any."""
        if self.corruption is not None:
            raise self.corruption


def verify_journal(directory: str | os.PathLike[str]) -> VerifyReport:
    """Check every record from seq 1 and every snapshot against the journal."""
    snapshots, checks = _read_snapshots(directory)
    wanted = {snapshot.seq: snapshot for snapshot in snapshots}
    seen: dict[int, bytes] = {0: GENESIS_HASH}
    scan = JournalScan(directory)
    corruption: JournalCorrupted | None = None
    try:
        for record in scan:
            if record.seq in wanted:
                seen[record.seq] = record.chain_hash
    except JournalCorrupted as error:
        corruption = error
    result = scan.result()
    checks.extend(_compare(snapshots, seen, result.last_seq, corruption is not None))
    return VerifyReport(
        records=result.records,
        first_seq=1 if result.records else None,
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
    snapshots: Iterable[Snapshot], seen: dict[int, bytes], last_seq: int, stopped_early: bool
) -> list[SnapshotCheck]:
    checks: list[SnapshotCheck] = []
    for snapshot in snapshots:
        name, seq = snapshot.path.name, snapshot.seq
        reason: str | None = None
        if seq not in seen:
            reason = (
                f"not checked: journal damaged before seq {seq}"
                if stopped_early
                else f"snapshot seq {seq} is ahead of the journal (last seq {last_seq})"
            )
        elif seen[seq] != snapshot.chain_hash:
            reason = f"chain hash differs from the journal at seq {seq}"
        checks.append(SnapshotCheck(name, seq, ok=reason is None, reason=reason))
    return checks
