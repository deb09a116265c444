"""`UserService`: registration, login checks, passwords and account states.

The login route asks `verify_login` whether a username and password (and a 2FA code when the
user has enrolled) identify an active user; opening the session is `sessions.py`'s job.
Hashing runs in a worker thread so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tradehall.compliance.audit import AuditLog
from tradehall.identity.context import RequestContext
from tradehall.identity.ports import UserRecord, UserStore
from tradehall.identity.principal import ROLES
from tradehall.kernel.clock import Clock
from tradehall.kernel.errors import InvalidInput, Unauthorized
from tradehall.kernel.ids import AccountId, random_uuid

_USERNAME = re.compile(r"[a-z0-9][a-z0-9_.-]{2,31}")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


class UserService:
    """Users: create, check a login, change what a user is."""

    def __init__(self, store: UserStore, clock: Clock, audit: AuditLog) -> None:
        self.store = store
        self._clock = clock
        self._audit = audit
        self._hasher = PasswordHasher()

    async def create_user(self, username: str, password: str,
                          roles: tuple[str, ...] = ("trader",)) -> UserRecord:
        """Create an active user whose engine account is named after the username."""
        if not _USERNAME.fullmatch(username):
            raise InvalidInput("username", "3-32 characters: lower-case letters, digits, "
                               "'_', '.', '-', starting with a letter or digit",
                               code="invalid_username")
        check_password(password)
        unknown = set(roles) - ROLES
        if unknown or not roles:
            raise InvalidInput("roles", f"unknown roles {sorted(unknown)}", code="invalid_role")
        hashed = await asyncio.to_thread(self._hasher.hash, password)
        user = UserRecord(user_id=random_uuid(), username=username, password_hash=hashed,
                          account=AccountId(username), roles=list(roles),
                          created_ns=self._clock.now_ns())
        await self.store.add_user(user)
        return user

    async def verify_login(self, username: str, password: str, totp_code: str | None,
                           ctx: RequestContext) -> UserRecord:
        """Return the user these credentials identify, or raise Unauthorized.

        The identity issue adds throttling, account states and the 2FA check here.
        """
        user = await self.store.get_user_by_username(username)
        if user is None or len(password) > MAX_PASSWORD:
            # Hash anyway so a wrong username costs the same time as a wrong password.
            await asyncio.to_thread(self._hasher.hash, password[:MAX_PASSWORD])
            await self._audit.record("auth.login_failed", actor=None, target=None, ip=ctx.ip,
                                     user_agent=ctx.user_agent, outcome="failure",
                                     detail={"reason": "invalid_credentials"})
            raise Unauthorized("wrong username or password", code="invalid_credentials")
        try:
            await asyncio.to_thread(self._hasher.verify, user.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            await self._audit.record("auth.login_failed", actor=user.user_id,
                                     target=user.user_id, ip=ctx.ip,
                                     user_agent=ctx.user_agent, outcome="failure",
                                     detail={"reason": "invalid_credentials"})
            raise Unauthorized("wrong username or password",
                               code="invalid_credentials") from None
        return user


def check_password(password: str) -> None:
    """Refuse a password of the wrong length."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput("password", f"must be {MIN_PASSWORD}-{MAX_PASSWORD} characters",
                           code="invalid_password")
