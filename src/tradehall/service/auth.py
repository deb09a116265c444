"""`AuthService`: the facade of identity that the entry points use (`platform.auth`).

It holds the identity parts (`users`, `mfa`, and what the identity issue adds: tokens,
sessions, API keys, external identity) and keeps the calls the rest of the platform already
makes: create a user or key, log in, authenticate a token or key pair. Every entry point
(REST, WebSocket) turns whatever the caller presented into one `Principal` through here;
handlers never look at credentials. API secrets are random (240 bits), so a SHA-256 of the
secret is stored and compared in constant time. Access tokens are short-lived HS256 JWTs for
now; the identity issue replaces them with RS256 and rotation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

import jwt
import msgspec

from tradehall.compliance.audit import AuditLog
from tradehall.identity.context import RequestContext
from tradehall.identity.mfa import TotpService
from tradehall.identity.principal import ROLES as ROLES
from tradehall.identity.principal import Principal as Principal
from tradehall.identity.principal import require_role as require_role
from tradehall.identity.users import MAX_PASSWORD as MAX_PASSWORD
from tradehall.identity.users import MIN_PASSWORD as MIN_PASSWORD
from tradehall.identity.users import UserService
from tradehall.kernel.clock import NANOS_PER_SECOND, Clock
from tradehall.kernel.errors import Unauthorized
from tradehall.kernel.ids import AccountId
from tradehall.service.ports import ApiKeyRecord, IdentityStore, UserRecord

_KEY_ALPHABET = string.ascii_uppercase + string.digits
_ISSUER = "tradehall"
_ALGORITHM = "HS256"


class ApiKeyPair(msgspec.Struct, frozen=True):
    key_id: str
    secret: str


class AuthService:
    """Creates users and keys, logs users in, and authenticates each request."""

    def __init__(self, identity: IdentityStore, clock: Clock, jwt_secret: bytes,
                 token_ttl_s: int = 900, *, audit: AuditLog, users: UserService,
                 mfa: TotpService) -> None:
        self.identity = identity
        self.audit = audit
        self.users = users
        self.mfa = mfa
        self._clock = clock
        self._secret = jwt_secret
        self._ttl = token_ttl_s
        # key id -> (secret hash, principal); keys are immutable once created (revocation
        # arrives with the identity issue and must evict from here).
        self._keys: dict[str, tuple[bytes, Principal]] = {}

    # -- Users and keys -------------------------------------------------------------------------

    async def create_user(self, username: str, password: str,
                          roles: tuple[str, ...] = ("trader",)) -> UserRecord:
        """Create an active user whose engine account is named after the username."""
        return await self.users.create_user(username, password, roles)

    async def create_api_key(self, user: UserRecord, label: str = "") -> ApiKeyPair:
        """Create an API key pair; the secret is shown once and only its hash is kept."""
        key_id = "TK" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(18))
        secret = secrets.token_urlsafe(30)
        await self.identity.add_api_key(ApiKeyRecord(
            key_id=key_id, secret_hash=_digest(secret).hex(), user_id=user.user_id,
            label=label, created_ns=self._clock.now_ns()))
        return ApiKeyPair(key_id, secret)

    # -- Login and tokens -----------------------------------------------------------------------

    async def login(self, username: str, password: str, totp_code: str | None = None,
                    ctx: RequestContext | None = None) -> tuple[str, Principal]:
        """Check a login and return an access token with its principal."""
        ctx = ctx or RequestContext()
        user = await self.users.verify_login(username, password, totp_code, ctx)
        principal = _principal(user)
        await self.audit.record("auth.login", actor=user.user_id, target=user.user_id,
                                ip=ctx.ip, user_agent=ctx.user_agent)
        return self.issue_token(principal), principal

    def issue_token(self, principal: Principal) -> str:
        """Sign a short-lived access token for a principal."""
        now = self._clock.now_ns() // NANOS_PER_SECOND
        claims = {"iss": _ISSUER, "sub": principal.user_id, "usr": principal.username,
                  "acc": principal.account, "roles": list(principal.roles), "iat": now,
                  "exp": now + self._ttl}
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    @property
    def token_ttl_s(self) -> int:
        return self._ttl

    # -- Per request ----------------------------------------------------------------------------

    def authenticate_token(self, token: str) -> Principal:
        """Verify a bearer token (only the configured algorithm is accepted)."""
        try:
            claims = jwt.decode(token, self._secret, algorithms=[_ALGORITHM], issuer=_ISSUER,
                                options={"require": ["exp", "iat", "sub", "iss"]},
                                leeway=5)
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the access token has expired", code="token_expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("the access token is not valid", code="invalid_token") from None
        roles = claims.get("roles")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise Unauthorized("the access token is not valid", code="invalid_token")
        return Principal(str(claims["sub"]), str(claims.get("usr", "")),
                         AccountId(str(claims.get("acc", ""))), tuple(roles))

    async def authenticate_api_key(self, key_id: str, secret: str) -> Principal:
        """Check an API key pair and return its owner's principal."""
        cached = self._keys.get(key_id)
        if cached is None:
            record = await self.identity.get_api_key(key_id) if len(key_id) <= 64 else None
            user = None if record is None else await self.identity.get_user(record.user_id)
            if record is None or user is None or record.revoked:
                raise Unauthorized("unknown API key or wrong secret", code="invalid_api_key")
            cached = (bytes.fromhex(record.secret_hash), Principal(
                user.user_id, user.username, user.account, tuple(user.roles), method="api_key",
                scopes=tuple(record.scopes), key_id=record.key_id))
            self._keys[key_id] = cached
        expected, principal = cached
        if not hmac.compare_digest(_digest(secret), expected):
            raise Unauthorized("unknown API key or wrong secret", code="invalid_api_key")
        return principal


def _principal(user: UserRecord) -> Principal:
    return Principal(user.user_id, user.username, user.account, tuple(user.roles))


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()
