"""`tradehall journal verify` and `prune`: the platform's journal folder, pruned journals."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tests.kit.host_journal import host_config, write_host_journal
from tradehall.entrypoints.cli.journal import app, journal_dir
from tradehall.entrypoints.workers.engine_host import EngineHost, EngineHostConfig
from tradehall.journal import JournalConfig, JournalWriter
from tradehall.journal.reader import list_segments
from tradehall.journal.snapshot import list_snapshots


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_journal_dir_when_given_a_platform_folder_uses_its_journal(tmp_path: Path) -> None:
    EngineHost.open(EngineHostConfig(data_dir=tmp_path / "journal", fsync=False)).close()

    assert journal_dir(tmp_path) == tmp_path / "journal"
    assert journal_dir(tmp_path / "journal") == tmp_path / "journal"
    assert journal_dir(tmp_path / "elsewhere") == tmp_path / "elsewhere"


def test_verify_when_journal_whole_replays_from_seq_1(tmp_path: Path) -> None:
    built = write_host_journal(tmp_path)

    code, out, _ = _run("verify", "--data-dir", str(tmp_path))

    assert code == 0
    assert "pruned" not in out
    assert out.splitlines()[-1] == f"state_hash={built.state_hash}"


def test_verify_when_journal_pruned_replays_from_the_newest_covered_snapshot(
    tmp_path: Path,
) -> None:
    # Arrange: a platform folder whose journal was pruned to the last two snapshots.
    root = tmp_path / "journal"
    built = write_host_journal(root)
    _run("prune", "--keep-snapshots", "2", "--data-dir", str(tmp_path))
    oldest, newest = built.snapshot_seqs[-2:]

    # Act
    code, out, _ = _run("verify", "--data-dir", str(tmp_path))

    # Assert
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith(f"records={built.last_seq - oldest} first_seq={oldest + 1} ")
    assert f"pruned: seqs 1-{oldest} were removed; verified from seq {oldest + 1}" in out
    assert f"replaying from snapshot-{newest:020d}.bin (seq {newest})" in out
    assert lines[-1] == f"state_hash={built.state_hash}"


def test_verify_when_pruned_and_no_covered_snapshot_left_fails(tmp_path: Path) -> None:
    write_host_journal(tmp_path)
    _run("prune", "--keep-snapshots", "1", "--data-dir", str(tmp_path))
    for entry in list_snapshots(tmp_path):
        entry.path.unlink()

    code, _, err = _run("verify", "--data-dir", str(tmp_path))

    assert code == 1
    assert "no snapshot it covers is left to replay from" in err


def test_prune_when_dry_run_lists_what_would_go_and_removes_nothing(tmp_path: Path) -> None:
    # Arrange
    built = write_host_journal(tmp_path, snapshots=3)
    segments, snapshots = list_segments(tmp_path), list_snapshots(tmp_path)

    # Act
    code, out, _ = _run("prune", "--keep-snapshots", "1", "--dry-run", "--data-dir",
                        str(tmp_path))

    # Assert
    assert code == 0
    assert (list_segments(tmp_path), list_snapshots(tmp_path)) == (segments, snapshots)
    first = built.snapshot_seqs[-1] + 1
    assert f"would remove snapshot snapshot-{built.snapshot_seqs[0]:020d}.bin" in out
    assert "would remove segment 00000000000000000001.log" in out
    assert out.splitlines()[-1].endswith(f"snapshots; the journal would start at seq {first}")


def test_prune_when_run_removes_and_every_kept_snapshot_still_recovers(tmp_path: Path) -> None:
    # Arrange
    built = write_host_journal(tmp_path, snapshots=3)

    # Act
    code, out, _ = _run("prune", "--keep-snapshots", "2", "--data-dir", str(tmp_path))

    # Assert
    assert code == 0
    assert [entry.seq for entry in list_snapshots(tmp_path)] == list(built.snapshot_seqs[-2:])
    assert f"removed snapshot snapshot-{built.snapshot_seqs[0]:020d}.bin" in out
    assert list_segments(tmp_path)[0][0] == built.snapshot_seqs[-2] + 1
    with EngineHost.open(host_config(tmp_path), max_snapshot_seq=built.snapshot_seqs[-2]) as host:
        assert host.recovery.snapshot_seq == built.snapshot_seqs[-2]


def test_prune_when_a_server_holds_the_journal_refuses_in_one_line(tmp_path: Path) -> None:
    write_host_journal(tmp_path)

    with JournalWriter.open(JournalConfig(str(tmp_path), fsync=False)):
        code, _, err = _run("prune", "--keep-snapshots", "1", "--data-dir", str(tmp_path))

    assert code == 1
    assert err == (f"error: {tmp_path} is in use: a running tradehall holds its journal lock; "
                   "stop the server first\n")


def test_prune_when_no_journal_or_keep_below_one_refuses(tmp_path: Path) -> None:
    code, _, err = _run("prune", "--keep-snapshots", "1", "--data-dir", str(tmp_path))
    zero, _, _ = _run("prune", "--keep-snapshots", "0", "--data-dir", str(tmp_path))

    assert (code, err) == (1, f"error: {tmp_path} has no journal\n")
    assert zero == 2


def test_prune_when_no_valid_snapshot_says_so_and_removes_nothing(tmp_path: Path) -> None:
    write_host_journal(tmp_path, snapshots=1)
    [entry] = list_snapshots(tmp_path)
    entry.path.write_bytes(b"damaged")
    segments = list_segments(tmp_path)

    code, out, _ = _run("prune", "--keep-snapshots", "1", "--data-dir", str(tmp_path))

    assert code == 0
    assert f"kept damaged snapshot {entry.path.name}" in out
    assert "no valid snapshot: nothing removed" in out
    assert list_segments(tmp_path) == segments
