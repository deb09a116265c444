"""`tradehall keys`: the access-token signing key ring: list it, rotate it.

Both work while a server runs (they only touch the key ring in the database): after a
rotation the server signs with the new key from its next upkeep round
(`TRADEHALL_SESSION_UPKEEP_INTERVAL_S`), and tokens signed with the old key stay valid until
they expire. Private keys are never printed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from tradehall.entrypoints.cli.offline import DEFAULT_DATA_DIR, DataDir, run

if TYPE_CHECKING:
    from tradehall.bootstrap import Platform

T = TypeVar("T")
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]

app = typer.Typer(help="The signing keys of access tokens.", no_args_is_help=True)


@app.command("rotate")
def rotate(
    as_json: AsJson = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Make a new signing key current; the old one verifies until its tokens expire."""
    kid = run(lambda: on_data_dir(data_dir, rotate_signing_key), data_dir)
    if as_json:
        typer.echo(json.dumps({"kid": kid}))
        return
    typer.echo(f"new signing key {kid}; the previous key verifies until its tokens expire")


@app.command("list")
def list_keys(
    as_json: AsJson = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """List the keys that verify access tokens now, the current one first."""
    keys = run(lambda: on_data_dir(data_dir, verifying_keys), data_dir)
    if as_json:
        typer.echo(json.dumps(keys))
        return
    for i, key in enumerate(keys):
        typer.echo(f"{key['kid']}  {key['alg']}{'  current' if i == 0 else ''}")


async def rotate_signing_key(platform: Platform) -> str:
    """Rotate the key ring of a built platform."""
    return await platform.auth.tokens.rotate(reason="cli")


async def verifying_keys(platform: Platform) -> list[dict[str, Any]]:
    """The kids and algorithms of the keys that verify tokens now."""
    keys: list[dict[str, Any]] = platform.auth.tokens.jwks()["keys"]
    return [{"kid": k["kid"], "alg": k["alg"]} for k in keys]


async def on_data_dir(data_dir: Path, job: Callable[[Platform], Awaitable[T]]) -> T:
    """Build (not start) the platform of a data directory, run a job on it, close it."""
    from tradehall.bootstrap import build
    from tradehall.config import Settings

    platform = await build(Settings(data_dir=data_dir, demo=False))
    try:
        return await job(platform)
    finally:
        await platform.db.close()
