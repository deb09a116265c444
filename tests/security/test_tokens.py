"""Hostile access and refresh tokens against a real server: every forgery answers exactly 401
with `invalid_token` or `token_expired`, and nothing changes (the victim's sessions stay).

Forgeries: `alg=none`, HS256 keyed with the server's public key, an unknown `kid`, a known
`kid` signed by another key (also with the key embedded in the header), a tampered payload,
garbage. Real signatures with bad claims (expired, wrong audience or issuer, a lifetime longer
than issued, issued in the future) come from a second `TokenService` on the server's own key
ring with a shifted clock or another config, the way a confused deployment would sign them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.kit.server import RunningServer, running_platform
from tradehall.adapters.sql.sessions import SqlSigningKeyStore
from tradehall.compliance.audit import MemoryAuditLog
from tradehall.identity.tokens import TokenConfig, TokenService
from tradehall.kernel.clock import NANOS_PER_SECOND, TestClock

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Victim:
    server: RunningServer
    http: httpx.AsyncClient
    tokens: dict[str, Any]

    @property
    def claims(self) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(self.tokens["access_token"],
                                            options={"verify_signature": False})
        return claims

    @property
    def kid(self) -> str:
        return str(jwt.get_unverified_header(self.tokens["access_token"])["kid"])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def victim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Victim]:
    """One server for the module, with a logged-in user whose session the forgeries attack."""
    data_dir: Path = tmp_path_factory.mktemp("platform")
    async with running_platform(data_dir, market=False) as server:
        user = await server.create_user("alice", deposits={})
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            login = await http.post("/v1/auth/login", json={"username": "alice",
                                                             "password": user.password})
            assert login.status_code == 200
            yield Victim(server, http, login.json())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def _public_pem(v: Victim) -> bytes:
    key = next(k for k in v.server.platform.auth.tokens.jwks()["keys"] if k["kid"] == v.kid)
    public = RSAAlgorithm.from_jwk(key)
    assert isinstance(public, rsa.RSAPublicKey)
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo)


def _alg_none(v: Victim) -> str:
    header = _segment({"alg": "none", "typ": "JWT", "kid": v.kid})
    return f"{header}.{_segment(v.claims | {'roles': ['admin']})}."


def _hs256_with_public_key(v: Victim) -> str:
    signing_input = f"{_segment({'alg': 'HS256', 'typ': 'JWT', 'kid': v.kid})}." \
                    f"{_segment(v.claims)}"
    mac = hmac.new(_public_pem(v), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def _attacker_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _unknown_kid(v: Victim) -> str:
    return jwt.encode(v.claims, _attacker_key(), algorithm="RS256",
                      headers={"kid": "attacker-key"})


def _known_kid_other_key(v: Victim) -> str:
    key = _attacker_key()
    jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return jwt.encode(v.claims | {"roles": ["admin"]}, key, algorithm="RS256",
                      headers={"kid": v.kid, "jwk": jwk})


def _tampered_payload(v: Victim) -> str:
    header, _, signature = v.tokens["access_token"].split(".")
    return f"{header}.{_segment(v.claims | {'roles': ['admin']})}.{signature}"


def _no_kid(v: Victim) -> str:
    _, payload, signature = v.tokens["access_token"].split(".")
    return f"{_segment({'alg': 'RS256', 'typ': 'JWT'})}.{payload}.{signature}"


FORGERIES: dict[str, Callable[[Victim], str]] = {
    "alg_none": _alg_none,
    "hs256_signed_with_public_key": _hs256_with_public_key,
    "unknown_kid": _unknown_kid,
    "known_kid_signed_by_other_key": _known_kid_other_key,
    "tampered_payload": _tampered_payload,
    "header_without_kid": _no_kid,
    "garbage": lambda v: "not.a.jwt",
    "oversized": lambda v: "a" * 9_000,
}


async def _signed_by_server_key(v: Victim, *, shift_s: int = 0,
                                config: TokenConfig | None = None) -> str:
    """A token signed with the server's real current key but with hostile claims."""
    platform = v.server.platform
    clock = TestClock(platform.clock.now_ns() + shift_s * NANOS_PER_SECOND)
    service = TokenService(SqlSigningKeyStore(platform.db.engine, platform.db.writer), clock,
                           MemoryAuditLog(clock.now_ns), config or platform.auth.tokens.config,
                           provider=platform.keys_provider)
    await service.load()
    assert service.current_kid == v.kid
    principal = platform.auth.authenticate_token(v.tokens["access_token"])
    return service.issue(principal, v.claims["sid"])


async def _assert_refused_and_nothing_changed(v: Victim, token: str, code: str) -> None:
    audit_before = len(await v.server.platform.audit.entries(limit=10_000))

    me = await v.http.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    out = await v.http.post("/v1/auth/logout-all", headers={"Authorization": f"Bearer {token}"})

    assert (me.status_code, me.json()["code"]) == (401, code)
    assert (out.status_code, out.json()["code"]) == (401, code)
    real = {"Authorization": f"Bearer {v.tokens['access_token']}"}
    sessions = (await v.http.get("/v1/auth/sessions", headers=real)).json()["sessions"]
    assert [s["session_id"] for s in sessions] == [v.tokens["session_id"]]
    assert len(await v.server.platform.audit.entries(limit=10_000)) == audit_before


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
async def test_bearer_when_token_forged_answers_401_invalid_token(victim: Victim,
                                                                  forgery: str) -> None:
    token = FORGERIES[forgery](victim)

    await _assert_refused_and_nothing_changed(victim, token, "invalid_token")


async def test_bearer_when_token_expired_answers_401_token_expired(victim: Victim) -> None:
    token = await _signed_by_server_key(victim, shift_s=-(900 + 60))

    await _assert_refused_and_nothing_changed(victim, token, "token_expired")


@pytest.mark.parametrize(("case", "config"), [
    ("wrong_audience", TokenConfig(audience="another-api")),
    ("wrong_issuer", TokenConfig(issuer="https://evil.example")),
    ("lifetime_longer_than_issued", TokenConfig(access_ttl_s=30 * 86_400)),
])
async def test_bearer_when_claims_wrong_answers_401_invalid_token(
        victim: Victim, case: str, config: TokenConfig) -> None:
    del case
    token = await _signed_by_server_key(victim, config=config)

    await _assert_refused_and_nothing_changed(victim, token, "invalid_token")


async def test_bearer_when_issued_in_the_future_answers_401_invalid_token(
        victim: Victim) -> None:
    token = await _signed_by_server_key(victim, shift_s=600)

    await _assert_refused_and_nothing_changed(victim, token, "invalid_token")


async def test_refresh_when_access_token_sent_instead_answers_401(victim: Victim) -> None:
    response = await victim.http.post("/v1/auth/refresh", json={
        "refresh_token": victim.tokens["access_token"][:256]})

    assert (response.status_code, response.json()["code"]) == (401, "invalid_refresh_token")
    real = {"Authorization": f"Bearer {victim.tokens['access_token']}"}
    assert (await victim.http.get("/v1/auth/me", headers=real)).status_code == 200
