"""`tradehall journal`: verify a journal and rebuild state from it, prune what is no longer needed.

`verify` only reads and may run on a live folder or a copy. `prune` deletes: it runs on a
stopped folder (it takes the journal lock, so a running engine makes it refuse in one line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradehall.engine.codec import decode_command
from tradehall.engine.matcher import MatchingEngine
from tradehall.engine.state import state_hash
from tradehall.entrypoints.cli.offline import fail
from tradehall.entrypoints.workers.engine_host import restore_snapshot
from tradehall.journal import (
    JournalCorrupted,
    JournalLocked,
    PruneResult,
    Snapshot,
    VerifyReport,
    prune_journal,
    read_journal,
    read_snapshot,
    verify_journal,
)
from tradehall.journal.reader import segments_directory
from tradehall.journal.snapshot import snapshots_directory

app = typer.Typer(help="Inspect and verify journals.", no_args_is_help=True)

DataDir = Annotated[Path, typer.Option("--data-dir", help="Folder of the journal and "
                                       "snapshots, or a platform's data folder (its "
                                       "journal/ subfolder is used).")]


def journal_dir(data_dir: Path) -> Path:
    """The journal folder of a data folder: `tradehall serve` keeps it in `journal/`."""
    nested = data_dir / "journal"
    return nested if segments_directory(nested).is_dir() else data_dir


@app.command("verify")
def verify(data_dir: DataDir = Path("var/engine")) -> None:
    """Check every record's checksum and hash chain, and every snapshot against the journal;
    then replay the journal and print the state hash: from seq 1, or, when the journal was
    pruned, from the newest snapshot it still covers."""
    data_dir = journal_dir(data_dir)
    report = verify_journal(data_dir)
    typer.echo(f"records={report.records} first_seq={report.first_seq} "
               f"last_seq={report.last_seq} torn_tail_bytes={report.torn_bytes}")
    if report.pruned_through:
        typer.echo(f"pruned: seqs 1-{report.pruned_through} were removed; verified from seq "
                   f"{report.pruned_through + 1}, trusting its segment header")
    for check in report.snapshots:
        typer.echo(f"snapshot {check.name}: "
                   f"{'ok' if check.ok and not check.pruned else check.reason}")
    if not report.ok:
        typer.echo(f"CORRUPTED: {report.corruption}", err=True)
        raise typer.Exit(1)
    try:
        start: Snapshot | None = None
        if report.pruned_through:
            start = _newest_covered_snapshot(data_dir, report)
            typer.echo(f"replaying from {start.path.name} (seq {start.seq})")
        typer.echo(f"state_hash={replay_hash(data_dir, start)}")
    except JournalCorrupted as exc:
        typer.echo(f"CORRUPTED: {exc}", err=True)
        raise typer.Exit(1) from exc


def replay_hash(data_dir: Path, start: Snapshot | None = None) -> str:
    """Replay the journal into a fresh engine, or onto the snapshot `start`, and return the
    state hash."""
    engine, from_seq, prev_hash = MatchingEngine(), 1, None
    if start is not None:
        engine = restore_snapshot(start)
        from_seq, prev_hash = start.seq + 1, start.chain_hash
    for record in read_journal(data_dir, from_seq, prev_hash=prev_hash):
        engine.apply(decode_command(record.payload), record.ts_ns)
    return state_hash(engine)


def _newest_covered_snapshot(data_dir: Path, report: VerifyReport) -> Snapshot:
    # Verification already tied these snapshots to the journal; read the newest one again.
    covered = [check for check in report.snapshots if check.ok and not check.pruned]
    if not covered:
        typer.echo(f"error: the journal was pruned before seq {report.pruned_through + 1} and "
                   f"no snapshot it covers is left to replay from", err=True)
        raise typer.Exit(1)
    newest = max(covered, key=lambda check: check.seq or 0)
    return read_snapshot(snapshots_directory(data_dir) / newest.name)


@app.command("prune")
def prune(
    keep_snapshots: Annotated[int, typer.Option(
        "--keep-snapshots", min=1, help="How many of the newest valid snapshots to keep.")],
    data_dir: DataDir = Path("var/engine"),
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="List what would be removed; remove nothing.")] = False,
) -> None:
    """Remove snapshots older than the newest N valid ones and every journal segment that only
    holds records at or before the oldest kept snapshot. Damaged snapshots are kept and listed.
    Afterwards the engine and the read models can be rebuilt only from the oldest kept
    snapshot on. Refuses while a server runs (it takes the journal lock)."""
    folder = journal_dir(data_dir)
    if not segments_directory(folder).is_dir():
        raise fail(f"{data_dir} has no journal")
    try:
        result = prune_journal(folder, keep_snapshots=keep_snapshots, dry_run=dry_run)
    except JournalLocked as exc:
        raise fail(f"{data_dir} is in use: a running tradehall holds its journal lock; stop "
                   f"the server first") from exc
    except JournalCorrupted as exc:
        raise fail(f"nothing removed: {exc}") from exc
    _print_prune(result)


def _print_prune(result: PruneResult) -> None:
    verb = "would remove" if result.dry_run else "removed"
    for path in result.removed_segments:
        typer.echo(f"{verb} segment {path.name}")
    for path in result.removed_snapshots:
        typer.echo(f"{verb} snapshot {path.name}")
    for path in result.kept_snapshots:
        typer.echo(f"kept snapshot {path.name}")
    for damaged in result.damaged_snapshots:
        typer.echo(f"kept damaged snapshot {damaged.path.name}: {damaged.reason}")
    if not result.kept_snapshots:
        typer.echo("no valid snapshot: nothing removed")
    starts = "would start" if result.dry_run else "starts"
    typer.echo(f"{verb} {len(result.removed_segments)} segments and "
               f"{len(result.removed_snapshots)} snapshots; the journal {starts} at seq "
               f"{result.first_seq}")
