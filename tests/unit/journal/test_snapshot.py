"""Unit tests of snapshots: atomic write, checked load, fallback past damaged newer files."""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from tradehall.journal import (
    GENESIS_HASH,
    JournalCorrupted,
    OsFileOps,
    find_latest_snapshot,
    list_snapshots,
    load_latest_snapshot,
    read_snapshot,
    remove_partial_snapshots,
    write_snapshot,
)
from tradehall.journal.snapshot import snapshots_directory

CHAIN = bytes(range(16))


def test_snapshot_when_written_loads_back_identical(tmp_path: Path) -> None:
    path = write_snapshot(tmp_path, 42, CHAIN, b"state-hash", b"payload" * 1000)

    snapshot = load_latest_snapshot(tmp_path)

    assert path.name == "snapshot-00000000000000000042.bin"
    assert snapshot is not None
    assert (snapshot.path, snapshot.seq, snapshot.chain_hash) == (path, 42, CHAIN)
    assert (snapshot.state_hash, snapshot.payload) == (b"state-hash", b"payload" * 1000)
    assert [p.name for p in snapshots_directory(tmp_path).iterdir()] == [path.name]


def test_snapshot_when_none_written_loads_none(tmp_path: Path) -> None:
    assert load_latest_snapshot(tmp_path) is None
    assert list_snapshots(tmp_path) == []


def test_snapshot_when_several_written_loads_newest(tmp_path: Path) -> None:
    for seq in (5, 50, 10):
        write_snapshot(tmp_path, seq, CHAIN, b"h%d" % seq, b"")

    snapshot = load_latest_snapshot(tmp_path)

    assert [entry.seq for entry in list_snapshots(tmp_path)] == [5, 10, 50]
    assert snapshot is not None
    assert (snapshot.seq, snapshot.state_hash) == (50, b"h50")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda data: data[:-1], "does not match its header"),
        (lambda data: data[:20], "truncated snapshot"),
        (lambda data: data[:-40] + b"X" + data[-39:], "checksum mismatch"),
        (lambda data: b"NOPE" + data[4:], "bad snapshot header"),
    ],
)
def test_snapshot_when_newest_damaged_falls_back_to_older_and_says_why(
    tmp_path: Path, damage: Callable[[bytes], bytes], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Arrange
    write_snapshot(tmp_path, 10, CHAIN, b"old", b"old state")
    newest = write_snapshot(tmp_path, 20, CHAIN, b"new", b"new state" * 10)
    newest.write_bytes(damage(newest.read_bytes()))

    # Act
    with caplog.at_level(logging.WARNING):
        snapshot = load_latest_snapshot(tmp_path)
    search = find_latest_snapshot(tmp_path)

    # Assert
    assert snapshot is not None
    assert (snapshot.seq, snapshot.payload) == (10, b"old state")
    assert [skipped.path for skipped in search.skipped] == [newest]
    assert reason in search.skipped[0].reason
    assert newest.name in caplog.text
    with pytest.raises(JournalCorrupted, match=reason):
        read_snapshot(newest)


def test_snapshot_when_renamed_to_other_seq_is_rejected(tmp_path: Path) -> None:
    path = write_snapshot(tmp_path, 7, CHAIN, b"", b"")
    moved = path.rename(path.with_name("snapshot-00000000000000000008.bin"))

    with pytest.raises(JournalCorrupted, match="does not match file name"):
        read_snapshot(moved)
    assert find_latest_snapshot(tmp_path).snapshot is None


def test_snapshot_when_leftover_temporary_file_ignores_it(tmp_path: Path) -> None:
    write_snapshot(tmp_path, 3, GENESIS_HASH, b"", b"ok")
    folder = snapshots_directory(tmp_path)
    (folder / ".snapshot-00000000000000000009.bin.tmp").write_bytes(b"half")
    (folder / "notes.txt").write_text("not a snapshot")

    snapshot = load_latest_snapshot(tmp_path)

    assert snapshot is not None
    assert snapshot.seq == 3


def test_snapshot_when_same_seq_written_twice_keeps_the_latest(tmp_path: Path) -> None:
    write_snapshot(tmp_path, 4, CHAIN, b"a", b"first")
    write_snapshot(tmp_path, 4, CHAIN, b"b", b"second")

    snapshot = load_latest_snapshot(tmp_path)

    assert snapshot is not None
    assert snapshot.payload == b"second"


@pytest.mark.parametrize(
    ("seq", "chain", "state"),
    [(-1, CHAIN, b""), (1, b"short", b""), (1, CHAIN, bytes(70_000))],
)
def test_write_snapshot_when_arguments_invalid_raises(
    tmp_path: Path, seq: int, chain: bytes, state: bytes
) -> None:
    with pytest.raises(ValueError, match="need"):
        write_snapshot(tmp_path, seq, chain, state, b"")


class FailingWriteOps(OsFileOps):
    """Fails every write with ENOSPC, as a full disk would."""

    def write(self, fd: int, data: memoryview) -> int:
        raise OSError(errno.ENOSPC, "injected: no space left")


def test_write_snapshot_when_write_fails_leaves_no_file_behind(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="no space left"):
        write_snapshot(tmp_path, 1, CHAIN, b"", b"x", file_ops=FailingWriteOps())

    assert list(snapshots_directory(tmp_path).iterdir()) == []


def test_snapshot_when_newest_is_unreadable_falls_back(tmp_path: Path) -> None:
    write_snapshot(tmp_path, 1, CHAIN, b"", b"old")
    newest = snapshots_directory(tmp_path) / "snapshot-00000000000000000002.bin"
    newest.mkdir()  # A directory where a file should be: reading it fails with an OSError.

    search = find_latest_snapshot(tmp_path)

    assert search.snapshot is not None
    assert search.snapshot.seq == 1
    assert search.skipped[0].reason.startswith("unreadable")


def test_remove_partial_snapshots_when_writes_were_torn_removes_only_their_files(
    tmp_path: Path,
) -> None:
    kept = write_snapshot(tmp_path, 7, CHAIN, b"h", b"state")
    folder = snapshots_directory(tmp_path)
    torn = [folder / ".snapshot-00000000000000000008.bin.tmp",
            folder / ".snapshot-00000000000000000009.bin.tmp"]
    for path in torn:
        path.write_bytes(b"torn")
    foreign = folder / "readme.tmp"
    foreign.write_bytes(b"")

    removed = remove_partial_snapshots(tmp_path)

    assert removed == torn
    assert sorted(p.name for p in folder.iterdir()) == sorted([kept.name, foreign.name])
    assert remove_partial_snapshots(tmp_path / "nowhere") == []
