"""`LocalKeyFile`: the `KeyProvider` whose AES-256-GCM master keys live in a file of the data dir.

The file (mode 0600, JSON) keeps every master key version, so wraps made before a rotation
still unwrap; the highest version is current. It is written atomically (a new 0600 file
beside it, fsynced, then renamed over it) under an advisory lock, so a `rotate-key` run
beside a live server cannot lose a version; a server re-reads the file when it meets a
version it does not hold, and before wrapping when the file changed (so it wraps under the
newest key). The file is created only when the caller allows it: in production a missing
file is an error, never a silent new key (that would orphan every wrapped secret).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tradehall.compliance.keys import (
    DATA_KEY_BYTES,
    DecryptionFailed,
    KeyUnavailable,
    WrappedKey,
    decrypt,
    encrypt,
)

_log = logging.getLogger(__name__)
_FORMAT = 1
_PREFIX = "local-v"


class LocalKeyFile:
    """Master keys in a local 0600 key file; implements `KeyProvider`."""

    def __init__(self, path: Path, keys: dict[int, bytes]) -> None:
        self._path = path
        self._keys = keys
        self._lock = threading.Lock()
        self._stamp = _stamp(path)

    @classmethod
    def open(cls, path: Path, *, create: bool) -> LocalKeyFile:
        """Load the key file; create it with a first key when missing and `create` is true."""
        path = Path(path)
        with _file_lock(path):
            if not path.exists():
                if not create:
                    raise KeyUnavailable(
                        f"the master key file {path.name} does not exist; create it on purpose "
                        "(TRADEHALL_MASTER_KEY_CREATE=true once) or point "
                        "TRADEHALL_MASTER_KEY_FILE at it", code="master_key_missing")
                _write(path, {1: AESGCM.generate_key(bit_length=256)})
            keys = _read(path)
        return cls(path, keys)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def current_version(self) -> int:
        return max(self._keys)

    @property
    def current_key_id(self) -> str:
        return f"{_PREFIX}{self.current_version}"

    @property
    def versions(self) -> tuple[int, ...]:
        return tuple(sorted(self._keys))

    def wrap(self, data_key: bytes, aad: bytes) -> WrappedKey:
        if len(data_key) != DATA_KEY_BYTES:
            raise ValueError("a data key is 32 bytes")
        if _stamp(self._path) != self._stamp:
            # Rotated by another process (`tradehall kyc rotate-key`): wrap under the new key.
            self._reload()
        version = self.current_version
        key_id = f"{_PREFIX}{version}"
        nonce, ciphertext = encrypt(self._keys[version], data_key, _wrap_aad(key_id, aad))
        return WrappedKey(key_id=key_id, version=version, nonce=nonce, ciphertext=ciphertext)

    def unwrap(self, wrapped: WrappedKey, aad: bytes) -> bytes:
        if wrapped.key_id != f"{_PREFIX}{wrapped.version}":
            raise DecryptionFailed("the wrapped key names a master key of another provider")
        master = self._keys.get(wrapped.version)
        if master is None:
            self._reload()
            master = self._keys.get(wrapped.version)
        if master is None:
            raise KeyUnavailable(f"master key {wrapped.key_id} is not in the key file")
        return decrypt(master, wrapped.nonce, wrapped.ciphertext,
                       _wrap_aad(wrapped.key_id, aad))

    def rotate(self) -> str:
        with self._lock, _file_lock(self._path):
            keys = _read(self._path)
            keys[max(keys) + 1] = AESGCM.generate_key(bit_length=256)
            _write(self._path, keys)
            self._keys = keys
            self._stamp = _stamp(self._path)
        return self.current_key_id

    def _reload(self) -> None:
        with self._lock, _file_lock(self._path):
            self._keys = _read(self._path)
            self._stamp = _stamp(self._path)


def _stamp(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except FileNotFoundError:
        return (0, 0)
    return (info.st_mtime_ns, info.st_ino)


def _wrap_aad(key_id: str, aad: bytes) -> bytes:
    # The master key id is bound too, so a wrap cannot be replayed under another version.
    return b"tradehall.wrap\x00" + key_id.encode() + b"\x00" + aad


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read(path: Path) -> dict[int, bytes]:
    mode = path.stat().st_mode
    if mode & 0o077:
        _log.warning("master key file %s is readable by group or others (mode %o); chmod 600",
                     path.name, mode & 0o777)
    try:
        document = json.loads(path.read_text())
        if document.get("format") != _FORMAT:
            raise ValueError("unknown format")
        keys = {int(v): base64.b64decode(k, validate=True)
                for v, k in document["keys"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise KeyUnavailable(f"the master key file {path.name} is not readable: {error}",
                             code="master_key_file_invalid") from None
    if not keys or any(len(k) != DATA_KEY_BYTES for k in keys.values()):
        raise KeyUnavailable(f"the master key file {path.name} holds no valid key",
                             code="master_key_file_invalid")
    return keys


def _write(path: Path, keys: dict[int, bytes]) -> None:
    document = {"format": _FORMAT, "keys": {str(v): base64.b64encode(k).decode()
                                            for v, k in sorted(keys.items())}}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(document, f)
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
