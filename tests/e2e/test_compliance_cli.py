"""`tradehall audit verify` and `tradehall kyc rotate-key` on a data directory, as an operator
runs them (the Typer app in process)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from tradehall.bootstrap import build
from tradehall.config import Settings
from tradehall.entrypoints.cli.main import app
from tradehall.kernel.ids import AccountId
from tradehall.service.auth import Principal

PDF = b"%PDF-1.7\nan operator's test document"


async def _prepare(data_dir: Path) -> str:
    platform = await build(Settings(data_dir=data_dir, demo=False))
    try:
        user = await platform.auth.create_user("alice", "a long enough password")
        owner = Principal(user.user_id, user.username, user.account, tuple(user.roles))
        document = await platform.kyc.upload(owner, kind="passport",
                                             content_type="application/pdf",
                                             filename="p.pdf", content=PDF)
        await platform.audit_trail.record("test.marker", actor=user.user_id)
        return document.document_id
    finally:
        await platform.db.close()


async def _read_back(data_dir: Path, document_id: str) -> tuple[str, bytes]:
    platform = await build(Settings(data_dir=data_dir, demo=False))
    try:
        officer = Principal("officer", "officer", AccountId("officer"), ("compliance",))
        document, content = await platform.kyc.read(officer, document_id)
        return document.key_id, content
    finally:
        await platform.db.close()


def test_kyc_rotate_key_when_documents_exist_rewraps_them_and_they_still_open(
        tmp_path: Path) -> None:
    document_id = asyncio.run(_prepare(tmp_path))

    result = CliRunner().invoke(app, ["kyc", "rotate-key", "--json", "--data-dir",
                                      str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"key_id": "local-v2", "rewrapped": 1, "failed": []}
    assert asyncio.run(_read_back(tmp_path, document_id)) == ("local-v2", PDF)


def test_audit_verify_when_chain_is_whole_exits_0_and_when_edited_names_the_seq(
        tmp_path: Path) -> None:
    # Arrange
    asyncio.run(_prepare(tmp_path))
    runner = CliRunner()
    whole = runner.invoke(app, ["audit", "verify", "--json", "--data-dir", str(tmp_path)])
    with sqlite3.connect(tmp_path / "readmodels.sqlite3") as conn:
        conn.execute("UPDATE audit_log SET outcome = 'denied' WHERE seq = 2")

    # Act
    broken = runner.invoke(app, ["audit", "verify", "--data-dir", str(tmp_path)])

    # Assert
    assert whole.exit_code == 0, whole.output
    report = json.loads(whole.output)
    assert report["ok"] is True
    assert report["head_seq"] >= 3
    assert broken.exit_code == 1
    assert "BROKEN at seq 2" in broken.output
