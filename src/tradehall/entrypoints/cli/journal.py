"""`tradehall journal`: inspect and verify the journal."""

from __future__ import annotations

import typer

app = typer.Typer(help="Inspect and verify journals.", no_args_is_help=True)
