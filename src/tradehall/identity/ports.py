"""Records and store ports of identity: users and API keys (other parts keep their own ports
beside their service: sessions in `sessions.py`, 2FA in `mfa.py`, ...).

Stores hold hashes only, never a password, secret or token.
"""

from __future__ import annotations

from typing import Literal, Protocol

import msgspec

from tradehall.kernel.ids import AccountId

UserState = Literal["pending", "active", "locked", "closed"]


class UserRecord(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str  # UUID
    username: str
    password_hash: str  # argon2id
    account: AccountId
    roles: list[str]
    created_ns: int
    email: str | None = None
    email_verified: bool = False
    state: UserState = "active"
    failed_logins: int = 0
    locked_until_ns: int | None = None
    mfa_enabled: bool = False
    password_changed_ns: int | None = None


class ApiKeyRecord(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    secret_hash: str  # sha256 hex of the secret: secrets are random, 160+ bits
    user_id: str
    label: str
    created_ns: int
    revoked: bool = False
    scopes: list[str] = msgspec.field(default_factory=lambda: ["read", "trade"])
    ip_allow: list[str] = msgspec.field(default_factory=list)
    """CIDR blocks the key may be used from; empty means anywhere."""
    last_used_ns: int | None = None


class UserStore(Protocol):
    """Users."""

    async def add_user(self, user: UserRecord) -> None:
        """Store a new user; raise Conflict when the username is taken."""
        ...

    async def get_user(self, user_id: str) -> UserRecord | None: ...

    async def get_user_by_username(self, username: str) -> UserRecord | None: ...

    async def list_users(self) -> list[UserRecord]: ...


class ApiKeyStore(Protocol):
    """API keys."""

    async def add_api_key(self, key: ApiKeyRecord) -> None: ...

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None: ...

    async def list_api_keys(self, user_id: str) -> list[ApiKeyRecord]: ...

    async def revoke_api_key(self, key_id: str) -> bool: ...


class IdentityStore(UserStore, ApiKeyStore, Protocol):
    """Users and their API keys (one SQL store implements both)."""
