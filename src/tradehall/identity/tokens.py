"""`TokenService`: RS256 access tokens, the signing key ring, rotation and the JWKS document.

Access tokens are short-lived JWTs signed with the ring's current RSA key and carry its `kid`,
issuer, audience, the user, roles and the session id (`sid`). Only RS256 is ever accepted:
the algorithm is pinned before the signature is checked, so `alg=none` or an HS256 token keyed
with the public key fails like any forgery. Retired keys stay in the ring, for verification
only, until every token they signed has expired (`drop_after_ns`), so rotation logs nobody out.

Verification never touches the store: the public keys are cached in memory; `load` and
`maintain` (called at start and then periodically) re-read the ring, so a rotation done by
another process or the CLI is seen within one maintenance interval. Private keys are stored
sealed by the `KeyProvider` (envelope encryption) when one is given, PEM otherwise; only the
current key's private half is ever decrypted. Times come from the injected `Clock`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from typing import Any, Protocol

import jwt
import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tradehall.compliance.audit import AuditLog
from tradehall.compliance.keys import KeyProvider, open_sealed, seal
from tradehall.identity.principal import Principal
from tradehall.kernel.clock import NANOS_PER_SECOND, Clock
from tradehall.kernel.errors import TemporaryError, Unauthorized
from tradehall.kernel.ids import AccountId, random_token

ALGORITHM = "RS256"
MAX_TOKEN_CHARS = 8192
_SEALED = "sealed"
_PLAIN = "none"  # TODO(identity): drop once every deployment wires a KeyProvider
_CLAIMS = ("exp", "iat", "sub", "iss", "aud", "sid")


class SigningKeyRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One key of the ring as stored: the private half sealed (or PEM without a provider)."""

    kid: str
    algorithm: str
    public_pem: str
    private_key: str
    key_wrapping: str
    """`sealed` (base64 of a `compliance.keys.seal` blob) or `none` (PEM)."""
    created_ns: int
    retired_ns: int | None = None
    drop_after_ns: int | None = None
    """When the last token this key signed has expired: the key may be removed then."""


class SigningKeyStore(Protocol):
    """Where the key ring lives."""

    async def list_signing_keys(self) -> list[SigningKeyRecord]:
        """Every stored key, oldest first."""
        ...

    async def add_signing_key(self, key: SigningKeyRecord) -> None: ...

    async def retire_signing_keys(self, keep_kid: str, retired_ns: int,
                                  drop_after_ns: int) -> list[str]:
        """Retire every unretired key except `keep_kid`; return their kids."""
        ...

    async def drop_signing_keys(self, now_ns: int) -> int:
        """Remove retired keys whose `drop_after_ns` has passed; return how many."""
        ...


class TokenConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How access tokens are made."""

    issuer: str = "tradehall"
    audience: str = "tradehall-api"
    access_ttl_s: int = 900
    rotation_age_s: int = 30 * 86_400
    """Rotate the signing key once it is this old (0: never by age)."""
    leeway_s: int = 5
    retired_grace_s: int = 300
    """How long after its retirement a key may still sign: a process (or the server, after a
    CLI rotation) signs with its old key until its next ring reload. Keep it above the upkeep
    interval."""
    key_bits: int = 2048


class _RingKey(msgspec.Struct, frozen=True):
    kid: str
    public: rsa.RSAPublicKey
    created_ns: int
    retired_ns: int | None
    drop_after_ns: int | None


class _Signer(msgspec.Struct, frozen=True):
    kid: str
    private: rsa.RSAPrivateKey
    created_ns: int


class TokenService:
    """Issues and verifies access tokens; keeps and rotates the signing key ring."""

    def __init__(self, store: SigningKeyStore, clock: Clock, audit: AuditLog,
                 config: TokenConfig | None = None, provider: KeyProvider | None = None) -> None:
        self._store = store
        self._clock = clock
        self._audit = audit
        self.config = config or TokenConfig()
        self._provider = provider
        self._ring: dict[str, _RingKey] = {}
        self._signer: _Signer | None = None
        self._lock = asyncio.Lock()

    @property
    def access_ttl_s(self) -> int:
        return self.config.access_ttl_s

    @property
    def current_kid(self) -> str:
        return self._current().kid

    # -- Key ring -------------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the ring; create the first key, or rotate a key past its age."""
        await self.maintain()

    async def maintain(self) -> None:
        """Re-read the ring, rotate by age when due and drop keys no token needs any more."""
        async with self._lock:
            now = self._clock.now_ns()
            if any(k.drop_after_ns is not None and k.drop_after_ns < now
                   for k in self._ring.values()):
                await self._store.drop_signing_keys(now)
            await self._reload()
            signer = self._signer
            age = self.config.rotation_age_s * NANOS_PER_SECOND
            due = signer is None or (age > 0 and self._clock.now_ns() - signer.created_ns >= age)
        if due:
            await self.rotate(reason="first_key" if signer is None else "age")

    async def rotate(self, *, actor: str | None = None, reason: str = "manual") -> str:
        """Make a new signing key current; the old ones verify until their tokens expire."""
        async with self._lock:
            private = await asyncio.to_thread(rsa.generate_private_key, 65537,
                                              self.config.key_bits)
            now = self._clock.now_ns()
            public_pem = private.public_key().public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
            kid = _thumbprint(private.public_key())
            pem = private.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
            stored, wrapping = self._wrap(kid, pem)
            await self._store.add_signing_key(SigningKeyRecord(
                kid=kid, algorithm=ALGORITHM, public_pem=public_pem, private_key=stored,
                key_wrapping=wrapping, created_ns=now))
            config = self.config
            drop_after = now + (config.retired_grace_s + config.access_ttl_s
                                + 2 * config.leeway_s) * NANOS_PER_SECOND
            retired = await self._store.retire_signing_keys(kid, now, drop_after)
            await self._reload()
        await self._audit.record("keys.rotated", actor=actor, target=kid,
                                 detail={"kid": kid, "retired": retired, "reason": reason,
                                         "wrapping": wrapping})
        return kid

    def jwks(self) -> dict[str, Any]:
        """The public keys that verify tokens now (current first), as a JWK Set."""
        now = self._clock.now_ns()
        keys = sorted((k for k in self._ring.values() if _usable(k, now)),
                      key=lambda k: -k.created_ns)
        out = []
        for key in keys:
            jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public, as_dict=True)
            jwk.update(kid=key.kid, use="sig", alg=ALGORITHM)
            out.append(jwk)
        return {"keys": out}

    # -- Tokens ---------------------------------------------------------------------------------

    def issue(self, principal: Principal, session_id: str) -> str:
        """Sign an access token for a principal's session."""
        signer = self._current()
        now = self._clock.now_ns() // NANOS_PER_SECOND
        claims = {"iss": self.config.issuer, "aud": self.config.audience,
                  "sub": principal.user_id, "sid": session_id, "usr": principal.username,
                  "acc": principal.account, "roles": list(principal.roles), "iat": now,
                  "exp": now + self.config.access_ttl_s, "jti": random_token(12)}
        return jwt.encode(claims, signer.private, algorithm=ALGORITHM,
                          headers={"kid": signer.kid, "typ": "JWT"})

    def verify(self, token: str) -> Principal:
        """Return the principal of a valid access token; raise Unauthorized otherwise."""
        key = self._key_of(token)
        try:
            claims = jwt.decode(token, key.public, algorithms=[ALGORITHM],
                                audience=self.config.audience, issuer=self.config.issuer,
                                options={"require": list(_CLAIMS), "verify_exp": False,
                                         "verify_iat": False, "verify_nbf": False})
        except jwt.PyJWTError:
            raise _invalid() from None
        self._check_times(claims, key)
        return _principal(claims)

    # -- Internals ------------------------------------------------------------------------------

    def _key_of(self, token: str) -> _RingKey:
        if len(token) > MAX_TOKEN_CHARS:
            raise _invalid()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _invalid() from None
        kid = header.get("kid")
        key = self._ring.get(kid) if isinstance(kid, str) else None
        if header.get("alg") != ALGORITHM or key is None:
            raise _invalid()
        return key

    def _check_times(self, claims: dict[str, Any], key: _RingKey) -> None:
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int) or not isinstance(iat, int) or isinstance(exp, bool) \
                or isinstance(iat, bool):
            raise _invalid()
        now = self._clock.now_ns() // NANOS_PER_SECOND
        leeway = self.config.leeway_s
        # A token claiming a longer life than we issue, a future iat, or one dated well after
        # its key's retirement was not made here.
        if iat > now + leeway or exp - iat > self.config.access_ttl_s:
            raise _invalid()
        if key.retired_ns is not None and iat > (key.retired_ns // NANOS_PER_SECOND + leeway
                                                 + self.config.retired_grace_s):
            raise _invalid()
        if now > exp + leeway:
            raise Unauthorized("the access token has expired", code="token_expired")

    async def _reload(self) -> None:
        records = await self._store.list_signing_keys()
        ring: dict[str, _RingKey] = {}
        for r in records:
            if r.algorithm != ALGORITHM:
                continue
            public = serialization.load_pem_public_key(r.public_pem.encode("ascii"))
            if isinstance(public, rsa.RSAPublicKey):
                ring[r.kid] = _RingKey(r.kid, public, r.created_ns, r.retired_ns,
                                       r.drop_after_ns)
        current = [r for r in records if r.retired_ns is None and r.kid in ring]
        newest = max(current, key=lambda r: r.created_ns, default=None)
        if newest is not None and (self._signer is None or self._signer.kid != newest.kid):
            self._signer = _Signer(newest.kid, self._unwrap(newest), newest.created_ns)
        elif newest is None:
            self._signer = None
        self._ring = ring

    def _wrap(self, kid: str, pem: bytes) -> tuple[str, str]:
        if self._provider is None:
            return pem.decode("ascii"), _PLAIN
        blob = seal(self._provider, pem, _aad(kid))
        return base64.b64encode(blob).decode("ascii"), _SEALED

    def _unwrap(self, record: SigningKeyRecord) -> rsa.RSAPrivateKey:
        if record.key_wrapping == _SEALED:
            if self._provider is None:
                raise TemporaryError("the signing key is sealed and no key provider is wired",
                                     code="key_unavailable")
            pem = open_sealed(self._provider, base64.b64decode(record.private_key),
                              _aad(record.kid))
        else:
            pem = record.private_key.encode("ascii")
        private = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private, rsa.RSAPrivateKey):
            raise TemporaryError("the signing key is not an RSA key", code="key_unavailable")
        return private

    def _current(self) -> _Signer:
        if self._signer is None:
            raise TemporaryError("no signing key is loaded yet", code="key_unavailable")
        return self._signer


def _usable(key: _RingKey, now_ns: int) -> bool:
    return key.drop_after_ns is None or key.retired_ns is None or now_ns <= key.drop_after_ns


def _principal(claims: dict[str, Any]) -> Principal:
    roles, sid = claims.get("roles"), claims.get("sid")
    usr, acc = claims.get("usr"), claims.get("acc")
    if (not isinstance(roles, list) or not all(isinstance(r, str) for r in roles)
            or not isinstance(sid, str) or not isinstance(usr, str) or not isinstance(acc, str)):
        raise _invalid()
    return Principal(str(claims["sub"]), usr, AccountId(acc), tuple(roles), method="token",
                     session_id=sid)


def _invalid() -> Unauthorized:
    return Unauthorized("the access token is not valid", code="invalid_token")


def _aad(kid: str) -> bytes:
    return f"signing-key:{kid}".encode()


def _thumbprint(public: rsa.RSAPublicKey) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256) of a public key: a stable `kid`."""
    jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    canonical = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]},
                           separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
