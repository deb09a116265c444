"""Unit tests of full verification: journal facts, snapshot agreement, corruption reporting."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kit.pruning import mark_pruned
from tradehall.journal import (
    GENESIS_HASH,
    JournalConfig,
    JournalCorrupted,
    JournalWriter,
    read_journal,
    verify_journal,
    write_snapshot,
)
from tradehall.journal.reader import (
    list_segments,
)


def _write(root: Path, count: int) -> dict[int, bytes]:
    config = JournalConfig(str(root), fsync=False, segment_max_bytes=300)
    with JournalWriter.open(config) as writer:
        for seq in range(1, count + 1):
            writer.append([(seq, seq, b"command-%d" % seq)])
    return {record.seq: record.chain_hash for record in read_journal(root)}


def test_verify_when_journal_and_snapshots_agree_reports_ok(tmp_path: Path) -> None:
    # Arrange
    chain = _write(tmp_path, 40)
    write_snapshot(tmp_path, 0, GENESIS_HASH, b"empty", b"")
    write_snapshot(tmp_path, 25, chain[25], b"s25", b"state")

    # Act
    report = verify_journal(tmp_path)

    # Assert
    assert report.ok
    assert (report.records, report.first_seq, report.last_seq) == (40, 1, 40)
    assert report.last_hash == chain[40]
    assert report.torn_bytes == 0
    assert len(report.segments) > 1
    assert sum(segment.records for segment in report.segments) == 40
    assert [check.seq for check in report.snapshots] == [0, 25]
    assert all(check.ok for check in report.snapshots)
    report.raise_if_corrupted()


def test_verify_when_empty_directory_reports_nothing(tmp_path: Path) -> None:
    report = verify_journal(tmp_path)

    assert report.ok
    assert (report.records, report.first_seq, report.last_seq) == (0, None, 0)
    assert (report.segments, report.snapshots) == ((), ())


def test_verify_when_snapshots_disagree_reports_each_reason(tmp_path: Path) -> None:
    # Arrange
    chain = _write(tmp_path, 10)
    write_snapshot(tmp_path, 5, chain[4], b"", b"")
    write_snapshot(tmp_path, 99, chain[10], b"", b"")
    broken = write_snapshot(tmp_path, 7, chain[7], b"", b"payload")
    broken.write_bytes(broken.read_bytes()[:-1])

    # Act
    report = verify_journal(tmp_path)

    # Assert
    assert not report.ok
    assert report.corruption is None
    reasons = {check.seq: check.reason for check in report.snapshots if not check.ok}
    assert set(reasons) == {5, 7, 99}
    assert reasons[5] == "chain hash differs from the journal at seq 5"
    assert "does not match its header" in str(reasons[7])
    assert reasons[99] == "snapshot seq 99 is ahead of the journal (last seq 10)"


def test_verify_when_journal_corrupted_reports_exact_place(tmp_path: Path) -> None:
    # Arrange
    chain = _write(tmp_path, 30)
    write_snapshot(tmp_path, 28, chain[28], b"", b"")
    _, second = list_segments(tmp_path)[1]
    data = bytearray(second.read_bytes())
    data[60] ^= 0xFF
    second.write_bytes(bytes(data))

    # Act
    report = verify_journal(tmp_path)

    # Assert
    assert not report.ok
    assert report.corruption is not None
    assert report.corruption.file == second.name
    assert report.corruption.seq == report.last_seq + 1
    assert report.records == report.last_seq
    assert report.snapshots[0].reason == "not checked: journal damaged before seq 28"
    with pytest.raises(JournalCorrupted):
        report.raise_if_corrupted()


def test_verify_when_tail_torn_reports_it_without_failing(tmp_path: Path) -> None:
    _write(tmp_path, 10)  # Segments hold seqs 1-6 and 7-10.
    _, last = list_segments(tmp_path)[-1]
    last.write_bytes(last.read_bytes()[:-5])

    report = verify_journal(tmp_path)

    assert report.ok
    assert (report.last_seq, report.torn_reason) == (9, "incomplete record")
    assert report.torn_bytes > 0


def test_verify_when_oldest_segments_pruned_checks_from_the_first_retained_one(
    tmp_path: Path,
) -> None:
    # Arrange: segments hold seqs 1-6, 7-12, ...; the first two are gone.
    chain = _write(tmp_path, 40)
    segments = list_segments(tmp_path)
    first = segments[2][0]
    mark_pruned(tmp_path, first)
    for _, path in segments[:2]:
        path.unlink()
    write_snapshot(tmp_path, 3, chain[3], b"", b"")  # inside the pruned part
    write_snapshot(tmp_path, first - 1, chain[first - 1], b"", b"")  # where the journal starts
    write_snapshot(tmp_path, 30, chain[30], b"", b"")
    write_snapshot(tmp_path, 31, chain[30], b"", b"")  # disagrees

    # Act
    report = verify_journal(tmp_path)

    # Assert
    assert report.corruption is None
    assert (report.first_seq, report.pruned_through) == (first, first - 1)
    assert (report.records, report.last_seq, report.last_hash) == (41 - first, 40, chain[40])
    checks = {check.seq: check for check in report.snapshots}
    assert (checks[3].ok, checks[3].pruned) == (True, True)
    assert checks[3].reason == f"not checkable: the journal was pruned before seq {first}"
    assert (checks[first - 1].ok, checks[first - 1].pruned) == (True, False)
    assert (checks[30].ok, checks[31].ok) == (True, False)
    assert not report.ok


def test_verify_when_journal_whole_reports_nothing_pruned(tmp_path: Path) -> None:
    _write(tmp_path, 10)

    report = verify_journal(tmp_path)

    assert (report.first_seq, report.pruned_through) == (1, 0)


def test_verify_when_first_retained_header_damaged_reports_it(tmp_path: Path) -> None:
    # Arrange
    chain = _write(tmp_path, 40)
    segments = list_segments(tmp_path)
    first, path = segments[1]
    mark_pruned(tmp_path, first)
    segments[0][1].unlink()
    data = bytearray(path.read_bytes())
    data[20] ^= 0xFF
    path.write_bytes(bytes(data))
    write_snapshot(tmp_path, first - 1, chain[first - 1], b"", b"")

    # Act
    report = verify_journal(tmp_path)

    # Assert: the header is not trusted, so the snapshot at its seq is not either.
    assert report.corruption is not None
    assert report.corruption.reason.startswith("bad segment header")
    assert report.snapshots[0].reason == f"not checked: journal damaged before seq {first - 1}"
