"""KYC documents over HTTP: upload, list, read back, compliance review, audit of each step."""

from __future__ import annotations

import httpx

from tests.kit.server import RunningServer, TestUser

PDF = b"%PDF-1.7\n" + b"passport of a test user " * 40


async def _user(server: RunningServer, name: str, *roles: str) -> TestUser:
    return await server.create_user(name, roles=roles or ("trader",), deposits={})


async def _upload(client: httpx.AsyncClient, user: TestUser, content: bytes = PDF,
                  kind: str = "passport", content_type: str = "application/pdf"
                  ) -> httpx.Response:
    return await client.post("/v1/kyc/documents", headers=user.headers, data={"kind": kind},
                             files={"file": ("passport.pdf", content, content_type)})


async def test_upload_when_valid_pdf_is_pending_and_listed(server: RunningServer,
                                                           client: httpx.AsyncClient) -> None:
    alice = await _user(server, "alice")

    response = await _upload(client, alice)
    listed = await client.get("/v1/kyc/documents", headers=alice.headers)

    assert response.status_code == 201
    document = response.json()
    assert document["owner_id"] == alice.user.user_id
    assert (document["kind"], document["status"], document["size"]) == (
        "passport", "pending", len(PDF))
    assert document["filename"] == "passport.pdf"
    assert [d["document_id"] for d in listed.json()["documents"]] == [document["document_id"]]


async def test_content_when_owner_reads_returns_the_bytes_and_is_audited(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await _user(server, "alice")
    document_id = (await _upload(client, alice)).json()["document_id"]

    response = await client.get(f"/v1/kyc/documents/{document_id}/content",
                                headers=alice.headers)

    assert response.status_code == 200
    assert response.content == PDF
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["cache-control"] == "no-store"
    reads = await server.platform.audit_trail.search(action="kyc.document_read")
    assert [(e.actor, e.target, e.outcome) for e in reads] == [
        (alice.user.user_id, document_id, "success")]


async def test_review_when_compliance_approves_user_is_verified(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    alice = await _user(server, "alice")
    officer = await _user(server, "officer", "compliance")
    document_id = (await _upload(client, alice)).json()["document_id"]

    # Act
    pending = await client.get("/v1/kyc/documents", headers=officer.headers,
                               params={"scope": "all", "status": "pending"})
    review = await client.post(f"/v1/kyc/documents/{document_id}/review",
                               headers=officer.headers,
                               json={"decision": "approve", "reason": "matches"})
    again = await client.post(f"/v1/kyc/documents/{document_id}/review",
                              headers=officer.headers, json={"decision": "reject",
                                                             "reason": "changed my mind"})
    status = await client.get("/v1/kyc/status", headers=alice.headers)

    # Assert
    assert [d["document_id"] for d in pending.json()["documents"]] == [document_id]
    assert review.status_code == 200
    assert (review.json()["status"], review.json()["reviewed_by"]) == (
        "approved", officer.user.user_id)
    assert again.status_code == 409
    assert again.json()["code"] == "already_reviewed"
    assert status.json()["status"] == "verified"
    approvals = await server.platform.audit_trail.search(action="kyc.document_approved")
    assert [(e.actor, e.target) for e in approvals] == [(officer.user.user_id, document_id)]


async def test_review_when_rejected_without_reason_is_refused(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await _user(server, "alice")
    officer = await _user(server, "officer", "compliance")
    document_id = (await _upload(client, alice)).json()["document_id"]

    response = await client.post(f"/v1/kyc/documents/{document_id}/review",
                                 headers=officer.headers, json={"decision": "reject"})
    document = await client.get(f"/v1/kyc/documents/{document_id}", headers=alice.headers)

    assert response.status_code == 422
    assert response.json()["code"] == "reason_required"
    assert document.json()["status"] == "pending"


async def test_review_when_caller_is_a_trader_is_forbidden_and_changes_nothing(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await _user(server, "alice")
    bob = await _user(server, "bob")
    document_id = (await _upload(client, alice)).json()["document_id"]

    own = await client.post(f"/v1/kyc/documents/{document_id}/review", headers=alice.headers,
                            json={"decision": "approve", "reason": "me"})
    other = await client.post(f"/v1/kyc/documents/{document_id}/review", headers=bob.headers,
                              json={"decision": "approve", "reason": "friend"})
    listing = await client.get("/v1/kyc/documents", headers=bob.headers,
                               params={"scope": "all"})

    assert (own.status_code, other.status_code, listing.status_code) == (403, 403, 403)
    assert own.json()["code"] == "missing_role"
    document = await client.get(f"/v1/kyc/documents/{document_id}", headers=alice.headers)
    assert document.json()["status"] == "pending"


async def test_audit_when_compliance_searches_and_verifies_the_chain(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await _user(server, "alice")
    officer = await _user(server, "officer", "compliance")
    await _upload(client, alice)

    found = await client.get("/v1/audit", headers=officer.headers,
                             params={"actor": alice.user.user_id,
                                     "action": "kyc.document_uploaded",
                                     "since": "2000-01-01T00:00:00Z"})
    verified = await client.get("/v1/audit/verify", headers=officer.headers)
    denied = await client.get("/v1/audit", headers=alice.headers)

    assert found.status_code == 200
    entries = found.json()["entries"]
    assert [(e["action"], e["detail"]["kind"]) for e in entries] == [
        ("kyc.document_uploaded", "passport")]
    assert entries[0]["time"].endswith("Z")
    assert len(entries[0]["time"]) == len("2026-01-02T03:04:05.123456789Z")
    assert verified.json()["ok"] is True
    assert verified.json()["head_seq"] >= 1
    assert denied.status_code == 403
