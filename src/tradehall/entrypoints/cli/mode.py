"""`tradehall mode`: show or set the platform mode (normal, close_only, fallback).

Both work on the database alone, so they also work while a server runs: the server's fallback
worker re-reads the mode every half second. A change is audited with the operator named
`cli` (and the reason given); `set` needs a reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tradehall.entrypoints.cli.offline import DEFAULT_DATA_DIR, DataDir, fail, run
from tradehall.fallback.model import PlatformMode

if TYPE_CHECKING:
    from tradehall.fallback.model import ModeState

app = typer.Typer(help="Show or set the platform mode.", no_args_is_help=True)
CLI_ACTOR = "cli"


def _echo(state: ModeState, as_json: bool) -> None:
    from tradehall.entrypoints.api.routers.native_render import timestamp

    since = timestamp(state.since_ns) if state.since_ns else None
    if as_json:
        typer.echo(json.dumps({"mode": state.mode.value, "since": since,
                               "reason": state.reason, "set_by": state.set_by,
                               "automatic": state.automatic}))
        return
    line = f"mode {state.mode.value}"
    if since is not None:
        line += f" since {since} by {state.set_by}"
    if state.automatic:
        line += " (automatic)"
    typer.echo(line + (f": {state.reason}" if state.reason else ""))


@app.command("show")
def show(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Show the platform mode (works while the server runs)."""
    _echo(run(lambda: _mode(data_dir, None, ""), data_dir), as_json)


@app.command("set")
def set_mode(
    mode: Annotated[str, typer.Argument(help="normal, close_only or fallback")],
    reason: Annotated[str, typer.Option("--reason", help="Why (audited, shown to users).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Set the platform mode (works while the server runs; audited)."""
    try:
        wanted = PlatformMode(mode.strip().lower())
    except ValueError:
        raise fail(f"unknown mode {mode!r}: use normal, close_only or fallback") from None
    if not reason.strip():
        raise fail("--reason must not be empty")
    _echo(run(lambda: _mode(data_dir, wanted, reason), data_dir), as_json)


async def _mode(data_dir: Path, mode: PlatformMode | None, reason: str) -> ModeState:
    from tradehall.bootstrap import build
    from tradehall.config import Settings

    platform = await build(Settings(data_dir=data_dir, demo=False))
    try:
        modes = platform.fallback.modes
        if mode is None:
            return await modes.refresh()
        await modes.refresh()
        return await modes.set(mode, actor=CLI_ACTOR, reason=reason)
    finally:
        await platform.db.close()
