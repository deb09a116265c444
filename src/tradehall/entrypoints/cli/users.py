"""`tradehall users`: create users (with an API key pair), list them, show the mail outbox.

`create` works on a stopped data directory (it starts the platform for the job, see
`offline.py`); `list` and `outbox` only read the database, so they also work while a server
runs. Secrets are printed once and never stored in clear. `outbox` prints pending mails with
their bodies (verification and reset tokens) and therefore works only in development.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tradehall.entrypoints.cli.offline import (
    DEFAULT_DATA_DIR,
    DataDir,
    fail,
    run,
    started_platform,
)
from tradehall.kernel.clock import NANOS_PER_SECOND

if TYPE_CHECKING:
    from tradehall.config import Settings
    from tradehall.identity.mail import OutboxEntry
    from tradehall.service.auth import ApiKeyPair
    from tradehall.service.ports import UserRecord

app = typer.Typer(help="Create and list users; show the mail outbox.", no_args_is_help=True)


@app.command("create")
def create(
    username: Annotated[str, typer.Argument(help="Login name: 3-32 of a-z 0-9 _ . - .")],
    password: Annotated[str, typer.Option(
        prompt=True, hide_input=True, confirmation_prompt=True,
        help="Password (8+ characters); asked for when not given.")],
    role: Annotated[list[str] | None, typer.Option(
        "--role", help="Role, repeatable: trader (the default), provider, delegate, dealer, "
                         "compliance or admin.")] = None,
    scope: Annotated[list[str] | None, typer.Option(
        "--scope", help="API key scope, repeatable: read, trade, withdraw (default: read and "
                        "trade).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Create a user and an API key pair on a stopped data directory; print the key pair."""
    roles = tuple(role or ["trader"])

    async def job() -> tuple[UserRecord, ApiKeyPair]:
        from tradehall.identity.apikeys import normalize_scopes

        scopes = normalize_scopes(scope) if scope else None  # before the user exists
        async with started_platform(data_dir) as platform:
            user = await platform.auth.create_user(username, password, roles)
            key = await platform.auth.create_api_key(user, "cli", scopes)
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


@app.command("outbox")
def outbox(
    to: Annotated[str | None, typer.Option("--to", help="Only mails to this address.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list.")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Show the mails waiting in the outbox (development only: they hold one-time tokens)."""
    from tradehall.config import Settings

    settings = Settings(data_dir=data_dir, demo=False)
    if settings.environment != "development":
        raise fail("the outbox holds one-time tokens and is shown only in development")
    mails = run(lambda: _outbox(settings, to), data_dir)
    if as_json:
        typer.echo(json.dumps([{"mail_id": m.mail_id, "kind": m.message.kind,
                                "to": m.message.to, "subject": m.message.subject,
                                "body": m.message.body,
                                "created_s": m.created_ns // NANOS_PER_SECOND} for m in mails]))
        return
    if not mails:
        typer.echo("no pending mail")
        return
    for m in mails:
        typer.echo(f"-- {m.message.kind} to {m.message.to}: {m.message.subject}")
        typer.echo(m.message.body)


async def _outbox(settings: Settings, to: str | None) -> list[OutboxEntry]:
    from tradehall.adapters.sql import SqlDatabase
    from tradehall.adapters.sql.accounts import SqlMailOutbox
    from tradehall.kernel.clock import LiveClock

    db = await SqlDatabase.open(settings.sql_url())
    try:
        box = SqlMailOutbox(db.engine, db.writer, clock=LiveClock())
        return await box.pending(to=to.strip().lower() if to else None, limit=1000)
    finally:
        await db.close()
