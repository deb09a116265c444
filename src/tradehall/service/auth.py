"""`AuthService`: the facade of identity that the entry points use (`platform.auth`).

It holds the identity parts (`users`, `mfa`, and what the identity issue adds: tokens,
sessions, API keys, external identity) and keeps the calls the rest of the platform already
makes: create a user or key, log in, authenticate a token or key pair. Every entry point
(REST, WebSocket) turns whatever the caller presented into one `Principal` through here;
handlers never look at credentials. API secrets are random (240 bits), so a SHA-256 of the
secret is stored and compared in constant time. Access tokens are short-lived RS256 JWTs of
`tokens` (`identity/tokens.py`) bound to a session of `sessions` (`identity/sessions.py`):
a login opens a session and returns an access and a refresh token; a revoked session's access
tokens are refused at once. `revocations` carries the notices of revoked sessions and keys to
every process (`identity/revocation.py`); `still_valid` re-checks a principal held open for a
long time (a WebSocket).
"""

from __future__ import annotations

import msgspec

from tradehall.compliance.audit import AuditLog
from tradehall.identity.alerts import AlertService
from tradehall.identity.apikeys import ApiKeyPair as ApiKeyPair
from tradehall.identity.apikeys import ApiKeyService
from tradehall.identity.context import RequestContext
from tradehall.identity.external import ExternalIdentity
from tradehall.identity.mfa import TotpService
from tradehall.identity.principal import ROLES as ROLES
from tradehall.identity.principal import Principal as Principal
from tradehall.identity.principal import require_role as require_role
from tradehall.identity.ratelimit import RateLimits
from tradehall.identity.revocation import InprocRevocationNotices, RevocationNotices
from tradehall.identity.sessions import OpenedSession, SessionService
from tradehall.identity.signing import SignedRequestVerifier
from tradehall.identity.tokens import TokenService
from tradehall.identity.users import MAX_PASSWORD as MAX_PASSWORD
from tradehall.identity.users import MIN_PASSWORD as MIN_PASSWORD
from tradehall.identity.users import UserService
from tradehall.kernel.clock import Clock
from tradehall.kernel.errors import Unauthorized
from tradehall.kernel.ids import random_uuid
from tradehall.service.ports import IdentityStore, UserRecord


class LoginResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a login or a refresh hands out: tokens, their lifetimes, the session."""

    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    session_id: str
    principal: Principal
    new_device: bool = False


class AuthService:
    """Creates users and keys, logs users in, and authenticates each request."""

    def __init__(self, identity: IdentityStore, clock: Clock, *, audit: AuditLog,
                 users: UserService, mfa: TotpService, tokens: TokenService,
                 sessions: SessionService, alerts: AlertService,
                 external: ExternalIdentity | None = None,
                 keys: ApiKeyService, signing: SignedRequestVerifier,
                 limits: RateLimits, revocations: RevocationNotices | None = None) -> None:
        self.identity = identity
        self.audit = audit
        self.users = users
        self.mfa = mfa
        self.external = external
        """The trusted external identity provider, when one is configured."""
        self.tokens = tokens
        self.sessions = sessions
        self.alerts = alerts
        self._clock = clock
        self.keys = keys
        """API keys: create, list, revoke, check (`identity/apikeys.py`)."""
        self.signing = signing
        """Signed requests of the native API (`identity/signing.py`)."""
        self.limits = limits
        """Rate limits per IP address, API key and user (`identity/ratelimit.py`)."""
        self.revocations: RevocationNotices = revocations or InprocRevocationNotices()
        """Notices of revoked sessions and keys, this process's and the others'."""

    # -- Users and keys -------------------------------------------------------------------------

    async def create_user(self, username: str, password: str,
                          roles: tuple[str, ...] = ("trader",)) -> UserRecord:
        """Create an active user whose engine account is named after the username."""
        return await self.users.create_user(username, password, roles)

    async def create_api_key(self, user: UserRecord, label: str = "",
                             scopes: tuple[str, ...] | None = None,
                             ip_allow: tuple[str, ...] = ()) -> ApiKeyPair:
        """Create an API key pair (default scopes read and trade); the secret is shown once."""
        return await self.keys.create(user, label, scopes, ip_allow)

    # -- Login and tokens -----------------------------------------------------------------------

    async def login(self, username: str, password: str, totp_code: str | None = None,
                    ctx: RequestContext | None = None) -> LoginResult:
        """Check a login (`users.verify_login`), open a session and return its tokens."""
        ctx = ctx or RequestContext()
        user = await self.users.verify_login(username, password, totp_code, ctx)
        return await self.open_session(user, ctx)

    async def open_session(self, user: UserRecord, ctx: RequestContext, *,
                           method: str = "password") -> LoginResult:
        """Open a session for a user whose identity was just proven; audit the login."""
        opened = await self.sessions.open(user, ctx)
        await self.audit.record("auth.login", actor=user.user_id, target=user.user_id,
                                ip=ctx.ip, user_agent=ctx.user_agent,
                                detail={"session_id": opened.session.session_id,
                                        "new_device": opened.new_device, "method": method})
        return self._result(user, opened)

    async def refresh(self, refresh_token: str, ctx: RequestContext | None = None) -> LoginResult:
        """Spend a refresh token for new tokens; the user must still be allowed in."""
        ctx = ctx or RequestContext()
        opened = await self.sessions.refresh(refresh_token, ctx)
        user = await self.identity.get_user(opened.session.user_id)
        if user is None or not _may_continue(user):
            await self.sessions.revoke(opened.session.session_id, actor=None, ctx=ctx,
                                       reason="user_inactive")
            raise Unauthorized("the refresh token is not valid", code="invalid_refresh_token")
        return self._result(user, opened)

    def issue_token(self, principal: Principal) -> str:
        """Sign an access token for a principal (tests and tools).

        A principal without a session gets a token bound to no stored session: it lives its
        short lifetime and cannot be revoked on its own. Users get tokens through `login`.
        """
        return self.tokens.issue(principal, principal.session_id or random_uuid())

    @property
    def token_ttl_s(self) -> int:
        return self.tokens.access_ttl_s

    def _result(self, user: UserRecord, opened: OpenedSession) -> LoginResult:
        session_id = opened.session.session_id
        principal = _principal(user, session_id)
        return LoginResult(access_token=self.tokens.issue(principal, session_id),
                           expires_in=self.tokens.access_ttl_s,
                           refresh_token=opened.refresh_token,
                           refresh_expires_in=opened.refresh_expires_in,
                           session_id=session_id, principal=principal,
                           new_device=opened.new_device)

    # -- Per request ----------------------------------------------------------------------------

    def authenticate_token(self, token: str) -> Principal:
        """Verify an access token (RS256 only) and that its session is still live."""
        principal = self.tokens.verify(token)
        if principal.session_id is None or self.sessions.is_revoked(principal.session_id):
            raise Unauthorized("the session has ended; log in again", code="session_revoked")
        return principal

    async def authenticate_api_key(self, key_id: str, secret: str,
                                   ip: str | None = None) -> Principal:
        """Check an API key pair (and its IP allow-list) and return its owner's principal."""
        return await self.keys.authenticate(key_id, secret, ip)

    async def still_valid(self, principal: Principal) -> bool:
        """Whether the session or key behind a principal still works (no query for sessions;
        a key is re-read once its cached check is stale or was evicted)."""
        if principal.key_id is not None:
            try:
                await self.keys.entry(principal.key_id)
            except Unauthorized:
                return False
            return True
        if principal.method == "token" and principal.session_id is not None:
            return not self.sessions.is_revoked(principal.session_id)
        return True  # an external provider's token: its provider decides, not us


def _principal(user: UserRecord, session_id: str) -> Principal:
    return Principal(user.user_id, user.username, user.account, tuple(user.roles),
                     method="token", session_id=session_id)


def _may_continue(user: UserRecord) -> bool:
    # A timed lockout (failed logins) does not end live sessions; closing or an open-ended
    # lock does.
    if user.state == "locked":
        return user.locked_until_ns is not None
    return user.state == "active"
