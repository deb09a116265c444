"""`tradehall replay`: run JSON Lines commands through a fresh engine, print events."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import msgspec
import typer

from tradehall.engine.replay import ReplaySession
from tradehall.engine.state import state_hash


def replay(
    file: Annotated[str, typer.Argument(help="JSON Lines commands; '-' reads standard input.")],
    state: Annotated[bool, typer.Option("--state", help="Print the final books and balances "
                                        "after the events.")] = False,
) -> None:
    """Replay commands from FILE and write the resulting events as JSON Lines."""
    session = ReplaySession()
    out = sys.stdout.buffer
    encode = msgspec.json.encode
    if file == "-":
        source = sys.stdin.buffer
    else:
        path = Path(file)
        if not path.is_file():
            typer.echo(f"error: {file} is not a readable file", err=True)
            raise typer.Exit(2)
        source = path.open("rb")
    with source:
        for event in session.run(source):
            out.write(encode(event) + b"\n")
    if state:
        final = session.renderer.state()
        final["state_hash"] = state_hash(session.engine)
        out.write(encode(final) + b"\n")
    out.flush()
