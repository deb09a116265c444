"""The KYC vault on real files and SQLite: round trip, tampering and swapping refused with a
clear error, rotation re-wraps keys while old documents still open, and no plaintext byte is
anywhere under the data directory after an upload."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import update

from tradehall.adapters.crypto.local_keys import LocalKeyFile
from tradehall.adapters.files.blobs import FileBlobStore
from tradehall.adapters.sql import SqlDatabase
from tradehall.adapters.sql import tables_compliance as tc
from tradehall.adapters.sql.kyc import SqlKycDocumentStore
from tradehall.compliance.audit import MemoryAuditLog
from tradehall.compliance.keys import DecryptionFailed
from tradehall.compliance.vault import DocumentVault, encode_wrapped
from tradehall.identity.ports import UserRecord
from tradehall.kernel.clock import TestClock
from tradehall.kernel.errors import Conflict
from tradehall.kernel.ids import AccountId
from tradehall.service.auth import Principal
from tradehall.service.kyc import KycService

# A recognisable plaintext: any 24-byte window of it found on disk would be a leak.
SECRET = b"%PDF-1.7\n" + os.urandom(16).hex().encode() * 64


@dataclass
class Vault:
    data_dir: Path
    db: SqlDatabase
    keys: LocalKeyFile
    blobs: FileBlobStore
    vault: DocumentVault
    kyc: KycService
    audit: MemoryAuditLog


def _principal(user_id: str, *roles: str) -> Principal:
    return Principal(user_id, user_id, AccountId(user_id), roles or ("trader",))


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Vault]:
    db = await SqlDatabase.open(f"sqlite:///{tmp_path / 'readmodels.sqlite3'}")
    for user_id in ("alice", "bob"):
        await db.identity.add_user(UserRecord(
            user_id=user_id, username=user_id, password_hash="x", account=AccountId(user_id),
            roles=["trader"], created_ns=1))
    keys = LocalKeyFile.open(tmp_path / "master-keys.json", create=True)
    blobs = FileBlobStore(tmp_path / "kyc")
    vault = DocumentVault(keys)
    clock = TestClock(10**18)
    audit = MemoryAuditLog(clock.now_ns)
    kyc = KycService(SqlKycDocumentStore(db.engine, db.writer), blobs, vault, audit, clock)
    try:
        yield Vault(tmp_path, db, keys, blobs, vault, kyc, audit)
    finally:
        await db.close()


async def _upload(v: Vault, owner: str = "alice", content: bytes = SECRET) -> str:
    document = await v.kyc.upload(_principal(owner), kind="passport",
                                  content_type="application/pdf", filename="p.pdf",
                                  content=content)
    return document.document_id


def _blob_path(v: Vault, document_id: str) -> Path:
    return v.blobs.path_of(f"{document_id[:2]}/{document_id}")


async def test_upload_then_read_returns_the_same_bytes(setup: Vault) -> None:
    document_id = await _upload(setup)

    document, content = await setup.kyc.read(_principal("alice"), document_id)

    assert content == SECRET
    assert document.key_id == "local-v1"


async def test_upload_when_done_leaves_no_plaintext_under_the_data_dir(setup: Vault) -> None:
    await _upload(setup)
    await setup.db.close()  # flush the SQLite WAL into the files scanned below

    windows = {SECRET[i:i + 24] for i in range(0, len(SECRET) - 24, 24)}
    leaks = []
    for path in setup.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            leaks += [path.name for w in windows if w in data]
    assert leaks == []
    assert [p.name for p in setup.blobs.root.rglob("*.tmp")] == []
    assert all(p.stat().st_mode & 0o077 == 0 for p in setup.blobs.root.rglob("*") if p.is_file())


async def test_read_when_ciphertext_is_tampered_is_refused(setup: Vault) -> None:
    document_id = await _upload(setup)
    path = _blob_path(setup, document_id)
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    path.write_bytes(bytes(blob))

    with pytest.raises(DecryptionFailed) as caught:
        await setup.kyc.read(_principal("alice"), document_id)

    assert caught.value.code == "document_corrupted"
    assert "integrity" in caught.value.message
    [entry] = await setup.audit.search(action="kyc.document_read")
    assert (entry.outcome, entry.detail["error"]) == ("failure", "document_corrupted")


async def test_read_when_wrapped_key_is_tampered_is_refused(setup: Vault) -> None:
    document_id = await _upload(setup)
    document = await SqlKycDocumentStore(setup.db.engine, setup.db.writer).get(document_id)
    assert document is not None
    wrapped = document.wrapped_key
    bad = msgspec.structs.replace(wrapped, ciphertext=bytes([wrapped.ciphertext[0] ^ 1])
                                  + wrapped.ciphertext[1:])
    async with setup.db.writer.begin() as conn:
        await conn.execute(update(tc.kyc_documents)
                           .where(tc.kyc_documents.c.document_id == document_id)
                           .values(wrapped_key=encode_wrapped(bad)))

    with pytest.raises(DecryptionFailed) as caught:
        await setup.kyc.read(_principal("alice"), document_id)

    assert caught.value.code == "document_corrupted"


async def test_read_when_ciphertexts_of_two_documents_are_swapped_is_refused(
        setup: Vault) -> None:
    # Arrange: same owner, so only the document id in the AAD tells them apart.
    first = await _upload(setup, content=SECRET)
    second = await _upload(setup, content=b"%PDF-1.7\nanother document")
    a, b = _blob_path(setup, first), _blob_path(setup, second)
    blob_a, blob_b = a.read_bytes(), b.read_bytes()

    # Act
    a.write_bytes(blob_b)
    b.write_bytes(blob_a)

    # Assert
    for document_id in (first, second):
        with pytest.raises(DecryptionFailed):
            await setup.kyc.read(_principal("alice"), document_id)


async def test_open_when_owner_differs_is_refused(setup: Vault) -> None:
    sealed = setup.vault.seal("doc-1", "alice", SECRET)

    assert setup.vault.open("doc-1", "alice", sealed.wrapped_key, sealed.blob) == SECRET
    with pytest.raises(DecryptionFailed):
        setup.vault.open("doc-1", "bob", sealed.wrapped_key, sealed.blob)
    with pytest.raises(DecryptionFailed):
        setup.vault.open("doc-2", "alice", sealed.wrapped_key, sealed.blob)


async def test_read_when_blob_file_is_gone_is_a_conflict_not_a_crash(setup: Vault) -> None:
    document_id = await _upload(setup)
    _blob_path(setup, document_id).unlink()

    with pytest.raises(Conflict) as caught:
        await setup.kyc.read(_principal("alice"), document_id)

    assert caught.value.code == "document_missing"


async def test_rotation_when_keys_rewrapped_old_documents_still_open(setup: Vault) -> None:
    # Arrange
    old = await _upload(setup)
    ciphertext_before = _blob_path(setup, old).read_bytes()

    # Act
    new_key = setup.keys.rotate()
    report = await setup.kyc.rewrap_all()
    newer = await _upload(setup, content=b"%PDF-1.7\nafter rotation")

    # Assert
    assert (report.key_id, report.rewrapped, report.failed) == (new_key, 1, [])
    store = SqlKycDocumentStore(setup.db.engine, setup.db.writer)
    assert {d.key_id for d in await store.find()} == {"local-v2"}
    assert _blob_path(setup, old).read_bytes() == ciphertext_before
    assert (await setup.kyc.read(_principal("alice"), old))[1] == SECRET
    assert (await setup.kyc.read(_principal("alice"), newer))[1] == b"%PDF-1.7\nafter rotation"
    assert (await setup.kyc.rewrap_all()).rewrapped == 0


async def test_rotation_when_a_key_is_tampered_reports_it_and_moves_the_rest(
        setup: Vault) -> None:
    good, bad = await _upload(setup), await _upload(setup)
    store = SqlKycDocumentStore(setup.db.engine, setup.db.writer)
    record = await store.get(bad)
    assert record is not None
    async with setup.db.writer.begin() as conn:
        await conn.execute(update(tc.kyc_documents).where(tc.kyc_documents.c.document_id == bad)
                           .values(owner_id="bob"))
    setup.keys.rotate()

    report = await setup.kyc.rewrap_all()

    assert (report.rewrapped, report.failed) == (1, [bad])
    assert (await setup.kyc.read(_principal("alice"), good))[1] == SECRET
