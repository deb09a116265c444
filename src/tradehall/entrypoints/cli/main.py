"""The `tradehall` command line: one Typer app, one module per command group."""

from __future__ import annotations

import typer

from tradehall.entrypoints.cli import (
    accounts,
    audit,
    bench,
    demo,
    engine,
    instruments,
    journal,
    kyc,
    mode,
    replay,
    serve,
    signing_keys,
    snapshot,
    users,
)

app = typer.Typer(
    help="tradehall: an open-source multi-asset trading platform. Start with `tradehall "
         "serve` (API, engine and a live demo market on one machine).",
    no_args_is_help=True,
    add_completion=False,
)
app.command("serve")(serve.serve)
app.add_typer(users.app, name="users")
app.add_typer(accounts.app, name="accounts")
app.add_typer(instruments.app, name="instruments")
app.command("snapshot")(snapshot.snapshot)
app.add_typer(journal.app, name="journal")
app.command("replay")(replay.replay)
app.add_typer(engine.app, name="engine")
app.add_typer(signing_keys.app, name="keys")
app.add_typer(audit.app, name="audit")
app.add_typer(kyc.app, name="kyc")
app.add_typer(mode.app, name="mode")
app.command("demo")(demo.demo)
app.command("bench", context_settings={"allow_extra_args": True,
                                       "ignore_unknown_options": True})(bench.bench)
