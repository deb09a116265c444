"""`Principal`: who is calling, after the gateway has checked whatever they presented.

Every entry point turns credentials (a session's access token, an API key pair, a signed
request, an external identity provider's token) into one `Principal`; handlers only ever see
this. Roles say what kind of user it is; scopes narrow what an API key may do.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from tradehall.kernel.errors import Forbidden
from tradehall.kernel.ids import AccountId

ROLES = frozenset({"trader", "provider", "delegate", "dealer", "compliance", "admin"})
SCOPES = ("read", "trade", "withdraw")
"""What an API key may do; sessions (password or external login) carry every scope."""

AuthMethod = Literal["token", "api_key", "signed", "external"]


class Principal(msgspec.Struct, frozen=True):
    """Who is calling: the user, the engine account they trade, their roles and scopes."""

    user_id: str
    username: str
    account: AccountId
    roles: tuple[str, ...]
    method: AuthMethod = "token"
    scopes: tuple[str, ...] = SCOPES
    session_id: str | None = None
    """The session an access token belongs to (None for API keys)."""
    key_id: str | None = None
    """The API key used (None for sessions)."""

    def has_role(self, role: str) -> bool:
        return role in self.roles or "admin" in self.roles

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def require_role(principal: Principal, role: str) -> None:
    """Raise Forbidden unless the principal has the role (admins have every role)."""
    if not principal.has_role(role):
        raise Forbidden(f"this needs the {role} role", code="missing_role")


def require_scope(principal: Principal, scope: str) -> None:
    """Raise Forbidden unless the credentials carry the scope."""
    if not principal.has_scope(scope):
        raise Forbidden(f"this API key lacks the {scope} scope", code="missing_scope")
