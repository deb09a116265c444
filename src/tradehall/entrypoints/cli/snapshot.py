"""`tradehall snapshot`: write a snapshot of a stopped platform's engine state.

Recovers the engine from the data directory's journal (newest snapshot plus the records after
it), writes a snapshot at the last sequence number and prints it with the state hash. A
snapshot makes the next start faster; the journal stays whole, so nothing is lost by taking
one (snapshot files beyond the newest three are removed, as after every snapshot the engine
takes). Refuses (one line, exit 1) while a server holds the journal.
"""

from __future__ import annotations

import typer

from tradehall.engine.state import state_hash
from tradehall.entrypoints.cli.offline import DEFAULT_DATA_DIR, DataDir, fail
from tradehall.entrypoints.workers.engine_host import EngineHost, EngineHostConfig
from tradehall.journal import JournalCorrupted, JournalLocked

JOURNAL_FOLDER = "journal"  # where bootstrap keeps the engine's journal and snapshots


def snapshot(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Recover the engine of a stopped data directory and write a snapshot of its state."""
    folder = data_dir / JOURNAL_FOLDER
    if not folder.is_dir():
        raise fail(f"{data_dir} has no journal (is it a `tradehall serve` data directory?)")
    try:
        host = EngineHost.open(EngineHostConfig(data_dir=folder))
    except JournalLocked as exc:
        raise fail(f"{data_dir} is in use: a running tradehall holds its journal lock; stop "
                   f"the server first") from exc
    except JournalCorrupted as exc:
        raise fail(str(exc)) from exc
    with host:
        if host.seq == 0:
            raise fail(f"{data_dir} has an empty journal: nothing to snapshot")
        path = host.snapshot()
        typer.echo(f"snapshot at seq {host.seq}: {path.name} state_hash={state_hash(host.engine)}")
