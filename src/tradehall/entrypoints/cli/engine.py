"""`tradehall engine`: run the engine host."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run the matching engine host.", no_args_is_help=True)
