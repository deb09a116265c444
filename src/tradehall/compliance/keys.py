"""Master keys and envelope encryption: the `KeyProvider` port and the `seal`/`open_sealed` helpers.

A `KeyProvider` holds master keys that never leave it (a cloud KMS, or the local key file of
`adapters/crypto/local_keys.py`); callers hand it small data keys to wrap and unwrap. Each
wrap records the master key id and version, so that after `rotate()` old wraps still unwrap
and `rewrap` moves them to the current version without touching the data they protect.
`seal` encrypts a secret with a fresh AES-256-GCM data key per call and wraps that key; the
associated data (`aad`, e.g. `b"totp:<user id>"`) is bound to both layers, so a sealed blob
copied to another row or owner fails to open. Keep plaintext and data keys in memory only.

Calls are synchronous and cheap for the local provider; a remote KMS adapter caches or batches.
"""

from __future__ import annotations

import os
from typing import Protocol

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tradehall.kernel.errors import Conflict, TemporaryError

DATA_KEY_BYTES = 32
NONCE_BYTES = 12
_SEALED_VERSION = 1


class DecryptionFailed(Conflict):
    """A ciphertext or wrapped key did not authenticate: tampered, swapped or wrong AAD."""

    code = "decryption_failed"


class KeyUnavailable(TemporaryError):
    """The master key version a wrap names is not held by the provider (or it is unreachable)."""

    code = "key_unavailable"


class WrappedKey(msgspec.Struct, frozen=True, kw_only=True):
    """A data key encrypted under one version of a master key."""

    key_id: str
    """Id of the master key version that wrapped it (e.g. `local-v3`)."""
    version: int
    nonce: bytes
    ciphertext: bytes


class KeyProvider(Protocol):
    """Where master keys live: wraps and unwraps data keys, rotates to a new version."""

    @property
    def current_key_id(self) -> str:
        """Id of the master key version new wraps use."""
        ...

    def wrap(self, data_key: bytes, aad: bytes) -> WrappedKey:
        """Encrypt a data key under the current master key, bound to `aad`."""
        ...

    def unwrap(self, wrapped: WrappedKey, aad: bytes) -> bytes:
        """Decrypt a wrapped data key; raise `DecryptionFailed` or `KeyUnavailable`."""
        ...

    def rotate(self) -> str:
        """Make a new master key version current (old ones still unwrap); return its id."""
        ...


class _Sealed(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    v: int
    key: WrappedKey
    nonce: bytes
    ciphertext: bytes


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_Sealed)


def new_data_key() -> bytes:
    """Return a fresh random AES-256 data key."""
    return AESGCM.generate_key(bit_length=256)


def encrypt(key: bytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
    """AES-256-GCM encrypt with a random nonce; return (nonce, ciphertext with tag)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce, AESGCM(key).encrypt(nonce, plaintext, aad)


def decrypt(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM decrypt; raise `DecryptionFailed` when it does not authenticate."""
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, aad)
    except (InvalidTag, ValueError):
        raise DecryptionFailed("the data did not authenticate (tampered, swapped or wrong "
                               "context)") from None


def seal(provider: KeyProvider, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt `plaintext` with a fresh data key wrapped by the provider; return one blob."""
    data_key = new_data_key()
    nonce, ciphertext = encrypt(data_key, plaintext, aad)
    wrapped = provider.wrap(data_key, aad)
    return _encoder.encode(_Sealed(v=_SEALED_VERSION, key=wrapped, nonce=nonce,
                                   ciphertext=ciphertext))


def open_sealed(provider: KeyProvider, blob: bytes, aad: bytes) -> bytes:
    """Decrypt a blob made by `seal` with the same `aad`; raise `DecryptionFailed` otherwise."""
    sealed = _decode(blob)
    return decrypt(provider.unwrap(sealed.key, aad), sealed.nonce, sealed.ciphertext, aad)


def rewrap(provider: KeyProvider, blob: bytes, aad: bytes) -> bytes:
    """Re-wrap a sealed blob's data key under the current master key (ciphertext unchanged)."""
    sealed = _decode(blob)
    if sealed.key.key_id == provider.current_key_id:
        return blob
    wrapped = provider.wrap(provider.unwrap(sealed.key, aad), aad)
    return _encoder.encode(_Sealed(v=sealed.v, key=wrapped, nonce=sealed.nonce,
                                   ciphertext=sealed.ciphertext))


def sealed_key_id(blob: bytes) -> str:
    """Return the id of the master key version a sealed blob's data key is wrapped under."""
    return _decode(blob).key.key_id


def _decode(blob: bytes) -> _Sealed:
    try:
        sealed = _decoder.decode(blob)
    except msgspec.DecodeError:
        raise DecryptionFailed("the sealed data is malformed") from None
    if sealed.v != _SEALED_VERSION or len(sealed.nonce) != NONCE_BYTES:
        raise DecryptionFailed("the sealed data is malformed")
    return sealed
