"""`tradehall users`: create users (with an API key pair) and list them.

`create` works on a stopped data directory (it starts the platform for the job, see
`offline.py`); `list` only reads the identity store, so it also works while a server runs.
Secrets are printed once and never stored in clear.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tradehall.entrypoints.cli.offline import DEFAULT_DATA_DIR, DataDir, run, started_platform
from tradehall.kernel.clock import NANOS_PER_SECOND

if TYPE_CHECKING:
    from tradehall.service.auth import ApiKeyPair
    from tradehall.service.ports import UserRecord

app = typer.Typer(help="Create and list users.", no_args_is_help=True)


@app.command("create")
def create(
    username: Annotated[str, typer.Argument(help="Login name: 3-32 of a-z 0-9 _ . - .")],
    password: Annotated[str, typer.Option(
        prompt=True, hide_input=True, confirmation_prompt=True,
        help="Password (8+ characters); asked for when not given.")],
    role: Annotated[list[str] | None, typer.Option(
        "--role", help="Role, repeatable: trader (the default), provider, delegate, dealer, "
                         "compliance or admin.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Create a user and an API key pair on a stopped data directory; print the key pair."""
    roles = tuple(role or ["trader"])

    async def job() -> tuple[UserRecord, ApiKeyPair]:
        async with started_platform(data_dir) as platform:
            user = await platform.auth.create_user(username, password, roles)
            key = await platform.auth.create_api_key(user, "cli")
            return user, key

    user, key = run(job, data_dir)
    if as_json:
        typer.echo(json.dumps({"username": user.username, "user_id": user.user_id,
                               "account": user.account, "roles": user.roles,
                               "api_key_id": key.key_id, "api_secret_key": key.secret}))
        return
    typer.echo(f"created user {user.username} (roles: {', '.join(user.roles)}; account "
               f"{user.account})")
    typer.echo(f"api_key_id:     {key.key_id}")
    typer.echo(f"api_secret_key: {key.secret}")
    typer.echo("the secret is shown only now: keep it")


@app.command("list")
def list_users(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list.")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """List the users of a data directory (works while the server runs)."""
    users = run(lambda: _users(data_dir), data_dir)
    if as_json:
        typer.echo(json.dumps([{"username": u.username, "user_id": u.user_id,
                                "account": u.account, "roles": u.roles,
                                "created_s": u.created_ns // NANOS_PER_SECOND} for u in users]))
        return
    if not users:
        typer.echo("no users")
        return
    width = max(len(u.username) for u in users)
    for u in users:
        typer.echo(f"{u.username:<{width}}  {','.join(u.roles):<16}  account {u.account}")


async def _users(data_dir: Path) -> list[UserRecord]:
    from tradehall.bootstrap import build
    from tradehall.config import Settings

    platform = await build(Settings(data_dir=data_dir, demo=False))
    try:
        return sorted(await platform.identity.list_users(), key=lambda u: u.username)
    finally:
        await platform.db.close()
