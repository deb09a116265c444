"""`OidcKeySet`: an OpenID Connect provider's signing keys, fetched and cached, and the
signature check of its tokens (the `TokenVerifier` of `identity/external.py`).

The keys come from the provider's JWKS document (its URL given, or found through the
discovery document, whose `issuer` must be the configured one). They are cached for
`cache_s`; a token naming a key id the cache does not know triggers one refresh, at most
every `min_refresh_s`, so rotation at the provider is picked up at once while a stream of
made-up key ids cannot turn into a stream of requests to it. Only asymmetric algorithms the
provider advertises are accepted (RS256, ES256): never `none` or an HMAC, whose "key" would
be public. The claims are checked by `identity/external.py`, not here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import httpx
import jwt
import msgspec

from tradehall.kernel.clock import NANOS_PER_SECOND, Clock
from tradehall.kernel.errors import TemporaryError, Unauthorized

_log = logging.getLogger(__name__)
ACCEPTED_ALGORITHMS = frozenset({"RS256", "ES256"})
_KEY_TYPES = {"RS256": "RSA", "ES256": "EC"}
_MAX_DOCUMENT = 1 << 20


class OidcConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Where the provider publishes its keys."""

    issuer: str
    discovery_url: str | None = None
    jwks_url: str | None = None
    cache_s: int = 300
    min_refresh_s: int = 10
    timeout_s: float = 5.0


class OidcKeySet:
    """The provider's current signing keys, and the signature check of its tokens."""

    def __init__(self, config: OidcConfig, clock: Clock,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        if config.discovery_url is None and config.jwks_url is None:
            raise ValueError("an OIDC provider needs a discovery URL or a JWKS URL")
        self.config = config
        self._clock = clock
        self._transport = transport
        self._keys: dict[str, jwt.PyJWK] = {}
        self._algorithms = ACCEPTED_ALGORITHMS
        self._fetched_ns: int | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0
        """How many times the keys were fetched (for tests and metrics)."""

    async def verified_claims(self, token: str) -> Mapping[str, object]:
        """Return the claims of a token signed with one of the provider's keys."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("the token is not a JWT", code="invalid_token") from None
        algorithm = header.get("alg")
        if algorithm not in ACCEPTED_ALGORITHMS:
            raise Unauthorized("the token's signing algorithm is not accepted",
                               code="invalid_token")
        kid = header.get("kid")
        key = await self._key(kid if isinstance(kid, str) else None, algorithm)
        try:
            claims: dict[str, object] = jwt.decode(
                token, key.key, algorithms=[algorithm],
                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                         "verify_aud": False, "verify_iss": False})
        except jwt.PyJWTError:
            raise Unauthorized("the token's signature is not valid",
                               code="invalid_token") from None
        return claims

    async def _key(self, kid: str | None, algorithm: str) -> jwt.PyJWK:
        now = self._clock.now_ns()
        if self._fetched_ns is None or now - self._fetched_ns > self.config.cache_s * \
                NANOS_PER_SECOND:
            await self._refresh(stale=self._fetched_ns)
        key = self._find(kid)
        if key is None and self._may_refresh(now):
            await self._refresh(stale=self._fetched_ns)
            key = self._find(kid)
        if key is None:
            raise Unauthorized("the token is signed with a key the identity provider does "
                               "not publish", code="invalid_token")
        if algorithm not in self._algorithms or key.algorithm_name != algorithm:
            raise Unauthorized("the token's signing algorithm does not match its key",
                               code="invalid_token")
        return key

    def _find(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is not None:
            return self._keys.get(kid)
        return next(iter(self._keys.values())) if len(self._keys) == 1 else None

    def _may_refresh(self, now: int) -> bool:
        return self._fetched_ns is None or \
            now - self._fetched_ns >= self.config.min_refresh_s * NANOS_PER_SECOND

    async def _refresh(self, *, stale: int | None) -> None:
        async with self._lock:
            if self._fetched_ns != stale:
                return  # another request refreshed while this one waited
            try:
                await self._fetch()
            except (httpx.HTTPError, ValueError) as exc:
                if not self._keys:
                    raise TemporaryError("the identity provider's keys are unavailable",
                                         code="identity_provider_unavailable") from exc
                _log.warning("refreshing the identity provider's keys failed: %s", exc)
            # A failed refresh also waits min_refresh_s before the next try.
            self._fetched_ns = self._clock.now_ns()

    async def _fetch(self) -> None:
        self.fetches += 1
        async with httpx.AsyncClient(timeout=self.config.timeout_s, transport=self._transport,
                                     follow_redirects=False) as client:
            jwks_url = self.config.jwks_url
            algorithms = ACCEPTED_ALGORITHMS
            if self.config.discovery_url is not None:
                discovery = await _document(client, self.config.discovery_url)
                if discovery.get("issuer") != self.config.issuer:
                    raise ValueError("the discovery document names another issuer")
                advertised = discovery.get("id_token_signing_alg_values_supported")
                if isinstance(advertised, list):
                    algorithms = ACCEPTED_ALGORITHMS & {a for a in advertised
                                                        if isinstance(a, str)}
                jwks_url = jwks_url or discovery.get("jwks_uri")
            if not isinstance(jwks_url, str):
                raise ValueError("the discovery document has no jwks_uri")
            document = await _document(client, jwks_url)
        self._keys = _signing_keys(document, algorithms)
        self._algorithms = algorithms


async def _document(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    response = await client.get(url, headers={"Accept": "application/json"})
    response.raise_for_status()
    if len(response.content) > _MAX_DOCUMENT:
        raise ValueError(f"{url} answered more than {_MAX_DOCUMENT} bytes")
    value = response.json()
    if not isinstance(value, dict):
        raise ValueError(f"{url} did not answer a JSON object")
    return value


def _signing_keys(document: Mapping[str, Any], algorithms: frozenset[str]
                  ) -> dict[str, jwt.PyJWK]:
    keys: dict[str, jwt.PyJWK] = {}
    listed = document.get("keys")
    for entry in listed if isinstance(listed, list) else ():
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        kid = entry.get("kid")
        try:
            key = jwt.PyJWK(entry)
        except (jwt.PyJWTError, ValueError, KeyError, TypeError):
            continue  # a key type this verifier does not use
        if key.algorithm_name not in algorithms or \
                entry.get("kty") != _KEY_TYPES[key.algorithm_name]:
            continue
        keys[kid if isinstance(kid, str) else ""] = key
    return keys
