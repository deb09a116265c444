"""`tradehall audit`: verify the audit trail's hash chain.

Works while a server runs (it only reads the database). Exit status 0 when the chain is
whole, 1 when an entry was edited, removed or reordered (the first bad seq is named). Write
the printed head hash down somewhere else: a later run that shows another hash at the same
seq means the chain was rewritten.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tradehall.entrypoints.cli.offline import DEFAULT_DATA_DIR, DataDir, run

if TYPE_CHECKING:
    from tradehall.compliance.audit import ChainVerification

app = typer.Typer(help="The audit trail.", no_args_is_help=True)


@app.command("verify")
def verify(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Walk the audit hash chain; name the first bad entry (exit 1) or print the head."""
    result = run(lambda: _verify(data_dir), data_dir)
    if as_json:
        typer.echo(json.dumps({"ok": result.ok, "checked": result.checked,
                               "first_bad_seq": result.first_bad_seq, "reason": result.reason,
                               "head_seq": result.head_seq, "head_hash": result.head_hash}))
    elif result.ok:
        typer.echo(f"audit chain ok: {result.checked} entries, head seq {result.head_seq} "
                   f"hash {result.head_hash}")
    else:
        typer.echo(f"audit chain BROKEN at seq {result.first_bad_seq}: {result.reason} "
                   f"({result.checked} entries good before it)", err=True)
    if not result.ok:
        raise typer.Exit(1)


async def _verify(data_dir: Path) -> ChainVerification:
    from tradehall.bootstrap import build
    from tradehall.config import Settings

    platform = await build(Settings(data_dir=data_dir, demo=False))
    try:
        return await platform.audit_trail.verify()
    finally:
        await platform.db.close()
