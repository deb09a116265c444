"""`tradehall journal verify` finds the journal inside a platform's data folder."""

from __future__ import annotations

from pathlib import Path

from tradehall.entrypoints.cli.journal import journal_dir
from tradehall.entrypoints.workers.engine_host import EngineHost, EngineHostConfig


def test_journal_dir_when_given_a_platform_folder_uses_its_journal(tmp_path: Path) -> None:
    EngineHost.open(EngineHostConfig(data_dir=tmp_path / "journal", fsync=False)).close()

    assert journal_dir(tmp_path) == tmp_path / "journal"
    assert journal_dir(tmp_path / "journal") == tmp_path / "journal"
    assert journal_dir(tmp_path / "elsewhere") == tmp_path / "elsewhere"
