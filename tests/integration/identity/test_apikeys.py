"""`ApiKeyService` and `SignedRequestVerifier` over the SQL store (SQLite and PostgreSQL) with a
test clock: the cache's time to live, immediate revocation, allow-lists, last use, and the
signature window at its edges."""

from __future__ import annotations

import pytest

from tests.integration.identity.conftest import Parts
from tradehall.identity.apikeys import ApiKeyConfig, ApiKeyService
from tradehall.identity.ports import ApiKeyRecord
from tradehall.identity.signing import (
    MemoryNonceStore,
    SignedRequest,
    SignedRequestVerifier,
    sign_request,
)
from tradehall.kernel.clock import NANOS_PER_SECOND
from tradehall.kernel.errors import Forbidden, InvalidInput, NotFound, Unauthorized


def service(parts: Parts) -> ApiKeyService:
    return ApiKeyService(parts.db.identity, parts.clock, parts.audit, parts.provider,
                         ApiKeyConfig(cache_ttl_s=30, touch_interval_s=60))


def signed_request(key_id: str, secret: str, timestamp_ms: int, nonce: str,
                   path: str = "/v1/orders") -> SignedRequest:
    headers = sign_request(key_id, secret, "GET", path, timestamp_ms=timestamp_ms, nonce=nonce)
    return SignedRequest(key_id=key_id, timestamp=headers["TH-API-TIMESTAMP"], nonce=nonce,
                         signature=headers["TH-API-SIGNATURE"], method="GET", path=path,
                         query="", body=b"")


async def test_authenticate_when_revoked_elsewhere_is_refused_once_the_cache_expires(
        parts: Parts) -> None:
    # Arrange
    keys = service(parts)
    alice = await parts.add_user("alice")
    pair = await keys.create(alice)
    await keys.authenticate(pair.key_id, pair.secret, "127.0.0.1")

    # Act: another process revokes the key in the database
    await parts.db.identity.revoke_api_key(pair.key_id)
    cached = await keys.authenticate(pair.key_id, pair.secret, "127.0.0.1")
    parts.clock.advance(31 * NANOS_PER_SECOND)

    # Assert
    assert cached.key_id == pair.key_id
    with pytest.raises(Unauthorized) as refused:
        await keys.authenticate(pair.key_id, pair.secret, "127.0.0.1")
    assert refused.value.code == "invalid_api_key"


async def test_revoke_when_done_here_refuses_at_once_and_audits(parts: Parts) -> None:
    keys = service(parts)
    alice = await parts.add_user("alice")
    pair = await keys.create(alice)
    await keys.authenticate(pair.key_id, pair.secret)

    await keys.revoke(alice.user_id, pair.key_id)
    await keys.revoke(alice.user_id, pair.key_id)  # again: nothing more to do

    with pytest.raises(Unauthorized):
        await keys.authenticate(pair.key_id, pair.secret)
    assert [e.target for e in await parts.audit.entries(action="api_key.revoked")] == [
        pair.key_id]


async def test_revoke_when_key_is_another_users_is_not_found_and_key_keeps_working(
        parts: Parts) -> None:
    keys = service(parts)
    alice, bob = await parts.add_user("alice"), await parts.add_user("bob")
    pair = await keys.create(alice)

    with pytest.raises(NotFound) as refused:
        await keys.revoke(bob.user_id, pair.key_id)

    assert refused.value.code == "api_key_not_found"
    assert (await keys.authenticate(pair.key_id, pair.secret)).user_id == alice.user_id


@pytest.mark.parametrize(("address", "allowed"), [
    ("10.1.2.3", True),
    ("::ffff:10.1.2.3", True),
    ("2001:db8::7", True),
    ("10.2.0.1", False),
    ("", False),
    (None, False),
    ("not-an-ip", False),
])
async def test_authenticate_when_allow_list_set_checks_the_address(
        parts: Parts, address: str | None, allowed: bool) -> None:
    keys = service(parts)
    alice = await parts.add_user("alice")
    pair = await keys.create(alice, ip_allow=["10.1.0.0/16", "2001:db8::/32"])

    if allowed:
        await keys.authenticate(pair.key_id, pair.secret, address)
    else:
        with pytest.raises(Forbidden) as refused:
            await keys.authenticate(pair.key_id, pair.secret, address)
        assert refused.value.code == "ip_not_allowed"


@pytest.mark.parametrize(("scopes", "ip_allow", "label", "code"), [
    (["read", "admin"], [], "", "invalid_scope"),
    (None, ["10.0.0.0/33"], "", "invalid_ip_allow"),
    (None, ["10.0.0.1"] * 33, "", "invalid_ip_allow"),
    (None, [], "tab\there", "invalid_label"),
])
async def test_create_when_input_invalid_is_refused_and_stores_nothing(
        parts: Parts, scopes: list[str] | None, ip_allow: list[str], label: str,
        code: str) -> None:
    keys = service(parts)
    alice = await parts.add_user("alice")

    with pytest.raises(InvalidInput) as refused:
        await keys.create(alice, label, scopes, ip_allow)

    assert refused.value.code == code
    assert await keys.list(alice.user_id) == []


async def test_create_when_scopes_given_always_adds_read_in_canonical_order(
        parts: Parts) -> None:
    keys = service(parts)
    alice = await parts.add_user("alice")

    pair = await keys.create(alice, scopes=["withdraw", "trade"])

    principal = await keys.authenticate(pair.key_id, pair.secret)
    assert principal.scopes == ("read", "trade", "withdraw")
    assert principal.method == "api_key"


async def test_authenticate_when_used_often_saves_last_use_once_a_minute(parts: Parts) -> None:
    keys = service(parts)
    alice = await parts.add_user("alice")
    pair = await keys.create(alice)
    first = parts.clock.now_ns()

    await keys.authenticate(pair.key_id, pair.secret)
    parts.clock.advance(20 * NANOS_PER_SECOND)
    await keys.authenticate(pair.key_id, pair.secret)
    saved_early = await parts.db.identity.get_api_key(pair.key_id)
    parts.clock.advance(45 * NANOS_PER_SECOND)
    await keys.authenticate(pair.key_id, pair.secret)
    saved_late = await parts.db.identity.get_api_key(pair.key_id)

    assert saved_early is not None
    assert saved_early.last_used_ns == first
    assert saved_late is not None
    assert saved_late.last_used_ns == parts.clock.now_ns()


async def test_verify_when_timestamp_at_window_edges_accepts_inside_only(parts: Parts) -> None:
    # Arrange
    keys = service(parts)
    verifier = SignedRequestVerifier(keys, MemoryNonceStore(parts.clock), parts.clock)
    alice = await parts.add_user("alice")
    pair = await keys.create(alice, scopes=["read"])
    now_ms = parts.clock.now_ns() // 1_000_000

    # Act
    early = await verifier.verify(signed_request(pair.key_id, pair.secret, now_ms - 30_000,
                                                 "nonce-early-000001"), None)
    late = await verifier.verify(signed_request(pair.key_id, pair.secret, now_ms + 30_000,
                                                "nonce-late-0000001"), None)

    # Assert
    assert (early.method, early.scopes) == ("signed", ("read",))
    assert late.user_id == alice.user_id
    for skew in (-30_001, 30_001):
        with pytest.raises(Unauthorized) as refused:
            await verifier.verify(signed_request(pair.key_id, pair.secret, now_ms + skew,
                                                 f"nonce-skew-{skew + 40_000:06d}"), None)
        assert refused.value.code == "stale_request"


async def test_verify_when_signature_wrong_does_not_spend_the_nonce(parts: Parts) -> None:
    keys = service(parts)
    verifier = SignedRequestVerifier(keys, MemoryNonceStore(parts.clock), parts.clock)
    alice = await parts.add_user("alice")
    pair = await keys.create(alice)
    now_ms = parts.clock.now_ns() // 1_000_000
    forged = signed_request(pair.key_id, "not-the-secret", now_ms, "nonce-000000000001")

    with pytest.raises(Unauthorized) as refused:
        await verifier.verify(forged, None)
    genuine = await verifier.verify(signed_request(pair.key_id, pair.secret, now_ms,
                                                   "nonce-000000000001"), None)

    assert refused.value.code == "invalid_signature"
    assert genuine.key_id == pair.key_id


async def test_verify_when_key_has_no_signing_key_is_refused(parts: Parts) -> None:
    keys = service(parts)
    verifier = SignedRequestVerifier(keys, MemoryNonceStore(parts.clock), parts.clock)
    alice = await parts.add_user("alice")
    await parts.db.identity.add_api_key(ApiKeyRecord(
        key_id="TKLEGACY", secret_hash="00" * 32, user_id=alice.user_id, label="",
        created_ns=parts.clock.now_ns()))
    now_ms = parts.clock.now_ns() // 1_000_000

    with pytest.raises(Unauthorized) as refused:
        await verifier.verify(signed_request("TKLEGACY", "x", now_ms, "nonce-000000000001"),
                              None)

    assert refused.value.code == "signing_not_enabled"
