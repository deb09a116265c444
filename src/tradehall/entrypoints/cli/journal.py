"""`tradehall journal`: verify a journal and rebuild state from it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradehall.engine.codec import decode_command
from tradehall.engine.matcher import MatchingEngine
from tradehall.engine.state import state_hash
from tradehall.journal import JournalCorrupted, read_journal, verify_journal
from tradehall.journal.reader import segments_directory

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
    then replay the journal from the start and print the state hash."""
    data_dir = journal_dir(data_dir)
    report = verify_journal(data_dir)
    typer.echo(f"records={report.records} first_seq={report.first_seq} "
               f"last_seq={report.last_seq} torn_tail_bytes={report.torn_bytes}")
    for check in report.snapshots:
        typer.echo(f"snapshot {check.name}: {'ok' if check.ok else check.reason}")
    if not report.ok:
        typer.echo(f"CORRUPTED: {report.corruption}", err=True)
        raise typer.Exit(1)
    try:
        typer.echo(f"state_hash={replay_hash(data_dir)}")
    except JournalCorrupted as exc:
        typer.echo(f"CORRUPTED: {exc}", err=True)
        raise typer.Exit(1) from exc


def replay_hash(data_dir: Path) -> str:
    """Replay the whole journal into a fresh engine and return its state hash."""
    engine = MatchingEngine()
    for record in read_journal(data_dir):
        engine.apply(decode_command(record.payload), record.ts_ns)
    return state_hash(engine)
