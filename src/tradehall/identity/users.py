"""`UserService`: registration, login checks, passwords, account states and user admin.

`verify_login` is the one place that decides a login: throttle, user lookup, temporary lock,
password, state, second factor; each refusal is audited as `auth.login_failed` with its
reason (never the password). Unknown usernames and wrong passwords answer alike and cost
alike (a dummy hash is checked), and unknown usernames throttle and lock like known ones, so
no answer tells whether an account exists; a user's state (pending, closed, locked by an
admin) is told only to someone who gave the right password. Opening the session is
`sessions.py`'s job.

Registration makes a `pending` user and mails a verification token; password resets mail a
token too and always answer the same, whether the address is known or not. Tokens are
random, single-use and expiring, and only their SHA-256 digest is stored. Hashing (argon2id)
runs in a worker thread so the event loop never blocks. An admin's change of a user's state or
roles publishes a `user` revocation notice, so every process checks that user's keys again.
"""

from __future__ import annotations

import asyncio
import hashlib
import re

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tradehall.compliance.audit import AuditLog
from tradehall.identity.account_store import AccountStore, OneTimeToken, TokenPurpose
from tradehall.identity.context import RequestContext
from tradehall.identity.mail import Mailer, MailMessage
from tradehall.identity.mfa import TotpService
from tradehall.identity.ports import UserRecord, UserState, UserStore
from tradehall.identity.principal import ROLES, Principal
from tradehall.identity.revocation import Revocation, RevocationNotices
from tradehall.identity.throttle import LoginThrottle
from tradehall.kernel.clock import NANOS_PER_SECOND, Clock
from tradehall.kernel.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from tradehall.kernel.ids import AccountId, random_token, random_uuid

_USERNAME = re.compile(r"[a-z0-9][a-z0-9_.-]{2,31}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
MAX_TOKEN = 256
ADMIN_STATES: frozenset[UserState] = frozenset({"active", "locked", "closed"})


class AccountsConfig(msgspec.Struct, frozen=True, kw_only=True):
    email_token_ttl_ns: int = 24 * 3600 * NANOS_PER_SECOND
    reset_token_ttl_ns: int = 3600 * NANOS_PER_SECOND


class UserService:
    """Users: register, check a login, change passwords, states and roles."""

    def __init__(self, store: UserStore, clock: Clock, audit: AuditLog, *,
                 accounts: AccountStore, mailer: Mailer, throttle: LoginThrottle,
                 mfa: TotpService, config: AccountsConfig | None = None,
                 notices: RevocationNotices | None = None) -> None:
        self.store = store
        self._notices = notices
        self.accounts = accounts
        self.mailer = mailer
        self.throttle = throttle
        self._mfa = mfa
        self._clock = clock
        self._audit = audit
        self.config = config or AccountsConfig()
        self._hasher = PasswordHasher()
        self._dummy_hash: str | None = None

    # -- Creating users -------------------------------------------------------------------------

    async def create_user(self, username: str, password: str,
                          roles: tuple[str, ...] = ("trader",)) -> UserRecord:
        """Create an active user whose engine account is named after the username."""
        return await self._add(username, password, roles, email=None, state="active")

    async def register(self, username: str, email: str, password: str,
                       ctx: RequestContext) -> UserRecord:
        """Create a pending trader and mail the token that verifies their e-mail address."""
        check_username(username)
        check_password(password)
        address = normalize_email(email)
        if await self.accounts.get_user_by_email(address) is not None:
            raise Conflict("this e-mail address is already registered", code="email_taken")
        user = await self._add(username, password, ("trader",), email=address, state="pending")
        await self._mail_verification(user, address)
        await self._record("user.registered", user.user_id, user.user_id, ctx)
        return user

    async def resend_verification(self, email: str, ctx: RequestContext) -> None:
        """Mail a new verification token to a pending user's address; say nothing either way."""
        try:
            address = normalize_email(email)
        except InvalidInput:
            return
        user = await self.accounts.get_user_by_email(address)
        if user is None or user.state != "pending":
            return
        await self.accounts.revoke_tokens(user.user_id, "verify_email", self._clock.now_ns())
        await self._mail_verification(user, address)
        await self._record("user.verification_resent", None, user.user_id, ctx)

    async def _mail_verification(self, user: UserRecord, address: str) -> None:
        token = await self._issue(user, "verify_email", self.config.email_token_ttl_ns)
        await self.mailer.send(MailMessage(
            kind="verify_email", to=address, subject="Confirm your e-mail address for tradehall",
            body=f"Hello {user.username},\n\nconfirm your e-mail address with this token "
                 f"(valid {_hours(self.config.email_token_ttl_ns)}, once):\n\n"
                 f"Token: {token}\n\nIf you did not register, ignore this message.\n"))

    async def verify_email(self, token: str, ctx: RequestContext) -> UserRecord:
        """Use an e-mail verification token: the address is verified, a pending user active."""
        used = await self._consume(token, "verify_email")
        user = await self._user_by_id(used.user_id)
        state: UserState = "active" if user.state == "pending" else user.state
        updated = await self.accounts.set_state(user.user_id, state, email_verified=True)
        await self._record("user.email_verified", user.user_id, user.user_id, ctx)
        return updated or user

    async def _add(self, username: str, password: str, roles: tuple[str, ...], *,
                   email: str | None, state: UserState) -> UserRecord:
        check_username(username)
        check_password(password)
        unknown = set(roles) - ROLES
        if unknown or not roles:
            raise InvalidInput("roles", f"unknown roles {sorted(unknown)}", code="invalid_role")
        hashed = await asyncio.to_thread(self._hasher.hash, password)
        user = UserRecord(user_id=random_uuid(), username=username, password_hash=hashed,
                          account=AccountId(username), roles=list(roles),
                          created_ns=self._clock.now_ns(), email=email, state=state,
                          email_verified=False)
        await self.store.add_user(user)
        return user

    # -- Login ----------------------------------------------------------------------------------

    async def verify_login(self, username: str, password: str, totp_code: str | None,
                           ctx: RequestContext) -> UserRecord:
        """Return the active user these credentials identify, or raise.

        Raises TooManyRequests (`login_throttled`) or Unauthorized: `invalid_credentials`,
        `account_locked`, `account_pending`, `account_closed`, `mfa_required`,
        `invalid_mfa_code`.
        """
        try:
            await self.throttle.begin(username, ctx.ip)
        except TooManyRequests:
            await self._login_failed(None, ctx, "login_throttled")
            raise
        try:
            return await self._decide_login(username, password, totp_code, ctx)
        finally:
            self.throttle.end(username, ctx.ip)

    async def _decide_login(self, username: str, password: str, totp_code: str | None,
                            ctx: RequestContext) -> UserRecord:
        user = await self.store.get_user_by_username(username)
        await self._refuse_if_locked(username, user, ctx)
        matched = await self._password_matches(user, password)
        if user is None or not matched:
            await self._count_failure(username, user, ctx, "invalid_credentials")
            raise Unauthorized("wrong username or password", code="invalid_credentials")
        await self._refuse_state(user, ctx)
        if await self._mfa.is_enabled(user.user_id):
            await self._second_factor(username, user, totp_code, ctx)
        await self.throttle.succeeded(username)
        if user.failed_logins or user.locked_until_ns is not None:
            await self.accounts.set_lockout(user.user_id, 0, None)
        return user

    async def _refuse_if_locked(self, username: str, user: UserRecord | None,
                                ctx: RequestContext) -> None:
        now = self._clock.now_ns()
        until = max(user.locked_until_ns or 0 if user else 0,
                    await self.throttle.locked_until_ns(username) or 0)
        if until > now:
            await self._login_failed(user, ctx, "account_locked")
            minutes = -(-(until - now) // (60 * NANOS_PER_SECOND))
            raise Unauthorized(f"too many failed logins: the account is locked for {minutes} "
                               "more minutes", code="account_locked")

    async def _refuse_state(self, user: UserRecord, ctx: RequestContext) -> None:
        refusals = {"pending": ("account_pending", "confirm your e-mail address first"),
                    "locked": ("account_locked", "the account is locked"),
                    "closed": ("account_closed", "the account is closed")}
        refusal = refusals.get(user.state)
        if refusal is not None:
            await self._login_failed(user, ctx, refusal[0])
            raise Unauthorized(refusal[1], code=refusal[0])

    async def _second_factor(self, username: str, user: UserRecord, totp_code: str | None,
                             ctx: RequestContext) -> None:
        try:
            await self._mfa.check(user.user_id, totp_code, ctx)
        except Unauthorized as exc:
            if exc.code == "mfa_required":
                await self._login_failed(user, ctx, "mfa_required")
            else:
                await self._count_failure(username, user, ctx, exc.code)
            raise

    async def _password_matches(self, user: UserRecord | None, password: str) -> bool:
        if len(password) > MAX_PASSWORD:
            return False
        if user is None:
            # Check a dummy hash so a wrong username costs the same time as a wrong password.
            if self._dummy_hash is None:
                self._dummy_hash = await asyncio.to_thread(self._hasher.hash, random_token())
            await self._verify(self._dummy_hash, password)
            return False
        return await self._verify(user.password_hash, password)

    async def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return await asyncio.to_thread(self._hasher.verify, password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def _count_failure(self, username: str, user: UserRecord | None,
                             ctx: RequestContext, reason: str) -> None:
        failures = await self.throttle.failed(username, ctx.ip)
        await self._login_failed(user, ctx, reason)
        if user is None:
            return
        cfg = self.throttle.config
        locked = failures >= cfg.lockout_failures
        until = self._clock.now_ns() + cfg.lockout_ns if locked else None
        await self.accounts.set_lockout(user.user_id, failures, until)
        if locked:
            await self._record("auth.account_locked", None, user.user_id, ctx,
                               detail={"failures": failures, "until_ns": until})

    async def _login_failed(self, user: UserRecord | None, ctx: RequestContext,
                            reason: str) -> None:
        uid = user.user_id if user else None
        await self._audit.record("auth.login_failed", actor=uid, target=uid, ip=ctx.ip,
                                 user_agent=ctx.user_agent, outcome="failure",
                                 detail={"reason": reason})

    # -- Passwords ------------------------------------------------------------------------------

    async def change_password(self, user_id: str, current: str, new: str,
                              ctx: RequestContext) -> UserRecord:
        """Change a password after checking the current one (throttled like a login)."""
        user = await self._user_by_id(user_id)
        check_password(new, field="new_password")
        await self.throttle.check(user.username, ctx.ip)
        if not await self._password_matches(user, current):
            await self.throttle.failed(user.username, ctx.ip)
            await self._record("user.password_change_failed", user_id, user_id, ctx,
                               outcome="failure")
            raise InvalidInput("current_password", "the current password is wrong",
                               code="wrong_password")
        updated = await self._set_password(user, new)
        await self.throttle.succeeded(user.username)
        await self._notify_password_changed(updated)
        await self._record("user.password_changed", user_id, user_id, ctx)
        return updated

    async def request_password_reset(self, email: str, ctx: RequestContext) -> None:
        """Mail a reset token when the address belongs to a user; say nothing either way."""
        try:
            address = normalize_email(email)
        except InvalidInput:
            return
        user = await self.accounts.get_user_by_email(address)
        await self._record("user.password_reset_requested", None,
                           user.user_id if user else None, ctx)
        if user is None or user.state == "closed":
            return
        now = self._clock.now_ns()
        await self.accounts.revoke_tokens(user.user_id, "password_reset", now)
        token = await self._issue(user, "password_reset", self.config.reset_token_ttl_ns)
        await self.mailer.send(MailMessage(
            kind="password_reset", to=address, subject="Reset your tradehall password",
            body=f"Hello {user.username},\n\nset a new password with this token (valid "
                 f"{_hours(self.config.reset_token_ttl_ns)}, once):\n\nToken: {token}\n\n"
                 "If you did not ask for this, ignore this message: your password stays.\n"))

    async def reset_password(self, token: str, new_password: str,
                             ctx: RequestContext) -> UserRecord:
        """Set a new password with a reset token; lifts a temporary lock."""
        check_password(new_password, field="new_password")
        used = await self._consume(token, "password_reset")
        user = await self._user_by_id(used.user_id)
        if user.state == "closed":
            raise InvalidInput("token", "the token is unknown, used or expired",
                               code="invalid_account_token")
        updated = await self._set_password(user, new_password)
        await self.accounts.revoke_tokens(user.user_id, "password_reset", self._clock.now_ns())
        await self.accounts.set_lockout(user.user_id, 0, None)
        await self.throttle.clear(user.username)
        await self._notify_password_changed(updated)
        await self._record("user.password_reset", user.user_id, user.user_id, ctx)
        return updated

    async def _set_password(self, user: UserRecord, password: str) -> UserRecord:
        hashed = await asyncio.to_thread(self._hasher.hash, password)
        updated = await self.accounts.set_password(user.user_id, hashed, self._clock.now_ns())
        return updated or user

    async def _notify_password_changed(self, user: UserRecord) -> None:
        if user.email:
            await self.mailer.send(MailMessage(
                kind="password_changed", to=user.email, subject="Your tradehall password changed",
                body=f"Hello {user.username},\n\nthe password of your account was changed. If "
                     "this was not you, reset it at once and contact support.\n"))

    # -- Administration -------------------------------------------------------------------------

    async def list_users(self) -> list[UserRecord]:
        return await self.store.list_users()

    async def get_user(self, username: str) -> UserRecord:
        """Return a user by name or raise NotFound (`user_not_found`)."""
        user = await self.store.get_user_by_username(username)
        if user is None:
            raise NotFound(f"no user {username}", code="user_not_found")
        return user

    async def set_roles(self, admin: Principal, username: str, roles: list[str],
                        ctx: RequestContext) -> UserRecord:
        """Replace a user's roles (audited); an admin cannot drop their own admin role."""
        wanted = sorted(set(roles))
        unknown = set(wanted) - ROLES
        if unknown or not wanted:
            raise InvalidInput("roles", f"unknown roles {sorted(unknown)}" if unknown
                               else "give at least one role", code="invalid_role")
        user = await self.get_user(username)
        if user.user_id == admin.user_id and "admin" not in wanted:
            raise Conflict("you cannot remove your own admin role",
                           code="cannot_demote_self")
        updated = await self.accounts.set_roles(user.user_id, wanted) or user
        await self._user_changed(user.user_id)
        await self._record("user.roles_changed", admin.user_id, user.user_id, ctx,
                           detail={"before": sorted(user.roles), "after": wanted})
        return updated

    async def set_state(self, admin: Principal, username: str, state: UserState,
                        ctx: RequestContext) -> UserRecord:
        """Activate, lock or close a user (audited); activating also lifts a temporary lock."""
        if state not in ADMIN_STATES:
            raise InvalidInput("state", "one of active, locked, closed", code="invalid_state")
        user = await self.get_user(username)
        if user.user_id == admin.user_id:
            raise Conflict("you cannot change your own account's state",
                           code="cannot_change_own_state")
        updated = await self.accounts.set_state(user.user_id, state) or user
        if state == "active":
            updated = await self._lift_lock(updated)
        await self._user_changed(user.user_id)
        await self._record("user.state_changed", admin.user_id, user.user_id, ctx,
                           detail={"before": user.state, "after": state})
        return updated

    async def _user_changed(self, user_id: str) -> None:
        # Cached key checks carry the user's roles and state: every process must redo them.
        if self._notices is not None:
            await self._notices.publish(Revocation(kind="user", subject=user_id,
                                                   ts_ns=self._clock.now_ns()))

    async def unlock(self, admin: Principal, username: str, ctx: RequestContext) -> UserRecord:
        """Lift a temporary lockout (failed logins) and the throttle's delays (audited)."""
        user = await self.get_user(username)
        updated = await self._lift_lock(user)
        await self._record("user.unlocked", admin.user_id, user.user_id, ctx)
        return updated

    async def _lift_lock(self, user: UserRecord) -> UserRecord:
        await self.accounts.set_lockout(user.user_id, 0, None)
        await self.throttle.clear(user.username)
        return msgspec.structs.replace(user, failed_logins=0, locked_until_ns=None)

    # -- Tokens and helpers ---------------------------------------------------------------------

    async def _issue(self, user: UserRecord, purpose: TokenPurpose, ttl_ns: int) -> str:
        token = random_token(32)
        now = self._clock.now_ns()
        await self.accounts.add_token(OneTimeToken(
            token_hash=token_digest(token), purpose=purpose, user_id=user.user_id,
            created_ns=now, expires_ns=now + ttl_ns))
        return token

    async def _consume(self, token: str, purpose: TokenPurpose) -> OneTimeToken:
        used = None
        if 0 < len(token) <= MAX_TOKEN:
            used = await self.accounts.consume_token(token_digest(token), purpose,
                                                     self._clock.now_ns())
        if used is None:
            raise InvalidInput("token", "the token is unknown, used or expired",
                               code="invalid_account_token")
        return used

    async def _user_by_id(self, user_id: str) -> UserRecord:
        user = await self.store.get_user(user_id)
        if user is None:
            raise NotFound(f"no user {user_id}", code="user_not_found")
        return user

    async def _record(self, action: str, actor: str | None, target: str | None,
                      ctx: RequestContext, *, outcome: str = "success",
                      detail: dict[str, object] | None = None) -> None:
        await self._audit.record(action, actor=actor, target=target, ip=ctx.ip,
                                 user_agent=ctx.user_agent,
                                 outcome="failure" if outcome == "failure" else "success",
                                 detail=detail)


def check_username(username: str) -> None:
    """Refuse a malformed username."""
    if not _USERNAME.fullmatch(username):
        raise InvalidInput("username", "3-32 characters: lower-case letters, digits, "
                           "'_', '.', '-', starting with a letter or digit",
                           code="invalid_username")


def check_password(password: str, *, field: str = "password") -> None:
    """Refuse a password of the wrong length."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(field, f"must be {MIN_PASSWORD}-{MAX_PASSWORD} characters",
                           code="invalid_password")


def normalize_email(email: str) -> str:
    """Return an e-mail address trimmed and lower-cased, or raise InvalidInput."""
    address = email.strip().lower()
    if len(address) > 254 or not _EMAIL.fullmatch(address):
        raise InvalidInput("email", "not an e-mail address", code="invalid_email")
    return address


def token_digest(token: str) -> str:
    """The SHA-256 hex digest under which a one-time token is stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _hours(ns: int) -> str:
    hours = ns // (3600 * NANOS_PER_SECOND)
    if hours >= 1:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{max(1, ns // (60 * NANOS_PER_SECOND))} minutes"
