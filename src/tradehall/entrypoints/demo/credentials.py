"""The demo credentials file, `DIR/demo-credentials.json`: what a newcomer logs in with.

A JSON list with one object per demo user: `username`, `password`, `api_key_id`,
`api_secret_key`. Secrets are kept only hashed in the identity store, so this file is the one
place they live; it is created once, kept across restarts, checked against the identity store
on every start, and written atomically with owner-only permissions. No engine access.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

FILE_NAME = "demo-credentials.json"


class DemoCredential(msgspec.Struct, frozen=True, kw_only=True):
    username: str
    password: str | None
    api_key_id: str
    api_secret_key: str


def path_in(data_dir: Path) -> Path:
    """Return where the credentials file of a data directory lives."""
    return data_dir / FILE_NAME


def load(data_dir: Path) -> dict[str, DemoCredential]:
    """Read the credentials file by username; empty when missing or unreadable."""
    path = path_in(data_dir)
    try:
        entries = msgspec.json.decode(path.read_bytes(), type=list[DemoCredential])
    except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
        return {}
    return {entry.username: entry for entry in entries}


def save(data_dir: Path, entries: list[DemoCredential]) -> Path:
    """Write the credentials file atomically (0600); return its path."""
    path = path_in(data_dir)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(msgspec.json.format(msgspec.json.encode(entries), indent=2) + b"\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path
