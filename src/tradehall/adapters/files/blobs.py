"""`FileBlobStore`: the vault's ciphertexts as files under the data directory.

Each blob is written atomically: a new 0600 file beside the target (exclusive create),
written, fsynced, renamed over the target, and the directory fsynced, so a crash leaves the
old blob or the new one, never half of one. It only ever receives ciphertext (the vault
encrypts in memory first), so no temporary file holds a plain byte. References are checked
to stay inside the root. The blocking file calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from pathlib import Path

from tradehall.kernel.errors import InvalidInput, NotFound

_REF = re.compile(r"^[A-Za-z0-9_-]{1,16}/[A-Za-z0-9_.-]{1,100}$")


class FileBlobStore:
    """Blobs as files under a root directory; implements `BlobStore`."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)
        self._root.mkdir(parents=True, exist_ok=True, mode=0o700)

    @property
    def root(self) -> Path:
        return self._root

    def path_of(self, ref: str) -> Path:
        """The file a reference names (inside the root, or InvalidInput)."""
        if not _REF.fullmatch(ref) or ".." in ref:
            raise InvalidInput("ref", "not a blob reference")
        return self._root / ref

    async def put(self, ref: str, data: bytes) -> None:
        await asyncio.to_thread(_write_atomically, self.path_of(ref), data)

    async def get(self, ref: str) -> bytes:
        path = self.path_of(ref)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise NotFound(f"no blob {ref}", code="blob_missing") from None

    async def delete(self, ref: str) -> None:
        path = self.path_of(ref)
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(path.unlink)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{id(data):x}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
