"""`tradehall serve`: run the whole platform (API, engine, projections) in one process.

Builds the platform from the options (and `TRADEHALL_*` variables), hands it to uvicorn with
the app's lifespan managing start and stop, so the port opens once the engine has recovered
and Ctrl-C (SIGINT) or SIGTERM stops the API first, then the engine (with a snapshot), then the
projections. Exit status 0 after a clean stop, 1 when the platform could not start.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from tradehall.bootstrap import build
from tradehall.config import Settings
from tradehall.entrypoints.api.app import create_app


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=0, max=65535)] = 8000,
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Folder of the journal, "
                                           "snapshots and read models (created if "
                                           "missing).")] = Path("var/platform"),
    demo: Annotated[bool, typer.Option("--demo/--no-demo", help="Create the demo market "
                                       "(instruments, users, market makers).")] = True,
    fsync: Annotated[bool, typer.Option(help="fsync every group commit (turn off only for "
                                        "tests and benchmarks).")] = True,
) -> None:
    """Run the platform: REST and WebSocket API, engine with journal, SQL read models."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings(host=host, port=port, data_dir=data_dir, demo=demo, fsync=fsync)
    ok = asyncio.run(_serve(settings))
    raise typer.Exit(0 if ok else 1)


async def _serve(settings: Settings) -> bool:
    platform = await build(settings)
    app = create_app(platform, manage=True)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning",
                            lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    await server.serve()
    return server.started
