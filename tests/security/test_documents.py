"""KYC documents under attack: another user's ids answer 404 like missing ones and change
nothing, tampered or swapped ciphertexts on disk are refused (409, never 500), oversize bodies
413, unaccepted types 415 and mismatched contents 422."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.kit.server import RunningServer, TestUser, running_platform
from tradehall.entrypoints.api.routers.kyc import MAX_UPLOAD_BODY

PDF = b"%PDF-1.7\n" + b"alice's passport " * 20
PNG = b"\x89PNG\r\n\x1a\n" + b"bob's selfie " * 20


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_platform(tmp_path, market=False) as srv:
        yield srv


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url) as c:
        yield c


async def _user(server: RunningServer, name: str, *roles: str) -> TestUser:
    return await server.create_user(name, roles=roles or ("trader",), deposits={})


async def _upload(client: httpx.AsyncClient, user: TestUser, content: bytes = PDF,
                  content_type: str = "application/pdf", kind: str = "passport",
                  ) -> httpx.Response:
    return await client.post("/v1/kyc/documents", headers=user.headers, data={"kind": kind},
                             files={"file": ("doc", content, content_type)})


def _blob(server: RunningServer, document_id: str) -> bytes:
    return (server.platform.settings.data_dir / "kyc" / document_id[:2] / document_id
            ).read_bytes()


def _write_blob(server: RunningServer, document_id: str, data: bytes) -> None:
    (server.platform.settings.data_dir / "kyc" / document_id[:2] / document_id
     ).write_bytes(data)


async def test_other_users_document_when_requested_by_id_is_404_like_a_missing_one(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    alice, bob = await _user(server, "alice"), await _user(server, "bob")
    document_id = (await _upload(client, alice)).json()["document_id"]
    missing_id = "00000000-0000-4000-8000-000000000000"

    # Act
    meta = await client.get(f"/v1/kyc/documents/{document_id}", headers=bob.headers)
    content = await client.get(f"/v1/kyc/documents/{document_id}/content",
                               headers=bob.headers)
    missing = await client.get(f"/v1/kyc/documents/{missing_id}/content",
                               headers=bob.headers)
    status = await client.get("/v1/kyc/status", headers=bob.headers,
                              params={"user_id": alice.user.user_id})

    # Assert
    assert (meta.status_code, content.status_code, missing.status_code) == (404, 404, 404)
    assert content.json()["code"] == missing.json()["code"] == "document_not_found"
    assert status.status_code == 404
    assert (await client.get("/v1/kyc/documents", headers=bob.headers)).json() == {
        "documents": [], "next_before_ns": None}
    own = await client.get(f"/v1/kyc/documents/{document_id}", headers=alice.headers)
    assert own.json()["status"] == "pending"
    denied = await server.platform.audit_trail.search(action="kyc.document_read")
    assert [(e.actor, e.outcome) for e in denied] == [
        (bob.user.user_id, "denied"), (bob.user.user_id, "denied")]


async def test_document_id_when_malformed_or_traversing_is_404(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await _user(server, "alice")

    responses = [await client.get(f"/v1/kyc/documents/{bad}/content", headers=alice.headers)
                 for bad in ("..%2F..%2Fmaster-keys.json", "x" * 300, "%00")]

    assert [r.status_code for r in responses] == [404, 404, 404]


async def test_content_when_ciphertext_on_disk_is_tampered_is_refused_not_500(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await _user(server, "alice")
    document_id = (await _upload(client, alice)).json()["document_id"]
    blob = bytearray(_blob(server, document_id))
    blob[-1] ^= 0x80
    _write_blob(server, document_id, bytes(blob))

    response = await client.get(f"/v1/kyc/documents/{document_id}/content",
                                headers=alice.headers)

    assert response.status_code == 409
    assert response.json()["code"] == "document_corrupted"
    assert b"passport" not in response.content


async def test_content_when_ciphertexts_are_swapped_between_owners_is_refused(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange: bob puts his ciphertext in place of alice's and alice's in place of his.
    alice, bob = await _user(server, "alice"), await _user(server, "bob")
    alice_doc = (await _upload(client, alice)).json()["document_id"]
    bob_doc = (await _upload(client, bob, PNG, "image/png", "selfie")).json()["document_id"]
    alice_blob, bob_blob = _blob(server, alice_doc), _blob(server, bob_doc)
    _write_blob(server, alice_doc, bob_blob)
    _write_blob(server, bob_doc, alice_blob)

    # Act
    as_alice = await client.get(f"/v1/kyc/documents/{alice_doc}/content",
                                headers=alice.headers)
    as_bob = await client.get(f"/v1/kyc/documents/{bob_doc}/content", headers=bob.headers)

    # Assert
    assert (as_alice.status_code, as_bob.status_code) == (409, 409)
    assert as_bob.json()["code"] == "document_corrupted"
    assert b"passport" not in as_bob.content


async def test_upload_when_oversize_is_413_and_stores_nothing(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await _user(server, "alice")
    too_big = b"%PDF-1.7\n" + b"\0" * (10 * 1024 * 1024)

    response = await _upload(client, alice, too_big)
    body = await client.post("/v1/kyc/documents", headers={
        **alice.headers, "content-type": "multipart/form-data; boundary=x"},
        content=b"\0" * (MAX_UPLOAD_BODY + 1))

    assert response.status_code == 413
    assert response.json()["code"] == "document_too_large"
    assert (body.status_code, body.json()["code"]) == (413, "body_too_large")
    assert (await client.get("/v1/kyc/documents", headers=alice.headers)).json()[
        "documents"] == []


async def test_upload_when_type_is_not_accepted_is_415_and_mismatch_is_422(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await _user(server, "alice")

    html = await _upload(client, alice, b"<html><script>x</script>", "text/html")
    fake_pdf = await _upload(client, alice, b"MZ\x90\x00 not a pdf", "application/pdf")
    not_multipart = await client.post("/v1/kyc/documents", headers=alice.headers,
                                      json={"kind": "passport"})
    bad_kind = await _upload(client, alice, kind="diary")
    empty = await _upload(client, alice, b"")

    assert (html.status_code, html.json()["code"]) == (415, "unsupported_document_type")
    assert (fake_pdf.status_code, fake_pdf.json()["code"]) == (422, "content_type_mismatch")
    assert not_multipart.status_code == 415
    assert (bad_kind.status_code, bad_kind.json()["code"]) == (422, "invalid_document_kind")
    assert empty.status_code == 422
    assert (await client.get("/v1/kyc/documents", headers=alice.headers)).json()[
        "documents"] == []


async def test_upload_when_multipart_is_malformed_is_422(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await _user(server, "alice")

    response = await client.post("/v1/kyc/documents", headers={
        **alice.headers, "content-type": "multipart/form-data; boundary=abc"},
        content=b"--abc\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\npassport")

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_multipart"


async def test_audit_entries_when_documents_are_handled_hold_no_content(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await _user(server, "alice")
    document_id = (await _upload(client, alice)).json()["document_id"]
    await client.get(f"/v1/kyc/documents/{document_id}/content", headers=alice.headers)

    entries = await server.platform.audit_trail.search(limit=1000)

    text = repr(entries)
    assert "passport " not in text
    assert alice.password not in text
    assert alice.key.secret not in text
