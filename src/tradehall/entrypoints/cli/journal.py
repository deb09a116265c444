"""`tradehall journal`: verify a journal and rebuild state from it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradehall.engine.codec import decode_command
from tradehall.engine.matcher import MatchingEngine
from tradehall.engine.state import state_hash
from tradehall.journal import JournalCorrupted, read_journal, verify_journal

app = typer.Typer(help="Inspect and verify journals.", no_args_is_help=True)

DataDir = Annotated[Path, typer.Option("--data-dir", help="Folder of the journal and "
                                       "snapshots.")]


@app.command("verify")
def verify(data_dir: DataDir = Path("var/engine")) -> None:
    """Check every record's checksum and hash chain, and every snapshot against the journal;
    then replay the journal from the start and print the state hash."""
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
