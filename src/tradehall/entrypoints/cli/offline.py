"""Run an operator command against a stopped data directory: a platform started for one job.

`users create`, `accounts deposit` and the like start the platform (without the demo and
without the API) on the data directory, do their one thing through the same services the API
uses, and stop it again (the engine writes a snapshot on stop). The journal is locked while a
server runs: then the command says so in one line and exits 1, changing nothing. Errors a
caller can act on (`TradehallError`) become one line too; nothing here prints a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from tradehall.journal import JournalCorrupted, JournalLocked
from tradehall.kernel.errors import TradehallError

if TYPE_CHECKING:
    from tradehall.bootstrap import Platform

T = TypeVar("T")

DataDir = Annotated[Path, typer.Option(
    "--data-dir", help="The platform's data directory (as given to `tradehall serve`).")]
DEFAULT_DATA_DIR = Path("var/platform")


def fail(message: str) -> typer.Exit:
    """Print a one-line error on stderr and return the exit to raise (status 1)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


@asynccontextmanager
async def started_platform(data_dir: Path) -> AsyncIterator[Platform]:
    """Start the platform on a stopped data directory for the duration of a block."""
    # Imported here: the web and SQL stack would slow down every other command's start.
    from tradehall.bootstrap import build
    from tradehall.config import Settings

    settings = Settings(data_dir=data_dir, demo=False)
    if settings.scale_out():
        # In a scale-out deployment (TRADEHALL_ROLE and the NATS and database settings in the
        # environment) the command is one more API process: its commands go to the engine
        # through the command stream, like every API request's.
        settings = settings.model_copy(update={"role": "api"})
    platform = await build(settings)
    try:
        await platform.start()
    except JournalLocked as exc:
        await _abandon(platform)
        raise fail(f"{data_dir} is in use: a running tradehall holds its journal lock; stop "
                   f"the server first") from exc
    except JournalCorrupted as exc:
        await _abandon(platform)
        raise fail(str(exc)) from exc
    try:
        yield platform
    finally:
        await platform.stop()


def _scale_out() -> bool:
    from pydantic import ValidationError

    from tradehall.config import Settings

    try:
        return Settings().scale_out()
    except ValidationError as exc:
        raise fail("; ".join(str(e["msg"]).removeprefix("Value error, ")
                             for e in exc.errors())) from None


async def _abandon(platform: Platform) -> None:
    with contextlib.suppress(Exception):
        await platform.stop()


def run(job: Callable[[], Awaitable[T]], data_dir: Path) -> T:
    """Run a coroutine job on a data directory that must exist; a refusal is a one-line error
    with exit status 1."""
    scale_out = _scale_out()  # also refuses bad TRADEHALL_* settings in one line
    if not data_dir.is_dir() and not scale_out:
        raise fail(f"{data_dir} is not a data directory (start `tradehall serve --data-dir "
                   f"{data_dir}` once to create it)")

    async def main() -> T:
        return await job()

    try:
        return asyncio.run(main())
    except TradehallError as exc:
        raise fail(f"{exc.code}: {exc.message}") from exc
