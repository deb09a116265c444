"""Snapshots: the engine state at a journal seq, written atomically and checked on load.

This module owns `DIR/snapshots/snapshot-<seq>.bin`: its byte layout, the atomic write (temporary
file, fsync, rename, fsync of the directory) and choosing the newest valid snapshot to start a
replay from. The state payload is opaque bytes from the engine. It must never modify or delete a
snapshot it finds damaged (it reports and skips it, falling back to an older one) and never
decide whether a snapshot agrees with the journal: that is `verify_journal`'s job. Removing old
snapshots is `prune.py`'s, which never removes a damaged one either.

Layout, little-endian::

    b"THS1" | u16 version | u64 seq | 16-byte chain hash | u16 state_hash_length
    | u64 payload_length | state_hash | payload | 32-byte blake2b checksum of all bytes before it
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from hashlib import blake2b
from pathlib import Path
from typing import NamedTuple

from tradehall.journal.codec import HASH_SIZE
from tradehall.journal.errors import JournalCorrupted
from tradehall.journal.files import (
    FileOps,
    OsFileOps,
    ensure_directory,
    fsync_directory,
    write_all,
)

SNAPSHOTS_SUBDIR = "snapshots"
SNAPSHOT_MAGIC = b"THS1"
SNAPSHOT_VERSION = 1
_HEADER = struct.Struct("<4sHQ16sHQ")
_CHECKSUM_SIZE = 32
_PREFIX = "snapshot-"
_SUFFIX = ".bin"
_TEMPORARY_SUFFIX = ".tmp"

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A checked snapshot: the state after applying records 1..`seq`."""

    path: Path
    seq: int
    chain_hash: bytes
    state_hash: bytes
    payload: bytes


class SnapshotFile(NamedTuple):
    """A snapshot file found on disk, named for its seq (not yet checked)."""

    seq: int
    path: Path


@dataclass(frozen=True, slots=True)
class SkippedSnapshot:
    """A snapshot file that failed its checks, and why."""

    path: Path
    reason: str


@dataclass(frozen=True, slots=True)
class SnapshotSearch:
    """The newest valid snapshot (if any) and the newer ones skipped on the way to it."""

    snapshot: Snapshot | None
    skipped: tuple[SkippedSnapshot, ...]


def snapshots_directory(directory: str | os.PathLike[str]) -> Path:
    """Return the folder holding the snapshots of the journal rooted at `directory`."""
    return Path(directory) / SNAPSHOTS_SUBDIR


def snapshot_file_name(seq: int) -> str:
    """Name the snapshot taken at `seq` (20 digits, so names sort by seq)."""
    return f"{_PREFIX}{seq:020d}{_SUFFIX}"


def write_snapshot(
    directory: str | os.PathLike[str],
    seq: int,
    chain_hash: bytes,
    state_hash: bytes,
    payload: bytes,
    *,
    file_ops: FileOps | None = None,
) -> Path:
    """Write a snapshot atomically and durably; return its path.

    Parameters
    ----------
    seq
        The last journal seq applied to the state (0 for the initial state).
    chain_hash
        The journal chain hash at `seq`, so verification can tie the snapshot to the journal.
    state_hash
        The engine's hash of the state (at most 65535 bytes).
    """
    if seq < 0 or len(chain_hash) != HASH_SIZE or len(state_hash) > 0xFFFF:
        raise ValueError("need seq >= 0, a 16-byte chain hash and a state hash under 64 KiB")
    ops = file_ops if file_ops is not None else OsFileOps()
    folder = snapshots_directory(directory)
    ensure_directory(ops, folder, durable=True)
    final = folder / snapshot_file_name(seq)
    temporary = folder / f".{final.name}{_TEMPORARY_SUFFIX}"
    head = _HEADER.pack(
        SNAPSHOT_MAGIC, SNAPSHOT_VERSION, seq, chain_hash, len(state_hash), len(payload)
    )
    checksum = blake2b(head, digest_size=_CHECKSUM_SIZE)
    checksum.update(state_hash)
    checksum.update(payload)
    fd = ops.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        # Written in parts so a large payload is never copied into one more buffer.
        for part in (head + state_hash, payload, checksum.digest()):
            write_all(ops, fd, part)
        ops.fsync(fd)
    except BaseException:
        ops.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    ops.close(fd)
    os.replace(temporary, final)
    fsync_directory(ops, folder)
    return final


def read_snapshot(path: Path) -> Snapshot:
    """Read and check one snapshot file.

    Raises
    ------
    JournalCorrupted
        If the file is truncated, has a bad header or checksum, or its seq differs from its name.
    """
    data = path.read_bytes()
    if len(data) < _HEADER.size + _CHECKSUM_SIZE:
        raise JournalCorrupted(path.name, 0, f"truncated snapshot ({len(data)} bytes)")
    magic, version, seq, chain_hash, state_len, payload_len = _HEADER.unpack_from(data)
    if magic != SNAPSHOT_MAGIC or version != SNAPSHOT_VERSION:
        reason = f"bad snapshot header: magic {magic!r} version {version}"
        raise JournalCorrupted(path.name, 0, reason)
    body_end = _HEADER.size + state_len + payload_len
    if body_end + _CHECKSUM_SIZE != len(data):
        reason = f"snapshot size {len(data)} does not match its header ({body_end} + checksum)"
        raise JournalCorrupted(path.name, min(body_end, len(data)), reason, seq)
    if blake2b(data[:body_end], digest_size=_CHECKSUM_SIZE).digest() != data[body_end:]:
        raise JournalCorrupted(path.name, body_end, "checksum mismatch", seq)
    if _seq_from_name(path.name) != seq:
        raise JournalCorrupted(path.name, 0, f"snapshot seq {seq} does not match file name", seq)
    state_end = _HEADER.size + state_len
    return Snapshot(path, seq, chain_hash, data[_HEADER.size : state_end], data[state_end:body_end])


def list_snapshots(directory: str | os.PathLike[str]) -> list[SnapshotFile]:
    """List the snapshot files by seq, oldest first (temporary files are left out)."""
    folder = snapshots_directory(directory)
    if not folder.is_dir():
        return []
    found = [
        SnapshotFile(seq, entry)
        for entry in folder.iterdir()
        if (seq := _seq_from_name(entry.name)) is not None
    ]
    found.sort()
    return found


def checked_snapshots(directory: str | os.PathLike[str],
                      max_seq: int | None = None) -> Iterator[Snapshot | SkippedSnapshot]:
    """Read the snapshots newest first (at or before `max_seq` when given), each checked: a
    `Snapshot`, or a `SkippedSnapshot` saying why it failed. Lazy: stop early to read less."""
    for entry in reversed(list_snapshots(directory)):
        if max_seq is not None and entry.seq > max_seq:
            continue
        try:
            yield read_snapshot(entry.path)
        except JournalCorrupted as error:
            yield SkippedSnapshot(entry.path, str(error))
        except OSError as error:
            yield SkippedSnapshot(entry.path, f"unreadable: {error}")


def find_latest_snapshot(directory: str | os.PathLike[str],
                         max_seq: int | None = None) -> SnapshotSearch:
    """Return the newest snapshot that passes its checks and the newer ones that did not.

    With `max_seq`, snapshots after that seq are not considered (a reader that has seen the
    events up to `max_seq` needs the ones after it replayed).
    """
    skipped: list[SkippedSnapshot] = []
    for found in checked_snapshots(directory, max_seq):
        if isinstance(found, SkippedSnapshot):
            skipped.append(found)
            continue
        return SnapshotSearch(found, tuple(skipped))
    return SnapshotSearch(None, tuple(skipped))


def load_latest_snapshot(directory: str | os.PathLike[str],
                         max_seq: int | None = None) -> Snapshot | None:
    """Return the newest valid snapshot (at or before `max_seq` when given), logging each newer
    one skipped as damaged."""
    search = find_latest_snapshot(directory, max_seq)
    for skipped in search.skipped:
        _log.warning("skipping snapshot %s: %s", skipped.path.name, skipped.reason)
    return search.snapshot


def remove_partial_snapshots(directory: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files of snapshot writes that never finished; return them.

    Only the holder of the journal's directory lock may call this, before it writes a snapshot
    itself: an unfinished write of a live process looks the same as one a crash left behind.
    """
    folder = snapshots_directory(directory)
    if not folder.is_dir():
        return []
    removed: list[Path] = []
    for entry in sorted(folder.iterdir()):
        name = entry.name
        if name.startswith("." + _PREFIX) and name.endswith(_SUFFIX + _TEMPORARY_SUFFIX):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def _seq_from_name(name: str) -> int | None:
    if not (name.startswith(_PREFIX) and name.endswith(_SUFFIX)):
        return None
    digits = name[len(_PREFIX) : -len(_SUFFIX)]
    if len(digits) != 20 or not (digits.isascii() and digits.isdigit()):
        return None
    return int(digits)
