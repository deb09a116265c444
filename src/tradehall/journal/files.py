"""The file-system port of the journal: the few raw `os` calls the writer and snapshots make.

This module owns the `FileOps` protocol, its default `OsFileOps` implementation, and the helpers
that must be right everywhere (writing all bytes despite short writes, fsyncing a directory so a
created or renamed file survives a crash, the directory lock). Tests inject a `FileOps` that
fails or writes short instead of patching `os`. It must never buffer, retry a failed fsync
(after a failed fsync the page cache state is unknown) or swallow an `OSError`.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Protocol

from tradehall.journal.errors import JournalLocked


class FileOps(Protocol):
    """Raw file operations on descriptors, as `os` provides them."""

    def open(self, path: Path, flags: int) -> int:
        """Open `path` with `os.open` flags and return the descriptor."""
        ...

    def write(self, fd: int, data: memoryview) -> int:
        """Write some prefix of `data` and return how many bytes were written."""
        ...

    def fsync(self, fd: int) -> None:
        """Make everything written to `fd` durable."""
        ...

    def close(self, fd: int) -> None:
        """Close the descriptor."""
        ...


class OsFileOps:
    """The default `FileOps`: straight calls into `os`."""

    def open(self, path: Path, flags: int) -> int:
        """Open `path` with `os.open` flags and return the descriptor."""
        return os.open(path, flags, 0o644)

    def write(self, fd: int, data: memoryview) -> int:
        """Write some prefix of `data` and return how many bytes were written."""
        return os.write(fd, data)

    def fsync(self, fd: int) -> None:
        """Make everything written to `fd` durable."""
        os.fsync(fd)

    def close(self, fd: int) -> None:
        """Close the descriptor."""
        os.close(fd)


def write_all(ops: FileOps, fd: int, data: bytes) -> None:
    """Write every byte of `data`, looping over short writes."""
    view = memoryview(data)
    total = len(view)
    done = 0
    while done < total:
        written = ops.write(fd, view[done:])
        if written <= 0:
            # A zero-byte write would loop forever; report it like the kernel would.
            raise OSError(f"write returned {written} with {total - done} bytes left")
        done += written


def fsync_directory(ops: FileOps, directory: Path) -> None:
    """Fsync a directory so that files created, renamed or removed in it survive a crash."""
    fd = ops.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        ops.fsync(fd)
    finally:
        ops.close(fd)


def ensure_directory(ops: FileOps, directory: Path, *, durable: bool) -> None:
    """Create `directory` and missing parents; if `durable`, fsync the parent of each new one."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
        if durable:
            fsync_directory(ops, folder.parent)


class DirectoryLock:
    """Hold an exclusive advisory lock on `directory/LOCK` until `release()`."""

    def __init__(self, directory: Path) -> None:
        self._fd: int | None = os.open(directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise JournalLocked(str(directory)) from None

    def release(self) -> None:
        """Drop the lock; calling it twice is harmless."""
        if self._fd is not None:
            # Closing the descriptor releases the flock.
            os.close(self._fd)
            self._fd = None
