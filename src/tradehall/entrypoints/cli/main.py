"""The `tradehall` command line: one Typer app, one module per command group."""

from __future__ import annotations

import typer

from tradehall.entrypoints.cli import demo, engine, journal, replay, serve

app = typer.Typer(
    help="tradehall: an open-source multi-asset trading platform.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("serve")(serve.serve)
app.command("replay")(replay.replay)
app.command("demo")(demo.demo)
app.add_typer(journal.app, name="journal")
app.add_typer(engine.app, name="engine")
