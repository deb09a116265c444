"""`tradehall engine`: run the engine host on a data directory."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import msgspec
import typer

from tradehall.engine.state import state_hash
from tradehall.entrypoints.workers.engine_host import EngineHost, EngineHostConfig
from tradehall.entrypoints.workers.stdio_engine import serve
from tradehall.journal import JournalCorrupted, JournalLocked
from tradehall.kernel.clock import LiveClock

app = typer.Typer(help="Run the matching engine host.", no_args_is_help=True)

DataDir = Annotated[Path, typer.Option("--data-dir", help="Folder of the journal and "
                                       "snapshots (created if missing).")]


@app.command("run")
def run(
    data_dir: DataDir = Path("var/engine"),
    fsync: Annotated[bool, typer.Option(help="fsync every group commit (turn off only for "
                                        "tests and benchmarks).")] = True,
    snapshot_every: Annotated[int, typer.Option(help="Commands between automatic snapshots; "
                                                "0 turns them off.")] = 0,
    max_batch: Annotated[int, typer.Option(help="Most commands in one group commit.")] = 4096,
    commit_interval_us: Annotated[int, typer.Option(
        help="Longest wait, in microseconds, for a group commit to fill before its fsync; "
             "0 commits whatever is pending at once.", min=0)] = 0,
) -> None:
    """Recover from DATA_DIR, then read JSON Lines commands on stdin and acknowledge each on
    stdout once it is journaled (fsynced)."""
    config = EngineHostConfig(data_dir=data_dir, fsync=fsync, snapshot_every=snapshot_every,
                              max_batch_records=max_batch,
                              commit_interval_us=commit_interval_us)
    with _open(config) as host:
        rec = host.recovery
        sys.stdout.buffer.write(msgspec.json.encode({
            "event": "recovered", "snapshot_seq": rec.snapshot_seq, "replayed": rec.replayed,
            "seq": rec.last_seq, "torn_bytes": rec.torn_bytes,
            "state_hash": state_hash(host.engine)}) + b"\n")
        sys.stdout.buffer.flush()
        serve(host, sys.stdin.buffer, sys.stdout.buffer, max_batch=max_batch,
              ts_source=LiveClock().now_ns)


@app.command("snapshot")
def snapshot(data_dir: DataDir = Path("var/engine")) -> None:
    """Recover the engine from DATA_DIR and write a snapshot of its state."""
    with _open(EngineHostConfig(data_dir=data_dir)) as host:
        path = host.snapshot()
        typer.echo(f"snapshot at seq {host.seq}: {path.name} "
                   f"state_hash={state_hash(host.engine)}")


def _open(config: EngineHostConfig) -> EngineHost:
    """Open the host, turning the refusals an operator must act on into a one-line error."""
    try:
        return EngineHost.open(config)
    except (JournalCorrupted, JournalLocked) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
