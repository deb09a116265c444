"""Store port of accounts: one-time tokens and the user changes `UserService` makes.

One-time tokens (e-mail verification, password reset) are random; the store keeps only their
SHA-256 digest, and `consume_token` marks a token used in the same statement that checks it
is unused and unexpired, so two requests with one token cannot both succeed.
"""

from __future__ import annotations

from typing import Literal, Protocol

import msgspec

from tradehall.identity.ports import UserRecord, UserState

TokenPurpose = Literal["verify_email", "password_reset"]


class OneTimeToken(msgspec.Struct, frozen=True, kw_only=True):
    """A single-use, expiring token (its digest only)."""

    token_hash: str  # sha256 hex
    purpose: TokenPurpose
    user_id: str
    created_ns: int
    expires_ns: int
    used_ns: int | None = None


class AccountStore(Protocol):
    """Tokens and user updates."""

    async def add_token(self, token: OneTimeToken) -> None: ...

    async def consume_token(self, token_hash: str, purpose: TokenPurpose,
                            now_ns: int) -> OneTimeToken | None:
        """Mark an unused, unexpired token used and return it; None when there is none."""
        ...

    async def revoke_tokens(self, user_id: str, purpose: TokenPurpose, now_ns: int) -> int:
        """Mark every unused token of a user and purpose used; return how many."""
        ...

    async def get_user_by_email(self, email: str) -> UserRecord | None: ...

    async def set_state(self, user_id: str, state: UserState, *,
                        email_verified: bool | None = None) -> UserRecord | None:
        """Change a user's state (and optionally the e-mail flag); None when unknown."""
        ...

    async def set_roles(self, user_id: str, roles: list[str]) -> UserRecord | None: ...

    async def set_password(self, user_id: str, password_hash: str,
                           changed_ns: int) -> UserRecord | None: ...

    async def set_lockout(self, user_id: str, failed_logins: int,
                          locked_until_ns: int | None) -> None:
        """Record a user's failed-login count and temporary lock."""
        ...

    async def set_mfa_enabled(self, user_id: str, enabled: bool) -> None: ...
