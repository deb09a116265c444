"""The KYC document vault's cryptography: AES-256-GCM envelope encryption, one data key each.

Every document gets a fresh 256-bit data key; the content is encrypted with it in memory and
only the ciphertext is handed to a `BlobStore`. The data key is wrapped by the `KeyProvider`'s
master key and kept beside the document's metadata. The document id and the owner id are the
associated data of both layers, so a ciphertext (or a wrapped key) moved to another document
or owner fails to decrypt instead of showing someone else's passport. Rotation re-wraps data
keys under the current master key version; ciphertexts are never rewritten. No I/O here beyond
the ports; plaintext never leaves memory.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from tradehall.compliance.keys import (
    NONCE_BYTES,
    DecryptionFailed,
    KeyProvider,
    WrappedKey,
    decrypt,
    encrypt,
    new_data_key,
)

_MAGIC = b"THKYC1"
_wrapped_encoder = msgspec.msgpack.Encoder()
_wrapped_decoder = msgspec.msgpack.Decoder(WrappedKey)


class BlobStore(Protocol):
    """Where ciphertexts live, by reference (files, an object store)."""

    async def put(self, ref: str, data: bytes) -> None:
        """Store `data` under `ref` atomically (all or nothing); replace nothing silently."""
        ...

    async def get(self, ref: str) -> bytes:
        """Return the bytes under `ref`; raise `NotFound` when there are none."""
        ...

    async def delete(self, ref: str) -> None:
        """Remove `ref` if present."""
        ...


class SealedDocument(msgspec.Struct, frozen=True, kw_only=True):
    """What the vault made of a document: the blob to store and the wrapped data key."""

    blob: bytes
    wrapped_key: WrappedKey


class DocumentVault:
    """Encrypts, decrypts and re-wraps KYC documents under a key provider's master key."""

    def __init__(self, keys: KeyProvider) -> None:
        self._keys = keys

    @property
    def current_key_id(self) -> str:
        return self._keys.current_key_id

    def seal(self, document_id: str, owner_id: str, plaintext: bytes) -> SealedDocument:
        """Encrypt a document with a fresh data key bound to its id and owner."""
        aad = _aad(document_id, owner_id)
        data_key = new_data_key()
        nonce, ciphertext = encrypt(data_key, plaintext, aad)
        return SealedDocument(blob=_MAGIC + nonce + ciphertext,
                              wrapped_key=self._keys.wrap(data_key, aad))

    def open(self, document_id: str, owner_id: str, wrapped_key: WrappedKey,
             blob: bytes) -> bytes:
        """Decrypt a document; raise `DecryptionFailed` when anything was altered or moved."""
        if not blob.startswith(_MAGIC) or len(blob) < len(_MAGIC) + NONCE_BYTES + 16:
            raise DecryptionFailed("the stored document is not a vault ciphertext",
                                   code="document_corrupted")
        aad = _aad(document_id, owner_id)
        try:
            data_key = self._keys.unwrap(wrapped_key, aad)
            start = len(_MAGIC)
            return decrypt(data_key, blob[start:start + NONCE_BYTES], blob[start + NONCE_BYTES:],
                           aad)
        except DecryptionFailed:
            raise DecryptionFailed("the stored document failed its integrity check (altered, "
                                   "or moved from another document)",
                                   code="document_corrupted") from None

    def rewrap(self, document_id: str, owner_id: str, wrapped_key: WrappedKey) -> WrappedKey:
        """Wrap a document's data key under the current master key (the blob is untouched)."""
        if wrapped_key.key_id == self._keys.current_key_id:
            return wrapped_key
        aad = _aad(document_id, owner_id)
        return self._keys.wrap(self._keys.unwrap(wrapped_key, aad), aad)


def encode_wrapped(wrapped: WrappedKey) -> bytes:
    """The bytes a wrapped key is stored as."""
    return _wrapped_encoder.encode(wrapped)


def decode_wrapped(data: bytes) -> WrappedKey:
    """Read a stored wrapped key; raise `DecryptionFailed` when it is malformed."""
    try:
        return _wrapped_decoder.decode(data)
    except msgspec.DecodeError:
        raise DecryptionFailed("the stored document key is malformed",
                               code="document_corrupted") from None


def _aad(document_id: str, owner_id: str) -> bytes:
    return b"tradehall.kyc.v1\x00" + document_id.encode() + b"\x00" + owner_id.encode()
