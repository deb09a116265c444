"""`OidcKeySet` on an in-memory transport: which published keys it uses (RS256 and ES256
signing keys only, never an HMAC key), how a token's algorithm must match its key, the
discovery document's issuer check, caching, and an unreachable provider."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tradehall.adapters.http.oidc import OidcConfig, OidcKeySet
from tradehall.kernel.clock import NANOS_PER_SECOND, TestClock
from tradehall.kernel.errors import TemporaryError, Unauthorized

ISSUER = "https://idp.example"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
CLAIMS = {"iss": ISSUER, "sub": "s-1", "aud": "tradehall"}


def _jwk(key: Any, kid: str, **extra: Any) -> dict[str, Any]:
    algorithm = jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) \
        else jwt.algorithms.ECAlgorithm
    public: dict[str, Any] = json.loads(algorithm.to_jwk(key.public_key()))
    return {**public, "kid": kid, "use": "sig", **extra}


class Provider:
    def __init__(self, keys: list[dict[str, Any]], issuer: str = ISSUER,
                 algorithms: tuple[str, ...] = ("RS256", "ES256")) -> None:
        self.keys = keys
        self.issuer = issuer
        self.algorithms = algorithms
        self.fetches = 0
        self.down = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            return httpx.Response(503)
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={
                "issuer": self.issuer, "jwks_uri": f"{ISSUER}/jwks",
                "id_token_signing_alg_values_supported": list(self.algorithms)})
        self.fetches += 1
        return httpx.Response(200, json={"keys": self.keys})


def _key_set(provider: Provider, clock: TestClock | None = None) -> OidcKeySet:
    config = OidcConfig(issuer=ISSUER, discovery_url=f"{ISSUER}/.well-known/openid-configuration",
                        cache_s=300, min_refresh_s=10)
    return OidcKeySet(config, clock or TestClock(1_000 * NANOS_PER_SECOND),
                      httpx.MockTransport(provider.handle))


async def test_verified_claims_when_rs256_and_es256_keys_are_published_accepts_both() -> None:
    keys = _key_set(Provider([_jwk(RSA_KEY, "r1"), _jwk(EC_KEY, "e1")]))
    rs = jwt.encode(CLAIMS, RSA_KEY, algorithm="RS256", headers={"kid": "r1"})
    es = jwt.encode(CLAIMS, EC_KEY, algorithm="ES256", headers={"kid": "e1"})
    assert (await keys.verified_claims(rs))["sub"] == "s-1"
    assert (await keys.verified_claims(es))["sub"] == "s-1"


async def test_verified_claims_when_algorithm_does_not_match_key_is_401() -> None:
    keys = _key_set(Provider([_jwk(RSA_KEY, "r1"), _jwk(EC_KEY, "e1")]))
    # An ES256 token naming the RSA key's kid
    token = jwt.encode(CLAIMS, EC_KEY, algorithm="ES256", headers={"kid": "r1"})
    with pytest.raises(Unauthorized):
        await keys.verified_claims(token)


async def test_verified_claims_when_provider_does_not_advertise_algorithm_is_401() -> None:
    keys = _key_set(Provider([_jwk(RSA_KEY, "r1"), _jwk(EC_KEY, "e1")],
                             algorithms=("RS256",)))
    token = jwt.encode(CLAIMS, EC_KEY, algorithm="ES256", headers={"kid": "e1"})
    with pytest.raises(Unauthorized):
        await keys.verified_claims(token)


async def test_verified_claims_never_uses_symmetric_or_encryption_keys() -> None:
    secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"
    provider = Provider([{"kty": "oct", "k": secret, "kid": "h1", "alg": "HS256"},
                         _jwk(RSA_KEY, "enc", use="enc")])
    keys = _key_set(provider)
    hs = jwt.encode(CLAIMS, jwt.utils.base64url_decode(secret), algorithm="HS256",
                    headers={"kid": "h1"})
    enc = jwt.encode(CLAIMS, RSA_KEY, algorithm="RS256", headers={"kid": "enc"})
    for token in (hs, enc):
        with pytest.raises(Unauthorized):
            await keys.verified_claims(token)


async def test_key_set_when_discovery_names_another_issuer_is_unavailable() -> None:
    keys = _key_set(Provider([_jwk(RSA_KEY, "r1")], issuer="https://evil.example"))
    token = jwt.encode(CLAIMS, RSA_KEY, algorithm="RS256", headers={"kid": "r1"})
    with pytest.raises(TemporaryError) as caught:
        await keys.verified_claims(token)
    assert caught.value.code == "identity_provider_unavailable"


async def test_key_set_caches_then_refreshes_after_cache_time_and_survives_outage() -> None:
    # Arrange
    clock = TestClock(1_000 * NANOS_PER_SECOND)
    provider = Provider([_jwk(RSA_KEY, "r1")])
    keys = _key_set(provider, clock)
    token = jwt.encode(CLAIMS, RSA_KEY, algorithm="RS256", headers={"kid": "r1"})
    # Act / Assert: cached within cache_s
    await keys.verified_claims(token)
    await keys.verified_claims(token)
    assert provider.fetches == 1
    clock.advance(301 * NANOS_PER_SECOND)
    await keys.verified_claims(token)
    assert provider.fetches == 2
    # A failed refresh keeps the keys it had
    provider.down = True
    clock.advance(301 * NANOS_PER_SECOND)
    assert (await keys.verified_claims(token))["sub"] == "s-1"


async def test_key_set_when_provider_never_answered_is_temporary_error() -> None:
    provider = Provider([_jwk(RSA_KEY, "r1")])
    provider.down = True
    keys = _key_set(provider)
    token = jwt.encode(CLAIMS, RSA_KEY, algorithm="RS256", headers={"kid": "r1"})
    with pytest.raises(TemporaryError):
        await keys.verified_claims(token)


async def test_verified_claims_when_not_a_jwt_or_alg_none_is_401() -> None:
    keys = _key_set(Provider([_jwk(RSA_KEY, "r1")]))
    none = jwt.encode(CLAIMS, "", algorithm="none")
    for token in ("garbage", "a.b.c", none):
        with pytest.raises(Unauthorized):
            await keys.verified_claims(token)
    assert keys.fetches == 0
