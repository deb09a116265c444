"""Unit tests of pruning: which snapshots and segments go, what is never touched, the lock."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.kit.pruning import mark_pruned
from tradehall.journal import (
    JournalConfig,
    JournalCorrupted,
    JournalLocked,
    JournalPruned,
    JournalWriter,
    OsFileOps,
    prune_journal,
    read_journal,
    verify_journal,
    write_snapshot,
)
from tradehall.journal.reader import (
    PRUNE_MARKER,
    list_segments,
    segments_directory,
)
from tradehall.journal.snapshot import list_snapshots

SNAPSHOT_SEQS = (10, 20, 30, 40)
LAST_SEQ = 45


def _config(root: Path) -> JournalConfig:
    return JournalConfig(str(root), fsync=False, segment_max_bytes=150)


def _write(root: Path, snapshot_seqs: tuple[int, ...] = SNAPSHOT_SEQS,
           last_seq: int = LAST_SEQ, roll: bool = True) -> dict[int, bytes]:
    # Like the engine host: a snapshot at each of `snapshot_seqs`, then a new segment.
    with JournalWriter.open(_config(root)) as writer:
        for seq in range(1, last_seq + 1):
            writer.append_sync([(seq, seq, b"command-%d" % seq)])
            if seq in snapshot_seqs:
                write_snapshot(root, seq, writer.last_hash, b"h%d" % seq, b"state-%d" % seq)
                if roll:
                    writer.roll()
    return {record.seq: record.chain_hash for record in read_journal(root)}


def _segment_firsts(root: Path) -> list[int]:
    return [first for first, _ in list_segments(root)]


def _snapshot_seqs(root: Path) -> list[int]:
    return [entry.seq for entry in list_snapshots(root)]


def _damage(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-1])


class DirectoryFsyncs(OsFileOps):
    """Records every directory that was fsynced."""

    def __init__(self) -> None:
        self.fsynced: list[Path] = []
        self._paths: dict[int, Path] = {}

    def open(self, path: Path, flags: int) -> int:
        fd = super().open(path, flags)
        self._paths[fd] = path
        return fd

    def fsync(self, fd: int) -> None:
        super().fsync(fd)
        if self._paths[fd].is_dir():
            self.fsynced.append(self._paths[fd])


def test_prune_when_keeping_two_removes_older_snapshots_and_segments_before_them(
    tmp_path: Path,
) -> None:
    # Arrange
    chain = _write(tmp_path)
    ops = DirectoryFsyncs()

    # Act
    result = prune_journal(tmp_path, keep_snapshots=2, file_ops=ops)

    # Assert: snapshots 30 and 40 stay, the journal starts right after 30.
    assert [path.name for path in result.kept_snapshots] == [
        "snapshot-00000000000000000040.bin", "snapshot-00000000000000000030.bin"]
    assert _snapshot_seqs(tmp_path) == [30, 40]
    assert sorted(path.name for path in result.removed_snapshots) == [
        "snapshot-00000000000000000010.bin", "snapshot-00000000000000000020.bin"]
    assert (result.first_seq, _segment_firsts(tmp_path)[0]) == (31, 31)
    assert all(not path.exists() for path in result.removed_segments)
    assert [r.seq for r in read_journal(tmp_path, 31, prev_hash=chain[30])] == list(range(31, 46))
    assert set(ops.fsynced) == {tmp_path / "journal", tmp_path / "snapshots"}
    assert not result.dry_run


def test_prune_when_journal_pruned_reading_before_it_raises_naming_first_seq(
    tmp_path: Path,
) -> None:
    _write(tmp_path)
    prune_journal(tmp_path, keep_snapshots=1)

    with pytest.raises(JournalPruned, match="starts at seq 41") as caught:
        list(read_journal(tmp_path, 12))

    assert (caught.value.first_seq, caught.value.wanted_seq) == (41, 12)
    assert isinstance(caught.value, JournalCorrupted)


def test_prune_when_done_leaves_a_journal_that_verifies_and_reopens(tmp_path: Path) -> None:
    # Arrange
    chain = _write(tmp_path)

    # Act
    prune_journal(tmp_path, keep_snapshots=2)
    with JournalWriter.open(_config(tmp_path)) as writer:
        writer.append_sync([(46, 46, b"after")])
    report = verify_journal(tmp_path)

    # Assert
    assert report.ok
    assert (report.first_seq, report.pruned_through, report.last_seq) == (31, 30, 46)
    assert [check.seq for check in report.snapshots if not check.pruned] == [30, 40]
    assert report.last_hash != chain[45]


def test_prune_when_dry_run_removes_nothing_and_reports_the_plan(tmp_path: Path) -> None:
    # Arrange
    _write(tmp_path)
    segments_before, snapshots_before = _segment_firsts(tmp_path), _snapshot_seqs(tmp_path)

    # Act
    planned = prune_journal(tmp_path, keep_snapshots=2, dry_run=True)

    # Assert
    assert (_segment_firsts(tmp_path), _snapshot_seqs(tmp_path)) == (
        segments_before, snapshots_before)
    assert planned.dry_run
    done = prune_journal(tmp_path, keep_snapshots=2)
    assert (planned.removed_segments, planned.removed_snapshots, planned.first_seq) == (
        done.removed_segments, done.removed_snapshots, done.first_seq)


def test_prune_when_no_valid_snapshot_removes_nothing(tmp_path: Path) -> None:
    # Arrange: every snapshot damaged.
    _write(tmp_path)
    for entry in list_snapshots(tmp_path):
        _damage(entry.path)
    segments_before = _segment_firsts(tmp_path)

    # Act
    result = prune_journal(tmp_path, keep_snapshots=1)

    # Assert
    assert (result.kept_snapshots, result.removed_snapshots, result.removed_segments) == (
        (), (), ())
    assert len(result.damaged_snapshots) == 4
    assert (_segment_firsts(tmp_path), _snapshot_seqs(tmp_path)) == (
        segments_before, list(SNAPSHOT_SEQS))


def test_prune_when_no_snapshot_at_all_removes_nothing(tmp_path: Path) -> None:
    _write(tmp_path, snapshot_seqs=())
    segments_before = _segment_firsts(tmp_path)

    result = prune_journal(tmp_path, keep_snapshots=1)

    assert (result.removed_segments, result.first_seq) == ((), 1)
    assert _segment_firsts(tmp_path) == segments_before


def test_prune_when_a_snapshot_is_damaged_keeps_it_and_counts_only_valid_ones(
    tmp_path: Path,
) -> None:
    # Arrange
    _write(tmp_path)
    damaged = list_snapshots(tmp_path)[2].path  # seq 30
    _damage(damaged)

    # Act
    result = prune_journal(tmp_path, keep_snapshots=2)

    # Assert: 40 and 20 are the two newest valid ones; 30 stays as evidence.
    assert _snapshot_seqs(tmp_path) == [20, 30, 40]
    assert [entry.path for entry in result.damaged_snapshots] == [damaged]
    assert result.first_seq == 21


def test_prune_when_snapshot_is_at_the_very_end_never_removes_the_last_segment(
    tmp_path: Path,
) -> None:
    # Arrange: no roll after the snapshot, so the last segment holds records up to it.
    chain = _write(tmp_path, snapshot_seqs=(LAST_SEQ,), roll=False)
    last_segment = list_segments(tmp_path)[-1]

    # Act
    result = prune_journal(tmp_path, keep_snapshots=1)

    # Assert
    assert list_segments(tmp_path) == [last_segment]
    assert result.first_seq == last_segment[0]
    assert list(read_journal(tmp_path, LAST_SEQ + 1, prev_hash=chain[LAST_SEQ])) == []
    with JournalWriter.open(_config(tmp_path)) as writer:
        assert writer.last_seq == LAST_SEQ


def test_prune_when_last_segment_has_no_header_keeps_the_one_before(tmp_path: Path) -> None:
    # Arrange: a crash while rolling after the snapshot at the end left an empty segment.
    _write(tmp_path, snapshot_seqs=(LAST_SEQ,))
    segments = list_segments(tmp_path)
    segments[-1][1].write_bytes(b"")

    # Act
    prune_journal(tmp_path, keep_snapshots=1)

    # Assert: the writer still finds the last seq and chain in the segment before.
    assert list_segments(tmp_path) == segments[-2:]
    with JournalWriter.open(_config(tmp_path)) as writer:
        assert writer.last_seq == LAST_SEQ
        writer.append_sync([(LAST_SEQ + 1, 0, b"next")])
    assert verify_journal(tmp_path).ok


def test_prune_when_a_writer_holds_the_journal_refuses_but_dry_run_works(tmp_path: Path) -> None:
    _write(tmp_path)

    with JournalWriter.open(_config(tmp_path)):
        with pytest.raises(JournalLocked):
            prune_journal(tmp_path, keep_snapshots=1)
        planned = prune_journal(tmp_path, keep_snapshots=1, dry_run=True)

    assert planned.first_seq == 41
    assert _snapshot_seqs(tmp_path) == list(SNAPSHOT_SEQS)


def test_prune_when_given_the_open_writer_prunes_under_its_lock(tmp_path: Path) -> None:
    # Arrange
    _write(tmp_path)

    # Act
    with JournalWriter.open(_config(tmp_path)) as writer:
        result = prune_journal(tmp_path, keep_snapshots=1, writer=writer)
        writer.append_sync([(LAST_SEQ + 1, 0, b"still writing")])

    # Assert
    assert (result.first_seq, _snapshot_seqs(tmp_path)) == (41, [40])
    assert verify_journal(tmp_path).last_seq == LAST_SEQ + 1


def test_prune_when_writer_is_closed_or_elsewhere_refuses(tmp_path: Path) -> None:
    _write(tmp_path / "a")
    writer = JournalWriter.open(_config(tmp_path / "b"))

    with pytest.raises(ValueError, match="writer must be open"):
        prune_journal(tmp_path / "a", keep_snapshots=1, writer=writer)
    writer.close()
    with pytest.raises(ValueError, match="writer must be open"):
        prune_journal(tmp_path / "b", keep_snapshots=1, writer=writer)


@pytest.mark.parametrize("bad_seq", [30, 40])
def test_prune_when_a_kept_snapshot_disagrees_with_the_journal_removes_nothing(
    tmp_path: Path, bad_seq: int
) -> None:
    # Arrange: a snapshot whose chain hash belongs to another history.
    _write(tmp_path)
    write_snapshot(tmp_path, bad_seq, b"\x05" * 16, b"h", b"other")
    segments_before = _segment_firsts(tmp_path)

    # Act / Assert
    with pytest.raises(JournalCorrupted, match=f"at seq {bad_seq}"):
        prune_journal(tmp_path, keep_snapshots=2)
    assert (_segment_firsts(tmp_path), _snapshot_seqs(tmp_path)) == (
        segments_before, list(SNAPSHOT_SEQS))


def test_prune_when_a_kept_snapshot_is_ahead_of_the_journal_removes_nothing(
    tmp_path: Path,
) -> None:
    chain = _write(tmp_path)
    write_snapshot(tmp_path, 99, chain[LAST_SEQ], b"h", b"future")

    with pytest.raises(JournalCorrupted, match="ahead of the journal"):
        prune_journal(tmp_path, keep_snapshots=2)
    assert _snapshot_seqs(tmp_path) == [*SNAPSHOT_SEQS, 99]


def test_prune_when_run_twice_removes_nothing_more(tmp_path: Path) -> None:
    _write(tmp_path)
    prune_journal(tmp_path, keep_snapshots=2)

    again = prune_journal(tmp_path, keep_snapshots=2)

    assert (again.removed_segments, again.removed_snapshots, again.first_seq) == ((), (), 31)


def test_prune_when_keep_is_below_one_or_journal_missing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="keep_snapshots"):
        prune_journal(tmp_path, keep_snapshots=0)
    write_snapshot(tmp_path, 0, bytes(16), b"h", b"")

    result = prune_journal(tmp_path, keep_snapshots=1)

    assert (result.kept_snapshots, result.first_seq) == ((), 1)
    assert os.listdir(tmp_path / "snapshots") == ["snapshot-00000000000000000000.bin"]


def test_prune_when_snapshots_only_keeps_every_segment(tmp_path: Path) -> None:
    _write(tmp_path)
    segments_before = _segment_firsts(tmp_path)

    result = prune_journal(tmp_path, keep_snapshots=1, segments=False)

    assert (_segment_firsts(tmp_path), _snapshot_seqs(tmp_path)) == (segments_before, [40])
    assert (result.removed_segments, result.first_seq) == ((), 1)


def test_prune_when_done_leaves_a_marker_so_a_later_loss_is_still_corruption(
    tmp_path: Path,
) -> None:
    # Arrange: pruned down to 31; then the first retained segment is lost too.
    _write(tmp_path)
    prune_journal(tmp_path, keep_snapshots=2)
    assert (segments_directory(tmp_path) / PRUNE_MARKER).read_bytes() == b"first_seq 31\n"
    list_segments(tmp_path)[0][1].unlink()

    # Act
    report = verify_journal(tmp_path)

    # Assert
    assert report.corruption is not None
    assert report.corruption.reason.startswith("missing segment: the journal must start at "
                                               "seq 31")


def test_prune_when_stopped_after_its_marker_still_reads_what_is_left(tmp_path: Path) -> None:
    # A crash between the marker and the last removal: older segments than the marker's are
    # still there and read as usual.
    chain = _write(tmp_path)
    mark_pruned(tmp_path, 31)

    report = verify_journal(tmp_path)

    assert report.ok
    assert [r.seq for r in read_journal(tmp_path, 1)][:3] == [1, 2, 3]
    assert report.last_hash == chain[45]


def test_prune_marker_when_damaged_is_reported(tmp_path: Path) -> None:
    _write(tmp_path)
    (segments_directory(tmp_path) / PRUNE_MARKER).write_bytes(b"first_seq x\n")

    with pytest.raises(JournalCorrupted, match="bad prune marker"):
        list(read_journal(tmp_path))
