"""A small OpenID Connect provider on a free loopback port, for the external-login tests.

It serves `/.well-known/openid-configuration` and `/jwks` (counting the JWKS fetches), signs
ID tokens with its own RSA keys, rotates keys (the new key is published and signs from then
on), and can sign with a key it never published, or forge `none` and HS256 tokens, for the
hostile cases.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import jwt
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.kit.server import free_port
from tradehall.kernel.clock import NANOS_PER_SECOND, LiveClock

AUDIENCE = "tradehall-test"


class OidcProvider:
    """The provider's keys, what it publishes, and token signing."""

    def __init__(self, issuer: str, audience: str = AUDIENCE) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks_fetches = 0
        self._keys: dict[str, rsa.RSAPrivateKey] = {}
        self._serial = 0
        self.kid = self.rotate()

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def rotate(self) -> str:
        """Publish a new key and sign with it from now on; return its key id."""
        self._serial += 1
        kid = f"key-{self._serial}"
        self._keys[kid] = _new_key()
        self.kid = kid
        return kid

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self._keys.items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def claims(self, subject: str, username: str | None = None, **overrides: Any
               ) -> dict[str, Any]:
        """ID token claims for a subject, valid for five minutes."""
        now = LiveClock().now_ns() // NANOS_PER_SECOND
        claims: dict[str, Any] = {"iss": self.issuer, "aud": self.audience, "sub": subject,
                                  "iat": now, "nbf": now - 1, "exp": now + 300}
        if username is not None:
            claims["preferred_username"] = username
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, subject: str, username: str | None = None, *, kid: str | None = None,
              **overrides: Any) -> str:
        """An ID token signed with the current (or a named) published key."""
        kid = kid or self.kid
        return jwt.encode(self.claims(subject, username, **overrides), self._keys[kid],
                          algorithm="RS256", headers={"kid": kid})

    def unpublished_token(self, subject: str, username: str | None = None) -> str:
        """A well-formed token signed with a key the JWKS never listed."""
        return jwt.encode(self.claims(subject, username), _new_key(), algorithm="RS256",
                          headers={"kid": "never-published"})

    def none_token(self, subject: str, username: str | None = None) -> str:
        """An unsigned token (`alg: none`)."""
        header = {"alg": "none", "typ": "JWT", "kid": self.kid}
        return f"{_b64(header)}.{_b64(self.claims(subject, username))}."

    def hs256_token(self, subject: str, username: str | None = None) -> str:
        """A token "signed" with HS256, using the published public key as the secret."""
        header = {"alg": "HS256", "typ": "JWT", "kid": self.kid}
        secret = self._keys[self.kid].public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        signing_input = f"{_b64(header)}.{_b64(self.claims(subject, username))}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"

    def app(self) -> Starlette:
        async def discovery(_: Request) -> JSONResponse:
            return JSONResponse({
                "issuer": self.issuer, "jwks_uri": f"{self.issuer}/jwks",
                "authorization_endpoint": f"{self.issuer}/authorize",
                "id_token_signing_alg_values_supported": ["RS256"],
                "subject_types_supported": ["public"], "response_types_supported": ["code"]})

        async def jwks(_: Request) -> JSONResponse:
            self.jwks_fetches += 1
            return JSONResponse(self.jwks())

        return Starlette(routes=[Route("/.well-known/openid-configuration", discovery),
                                 Route("/jwks", jwks)])


@contextlib.asynccontextmanager
async def running_provider(audience: str = AUDIENCE) -> AsyncIterator[OidcProvider]:
    """Serve a provider with uvicorn on a free loopback port until the block ends."""
    port = free_port()
    provider = OidcProvider(f"http://127.0.0.1:{port}", audience)
    server = uvicorn.Server(uvicorn.Config(provider.app(), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False,
                                           lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the test identity provider did not start")
        await asyncio.sleep(0.01)
    try:
        yield provider
    finally:
        server.should_exit = True
        await task


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64(value: dict[str, Any]) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
