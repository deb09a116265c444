"""`tradehall kyc`: the KYC vault's master key: rotate it and re-wrap every document key.

Works while a server runs: the key file is rewritten atomically under a lock, the server
wraps new documents under the new version from its next upload, and old versions stay in the
file so anything wrapped under them still opens. Ciphertexts are not rewritten; only the
wrapped data keys in the database change. Exit status 1 if a document's key did not unwrap
(an altered row: investigate it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tradehall.entrypoints.cli.offline import DEFAULT_DATA_DIR, DataDir, run

if TYPE_CHECKING:
    from tradehall.service.kyc import RewrapReport

app = typer.Typer(help="The KYC document vault.", no_args_is_help=True)


@app.command("rotate-key")
def rotate_key(
    rewrap_only: Annotated[bool, typer.Option(
        "--rewrap-only", help="Do not rotate; only re-wrap keys still under older versions.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Make a new master key version current and re-wrap every document key under it."""
    report = run(lambda: _rotate(data_dir, rotate=not rewrap_only), data_dir)
    if as_json:
        typer.echo(json.dumps({"key_id": report.key_id, "rewrapped": report.rewrapped,
                               "failed": report.failed}))
    else:
        typer.echo(f"master key {report.key_id}: {report.rewrapped} document keys re-wrapped")
        for document_id in report.failed:
            typer.echo(f"document {document_id}: its key did not unwrap (altered?)", err=True)
    if report.failed:
        raise typer.Exit(1)


async def _rotate(data_dir: Path, *, rotate: bool) -> RewrapReport:
    from tradehall.bootstrap import build
    from tradehall.config import Settings

    platform = await build(Settings(data_dir=data_dir, demo=False))
    try:
        if rotate:
            platform.keys_provider.rotate()
        return await platform.kyc.rewrap_all()
    finally:
        await platform.db.close()
