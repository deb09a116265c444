"""`ExternalIdentity`: trust a broker's existing identity provider (OpenID Connect).

A token of the configured provider (its `iss`) is checked in two steps: the signature, with
a key the provider publishes, by a `TokenVerifier` (the network part, in
`adapters/http/oidc.py`); then the claims, here, against the injected clock: issuer,
audience, expiry, not-before, issued-at, subject. The provider's subject is linked to one
tradehall user (`ExternalLinkStore`, keyed by issuer and subject, never by a username the
provider sends); on the first login, with auto-provisioning on, a user and an engine account
named from the username claim are created and linked. A username already taken by a local
user is never linked silently (that would hand the provider's user someone else's account).
No I/O of its own.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from typing import Protocol

import jwt
import msgspec

from tradehall.compliance.audit import AuditLog
from tradehall.identity.context import RequestContext
from tradehall.identity.ports import UserRecord, UserStore
from tradehall.identity.principal import ROLES, Principal
from tradehall.identity.users import UserService
from tradehall.kernel.clock import NANOS_PER_SECOND, Clock
from tradehall.kernel.errors import Conflict, Forbidden, InvalidInput, Unauthorized

_MAX_SUBJECT = 255


class ExternalConfig(msgspec.Struct, frozen=True, kw_only=True):
    """What the broker's provider is and how its users map onto tradehall users."""

    issuer: str
    audience: str
    username_claim: str = "preferred_username"
    roles_claim: str | None = None
    """A claim listing tradehall role names; None keeps the roles stored on the user."""
    default_roles: tuple[str, ...] = ("trader",)
    """Roles of a provisioned user (and of a token whose roles claim names none we know)."""
    auto_provision: bool = False
    leeway_s: int = 30


class ExternalLink(msgspec.Struct, frozen=True, kw_only=True):
    """One provider subject linked to one tradehall user."""

    issuer: str
    subject: str
    user_id: str
    created_ns: int


class ExternalLinkStore(Protocol):
    """Links of provider subjects to tradehall users."""

    async def get_link(self, issuer: str, subject: str) -> ExternalLink | None: ...

    async def add_link(self, link: ExternalLink) -> None:
        """Store a link; raise Conflict when the subject is linked already."""
        ...


class TokenVerifier(Protocol):
    """Checks a token's signature with the provider's published keys."""

    async def verified_claims(self, token: str) -> Mapping[str, object]:
        """Return the claims of a token signed by the provider; raise Unauthorized."""
        ...


class ExternalIdentity:
    """Authenticates the provider's tokens and maps their subjects onto tradehall users."""

    def __init__(self, config: ExternalConfig, verifier: TokenVerifier, links: ExternalLinkStore,
                 users: UserService, store: UserStore, clock: Clock, audit: AuditLog) -> None:
        unknown = set(config.default_roles) - ROLES
        if unknown or not config.default_roles:
            raise ValueError(f"unknown default roles {sorted(unknown)}")
        self.config = config
        self._verifier = verifier
        self._links = links
        self._users = users
        self._store = store
        self._clock = clock
        self._audit = audit
        self._user_ids: dict[str, str] = {}  # subject -> user id; links never change
        self._provisioning = asyncio.Lock()

    def issued_this(self, token: str) -> bool:
        """Whether a token claims to come from the provider (read, not trusted, here)."""
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return False
        return isinstance(claims, dict) and claims.get("iss") == self.config.issuer

    async def authenticate(self, token: str, ctx: RequestContext) -> Principal:
        """Verify a provider token and return the principal of the linked user."""
        user = await self.verify(token, ctx)
        return Principal(user.user_id, user.username, user.account, tuple(user.roles),
                         method="external")

    async def verify(self, token: str, ctx: RequestContext) -> UserRecord:
        """Verify a provider token and return the linked (or new) user, with the roles the
        token gives when a roles claim is configured."""
        claims = await self._verifier.verified_claims(token)
        subject = check_claims(claims, self.config, self._clock.now_ns())
        user = await self._user_of(subject, claims, ctx)
        if user.state != "active":
            raise Forbidden("this account is not active", code="account_disabled")
        roles = self._roles(claims, user)
        return user if tuple(user.roles) == roles else msgspec.structs.replace(
            user, roles=list(roles))

    async def _user_of(self, subject: str, claims: Mapping[str, object],
                       ctx: RequestContext) -> UserRecord:
        user_id = self._user_ids.get(subject)
        if user_id is None:
            link = await self._links.get_link(self.config.issuer, subject)
            if link is None:
                link = await self._provision(subject, claims, ctx)
            user_id = self._user_ids[subject] = link.user_id
        user = await self._store.get_user(user_id)
        if user is None:
            raise Unauthorized("the linked user no longer exists", code="unknown_external_user")
        return user

    async def _provision(self, subject: str, claims: Mapping[str, object],
                         ctx: RequestContext) -> ExternalLink:
        if not self.config.auto_provision:
            await self._audit.record("auth.external_refused", actor=None, target=None,
                                     ip=ctx.ip, user_agent=ctx.user_agent, outcome="failure",
                                     detail={"issuer": self.config.issuer, "subject": subject,
                                             "reason": "unknown_external_user"})
            raise Forbidden("this identity provider user has no tradehall account",
                            code="unknown_external_user")
        async with self._provisioning:
            # Another request may have provisioned the same subject while this one waited.
            link = await self._links.get_link(self.config.issuer, subject)
            if link is not None:
                return link
            username = _username(claims, self.config.username_claim)
            try:
                # Nobody knows this password: the user logs in through the provider only.
                user = await self._users.create_user(username, secrets.token_urlsafe(32),
                                                     self._roles(claims, None))
            except InvalidInput as exc:
                raise Forbidden(f"the {self.config.username_claim} claim is not a valid "
                                "username", code="invalid_external_username") from exc
            except Conflict as exc:
                raise Forbidden(f"the username {username!r} belongs to another tradehall "
                                "user", code="external_username_taken") from exc
            link = ExternalLink(issuer=self.config.issuer, subject=subject,
                                user_id=user.user_id, created_ns=self._clock.now_ns())
            await self._links.add_link(link)
        await self._audit.record("auth.external_provisioned", actor=user.user_id,
                                 target=user.user_id, ip=ctx.ip, user_agent=ctx.user_agent,
                                 detail={"issuer": self.config.issuer, "subject": subject})
        return link

    def _roles(self, claims: Mapping[str, object], user: UserRecord | None) -> tuple[str, ...]:
        name = self.config.roles_claim
        if name is None:
            return tuple(user.roles) if user is not None else self.config.default_roles
        listed = claims.get(name)
        if isinstance(listed, str):
            listed = listed.split()
        known = tuple(sorted({r for r in listed if isinstance(r, str)} & ROLES)) if isinstance(
            listed, list) else ()
        return known or self.config.default_roles


def check_claims(claims: Mapping[str, object], config: ExternalConfig, now_ns: int) -> str:
    """Check issuer, audience and validity times of verified claims; return the subject."""
    now = now_ns / NANOS_PER_SECOND
    if claims.get("iss") != config.issuer:
        raise _invalid("the token comes from another issuer")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or config.audience not in audiences:
        raise _invalid("the token is meant for another audience")
    expires = _number(claims, "exp")
    if expires is None:
        raise _invalid("the token has no expiry")
    if now > expires + config.leeway_s:
        raise Unauthorized("the token has expired", code="token_expired")
    not_before = _number(claims, "nbf")
    if not_before is not None and now + config.leeway_s < not_before:
        raise _invalid("the token is not valid yet")
    issued = _number(claims, "iat")
    if issued is not None and now + config.leeway_s < issued:
        raise _invalid("the token was issued in the future")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > _MAX_SUBJECT:
        raise _invalid("the token has no subject")
    return subject


def _number(claims: Mapping[str, object], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"the {name} claim is not a number")
    return float(value)


def _username(claims: Mapping[str, object], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise Forbidden(f"the token has no {name} claim to name the user",
                        code="invalid_external_username")
    return value.strip().lower()


def _invalid(message: str) -> Unauthorized:
    return Unauthorized(message, code="invalid_token")
