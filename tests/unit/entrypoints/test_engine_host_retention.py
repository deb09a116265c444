"""The engine host's snapshot retention, and recovery from a pruned journal."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.kit.factories import ALICE, T0, buy
from tests.kit.host_journal import host_config, write_host_journal
from tradehall.engine.state import state_hash
from tradehall.entrypoints.workers.engine_host import EngineHost, EngineHostConfig
from tradehall.journal import JournalPruned, prune_journal, verify_journal
from tradehall.journal.reader import list_segments
from tradehall.journal.snapshot import list_snapshots


def _snapshot_seqs(root: Path) -> list[int]:
    return [entry.seq for entry in list_snapshots(root)]


def test_snapshot_when_more_than_kept_removes_the_oldest_snapshot_files_only(
    tmp_path: Path,
) -> None:
    # Arrange
    built = write_host_journal(tmp_path, snapshots=4)
    segments = list_segments(tmp_path)

    # Act: one more snapshot with retention on.
    with EngineHost.open(host_config(tmp_path, snapshots_kept=2)) as host:
        host.snapshot()
        newest = host.seq

    # Assert: two snapshot files left; every segment is still there.
    assert _snapshot_seqs(tmp_path) == [built.snapshot_seqs[-1], newest]
    assert list_segments(tmp_path)[: len(segments) - 1] == segments[:-1]
    assert verify_journal(tmp_path).pruned_through == 0


def test_snapshot_by_default_keeps_three_and_zero_keeps_all(tmp_path: Path) -> None:
    write_host_journal(tmp_path / "all", snapshots=5)  # snapshots_kept=0
    with EngineHost.open(EngineHostConfig(data_dir=tmp_path / "default", fsync=False)) as host:
        for n in range(5):
            host.submit([(buy(ALICE, f"b{n}", 1, 100_00), T0 + n)])
            host.snapshot()

    assert len(_snapshot_seqs(tmp_path / "all")) == 5
    assert len(_snapshot_seqs(tmp_path / "default")) == 3
    with pytest.raises(ValueError, match="snapshots_kept"):
        EngineHostConfig(data_dir=tmp_path, snapshots_kept=-1)


def test_snapshot_when_an_old_snapshot_is_damaged_keeps_it_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Arrange
    built = write_host_journal(tmp_path, snapshots=3)
    damaged = list_snapshots(tmp_path)[0].path
    damaged.write_bytes(damaged.read_bytes()[:-1])

    # Act
    with caplog.at_level(logging.WARNING), \
            EngineHost.open(host_config(tmp_path, snapshots_kept=1)) as host:
        host.snapshot()
        newest = host.seq

    # Assert
    assert _snapshot_seqs(tmp_path) == [built.snapshot_seqs[0], newest]
    assert f"damaged snapshot kept as evidence: {damaged.name}" in caplog.text


def test_open_after_prune_recovers_from_every_kept_snapshot_to_the_same_state(
    tmp_path: Path,
) -> None:
    # Arrange
    built = write_host_journal(tmp_path, snapshots=4)
    kept = built.snapshot_seqs[-3:]

    # Act
    result = prune_journal(tmp_path, keep_snapshots=3)

    # Assert: each kept snapshot replays forward to the state the writer ended with.
    assert result.first_seq == kept[0] + 1
    assert result.removed_segments
    for seq in kept:
        with EngineHost.open(host_config(tmp_path), max_snapshot_seq=seq) as host:
            assert (host.recovery.snapshot_seq, host.recovery.last_seq) == (seq, built.last_seq)
            assert host.recovery.replayed == built.last_seq - seq
            assert state_hash(host.engine) == built.state_hash


def test_open_after_prune_when_asked_for_an_older_start_raises_journal_pruned(
    tmp_path: Path,
) -> None:
    # A read model behind the oldest kept snapshot cannot be caught up any more.
    built = write_host_journal(tmp_path, snapshots=4)
    prune_journal(tmp_path, keep_snapshots=2)
    first = built.snapshot_seqs[-2] + 1

    with pytest.raises(JournalPruned, match=f"starts at seq {first}"):
        EngineHost.open(host_config(tmp_path), max_snapshot_seq=built.snapshot_seqs[0])

    with EngineHost.open(host_config(tmp_path)) as host:  # the lock was released
        assert state_hash(host.engine) == built.state_hash


def test_open_when_a_snapshot_write_crashed_removes_its_temporary_file_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Arrange: a finished snapshot, plus the temporary file a crash in the middle of the next
    # snapshot's write leaves behind.
    built = write_host_journal(tmp_path, snapshots=1)
    folder = list_snapshots(tmp_path)[0].path.parent
    leftover = folder / ".snapshot-00000000000000009999.bin.tmp"
    leftover.write_bytes(b"half a snapshot")
    unrelated = folder / "notes.tmp"
    unrelated.write_bytes(b"not ours")

    # Act
    with caplog.at_level(logging.WARNING), EngineHost.open(host_config(tmp_path)) as host:
        recovered = host.seq

    # Assert: the leftover is gone and said so; the snapshots and foreign files stay.
    assert not leftover.exists()
    assert unrelated.exists()
    assert tuple(_snapshot_seqs(tmp_path)) == built.snapshot_seqs
    assert recovered == built.last_seq
    assert any(leftover.name in record.getMessage() for record in caplog.records)
