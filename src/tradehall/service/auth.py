"""Authentication at the edge: users, API keys, access tokens, and the resulting `Principal`.

Every entry point (REST, WebSocket) turns whatever the caller presented (Alpaca key headers,
a bearer JWT) into one `Principal` here; handlers never look at credentials. Passwords are
hashed with argon2id; API secrets are random (240 bits), so a SHA-256 of the secret is stored
and compared in constant time. Access tokens are short-lived HS256 JWTs; the identity issue
replaces them with RS256 and rotation. Hashing runs in a worker thread so the loop never blocks.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import string

import jwt
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tradehall.kernel.clock import NANOS_PER_SECOND, Clock
from tradehall.kernel.errors import Forbidden, InvalidInput, Unauthorized
from tradehall.kernel.ids import AccountId, random_uuid
from tradehall.service.ports import ApiKeyRecord, IdentityStore, UserRecord

ROLES = frozenset({"trader", "provider", "delegate", "dealer", "compliance", "admin"})
_USERNAME = re.compile(r"[a-z0-9][a-z0-9_.-]{2,31}")
_KEY_ALPHABET = string.ascii_uppercase + string.digits
_ISSUER = "tradehall"
_ALGORITHM = "HS256"
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


class Principal(msgspec.Struct, frozen=True):
    """Who is calling: the user, the engine account they trade, their roles."""

    user_id: str
    username: str
    account: AccountId
    roles: tuple[str, ...]

    def has_role(self, role: str) -> bool:
        return role in self.roles or "admin" in self.roles


class ApiKeyPair(msgspec.Struct, frozen=True):
    key_id: str
    secret: str


class AuthService:
    """Creates users and keys, logs users in, and authenticates each request."""

    def __init__(self, identity: IdentityStore, clock: Clock, jwt_secret: bytes,
                 token_ttl_s: int = 900) -> None:
        self.identity = identity
        self._clock = clock
        self._secret = jwt_secret
        self._ttl = token_ttl_s
        self._hasher = PasswordHasher()
        # key id -> (secret hash, principal); keys are immutable once created (revocation
        # arrives with the identity issue and must evict from here).
        self._keys: dict[str, tuple[bytes, Principal]] = {}

    # -- Users and keys -------------------------------------------------------------------------

    async def create_user(self, username: str, password: str,
                          roles: tuple[str, ...] = ("trader",)) -> UserRecord:
        """Register a user whose engine account is named after the username."""
        if not _USERNAME.fullmatch(username):
            raise InvalidInput("username", "3-32 characters: lower-case letters, digits, "
                               "'_', '.', '-', starting with a letter or digit",
                               code="invalid_username")
        _check_password(password)
        unknown = set(roles) - ROLES
        if unknown or not roles:
            raise InvalidInput("roles", f"unknown roles {sorted(unknown)}", code="invalid_role")
        hashed = await asyncio.to_thread(self._hasher.hash, password)
        user = UserRecord(user_id=random_uuid(), username=username, password_hash=hashed,
                          account=AccountId(username), roles=list(roles),
                          created_ns=self._clock.now_ns())
        await self.identity.add_user(user)
        return user

    async def create_api_key(self, user: UserRecord, label: str = "") -> ApiKeyPair:
        """Create an API key pair; the secret is shown once and only its hash is kept."""
        key_id = "TK" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(18))
        secret = secrets.token_urlsafe(30)
        await self.identity.add_api_key(ApiKeyRecord(
            key_id=key_id, secret_hash=_digest(secret).hex(), user_id=user.user_id,
            label=label, created_ns=self._clock.now_ns()))
        return ApiKeyPair(key_id, secret)

    # -- Login and tokens -----------------------------------------------------------------------

    async def login(self, username: str, password: str) -> tuple[str, Principal]:
        """Check a password and return an access token with its principal."""
        user = await self.identity.get_user_by_username(username)
        if user is None or len(password) > MAX_PASSWORD:
            # Hash anyway so a wrong username costs the same time as a wrong password.
            await asyncio.to_thread(self._hasher.hash, password[:MAX_PASSWORD])
            raise Unauthorized("wrong username or password", code="invalid_credentials")
        try:
            await asyncio.to_thread(self._hasher.verify, user.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            raise Unauthorized("wrong username or password",
                               code="invalid_credentials") from None
        principal = _principal(user)
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
            cached = (bytes.fromhex(record.secret_hash), _principal(user))
            self._keys[key_id] = cached
        expected, principal = cached
        if not hmac.compare_digest(_digest(secret), expected):
            raise Unauthorized("unknown API key or wrong secret", code="invalid_api_key")
        return principal


def require_role(principal: Principal, role: str) -> None:
    """Raise Forbidden unless the principal has the role (admins have every role)."""
    if not principal.has_role(role):
        raise Forbidden(f"this needs the {role} role", code="missing_role")


def _principal(user: UserRecord) -> Principal:
    return Principal(user.user_id, user.username, user.account, tuple(user.roles))


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def _check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput("password", f"must be {MIN_PASSWORD}-{MAX_PASSWORD} characters",
                           code="invalid_password")
