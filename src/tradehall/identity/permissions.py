"""The permission table: who may call each route of the API, default deny.

Every HTTP and WebSocket route is listed by method and path template (as the router declares
it, `{name}` and `{name:path}` included) with a `Rule`: public, any authenticated principal,
or principals holding one of a set of roles; and, for API keys, the scope the route needs
(`read` for reads, `trade` for order and position changes, `withdraw` for withdrawals).
A route that is not in the table is refused (`not_permitted`), so a new route is closed until
someone decides who may call it. Pure: no I/O; the API's `permissions.py` enforces it once per
request after authentication.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from tradehall.identity.principal import ROLES, SCOPES, Principal
from tradehall.kernel.errors import Forbidden

Audience = Literal["public", "authenticated", "roles"]
WEBSOCKET = "WEBSOCKET"
"""The method of WebSocket routes in the table (they authenticate inside their protocol)."""


class Rule(msgspec.Struct, frozen=True):
    """Who may call a route, and the API key scope it needs."""

    audience: Audience
    roles: frozenset[str] = frozenset()
    scope: str | None = None

    @property
    def public(self) -> bool:
        return self.audience == "public"


PUBLIC = Rule("public")


def member(scope: str) -> Rule:
    """Any authenticated principal whose credentials carry the scope."""
    return Rule("authenticated", scope=_checked_scope(scope))


def roles(*names: str, scope: str) -> Rule:
    """Principals with one of the roles (admins have every role)."""
    unknown = set(names) - ROLES
    if unknown or not names:
        raise ValueError(f"unknown roles {sorted(unknown)}")
    return Rule("roles", frozenset(names), _checked_scope(scope))


def _checked_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    return scope


READ = member("read")
TRADE = member("trade")
WITHDRAW = member("withdraw")
ADMIN_WRITE = roles("admin", scope="trade")
DEALER_READ = roles("dealer", scope="read")
DEALER_WRITE = roles("dealer", scope="trade")

RULES: dict[tuple[str, str], Rule] = {
    # -- Public: health, reference and market data, login, streams (auth in their protocol),
    # the web app's files --
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/livez"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("POST", "/v1/auth/login"): PUBLIC,
    ("POST", "/v1/auth/external"): PUBLIC,
    ("POST", "/v1/auth/refresh"): PUBLIC,
    ("GET", "/.well-known/jwks.json"): PUBLIC,
    ("GET", "/.well-known/openid-configuration"): PUBLIC,
    ("GET", "/v1/instruments"): PUBLIC,
    ("GET", "/v1/instruments/{symbol}"): PUBLIC,
    ("GET", "/v1/assets"): PUBLIC,
    ("GET", "/v1/markets/tickers"): PUBLIC,
    ("GET", "/v1/markets/{symbol}/book"): PUBLIC,
    ("GET", "/v1/markets/{symbol}/trades"): PUBLIC,
    ("GET", "/v1/markets/{symbol}/ticker"): PUBLIC,
    ("GET", "/v1/markets/{symbol}/candles"): PUBLIC,
    ("GET", "/udf/config"): PUBLIC,
    ("GET", "/udf/time"): PUBLIC,
    ("GET", "/udf/symbols"): PUBLIC,
    ("GET", "/udf/search"): PUBLIC,
    ("GET", "/udf/history"): PUBLIC,
    (WEBSOCKET, "/v1/ws"): PUBLIC,
    (WEBSOCKET, "/stream"): PUBLIC,
    ("GET", "/"): PUBLIC,
    ("GET", "/app"): PUBLIC,
    ("GET", "/app/{path:path}"): PUBLIC,
    ("POST", "/v1/account/register"): PUBLIC,
    ("POST", "/v1/account/verify-email"): PUBLIC,
    ("POST", "/v1/account/verify-email/resend"): PUBLIC,
    ("POST", "/v1/account/password-reset"): PUBLIC,
    ("POST", "/v1/account/password-reset/confirm"): PUBLIC,
    # -- Any authenticated principal: their own account ----------------------------------------
    ("GET", "/v1/auth/me"): READ,
    ("POST", "/v1/auth/logout"): READ,
    ("POST", "/v1/auth/logout-all"): READ,
    ("GET", "/v1/auth/sessions"): READ,
    ("DELETE", "/v1/auth/sessions/{session_id}"): READ,
    ("GET", "/v1/account/alerts"): READ,
    ("POST", "/v1/account/alerts/read-all"): READ,
    ("POST", "/v1/account/alerts/{alert_id}/read"): READ,
    # Password and 2FA changes also need a session, not an API key (routers/account.py).
    ("POST", "/v1/account/password"): READ,
    ("GET", "/v1/account/2fa"): READ,
    ("POST", "/v1/account/2fa/enroll"): READ,
    ("POST", "/v1/account/2fa/confirm"): READ,
    ("POST", "/v1/account/2fa/disable"): READ,
    ("GET", "/v2/account"): READ,
    ("GET", "/v2/assets"): READ,
    ("GET", "/v2/assets/{symbol_or_asset_id:path}"): READ,
    ("POST", "/v2/orders"): TRADE,
    ("GET", "/v2/orders"): READ,
    ("DELETE", "/v2/orders"): TRADE,
    ("GET", "/v2/orders:by_client_order_id"): READ,
    ("GET", "/v2/orders/{order_id}"): READ,
    ("PATCH", "/v2/orders/{order_id}"): TRADE,
    ("DELETE", "/v2/orders/{order_id}"): TRADE,
    ("GET", "/v2/positions"): READ,
    ("DELETE", "/v2/positions"): TRADE,
    ("GET", "/v2/positions/{symbol:path}"): READ,
    ("DELETE", "/v2/positions/{symbol:path}"): TRADE,
    ("GET", "/v1/balances"): READ,
    ("POST", "/v1/withdrawals"): WITHDRAW,
    ("POST", "/v1/orders"): TRADE,
    ("GET", "/v1/orders"): READ,
    ("DELETE", "/v1/orders"): TRADE,
    ("GET", "/v1/orders/{order_id}"): READ,
    ("DELETE", "/v1/orders/{order_id}"): TRADE,
    ("PATCH", "/v1/orders/{order_id}"): TRADE,
    ("GET", "/v1/positions"): READ,
    ("POST", "/v1/positions/{symbol}/close"): TRADE,
    ("GET", "/v1/fills"): READ,
    # API keys: the routes also require a session login (not an API key) themselves.
    ("GET", "/v1/api-keys"): READ,
    ("POST", "/v1/api-keys"): READ,
    ("DELETE", "/v1/api-keys/{key_id}"): READ,
    # KYC documents: the caller's own; the routes let compliance see anyone's (routers/kyc.py).
    ("POST", "/v1/kyc/documents"): READ,
    ("GET", "/v1/kyc/documents"): READ,
    ("GET", "/v1/kyc/status"): READ,
    ("GET", "/v1/kyc/documents/{document_id}"): READ,
    ("GET", "/v1/kyc/documents/{document_id}/content"): READ,
    # -- Back office: roles --------------------------------------------------------------------
    ("POST", "/v1/kyc/documents/{document_id}/review"): roles("compliance", scope="trade"),
    ("GET", "/v1/audit"): roles("compliance", scope="read"),
    ("GET", "/v1/audit/verify"): roles("compliance", scope="read"),
    ("POST", "/v1/admin/deposits"): ADMIN_WRITE,
    ("POST", "/v1/admin/withdrawals"): ADMIN_WRITE,
    ("GET", "/v1/admin/users"): roles("admin", scope="read"),
    ("GET", "/v1/admin/users/{username}"): roles("admin", scope="read"),
    ("PUT", "/v1/admin/users/{username}/roles"): ADMIN_WRITE,
    ("PUT", "/v1/admin/users/{username}/state"): ADMIN_WRITE,
    ("POST", "/v1/admin/users/{username}/unlock"): ADMIN_WRITE,
    # -- Fallback: the mode banner is public; users file requests to the desk ----------------
    ("GET", "/v1/fallback/status"): PUBLIC,
    ("GET", "/v1/fallback/snapshot"): READ,
    ("GET", "/v1/fallback/requests"): READ,
    ("GET", "/v1/fallback/requests/{request_id}"): READ,
    ("POST", "/v1/fallback/requests"): TRADE,
    ("DELETE", "/v1/fallback/requests/{request_id}"): TRADE,
    # -- Dealing desk: dealers (admins have every role) ----------------------------------------
    ("GET", "/v1/desk/queue"): DEALER_READ,
    ("GET", "/v1/desk/summary"): DEALER_READ,
    ("GET", "/v1/desk/requests/{request_id}"): DEALER_READ,
    ("GET", "/v1/desk/accounts/{account}"): DEALER_READ,
    ("POST", "/v1/desk/requests/{request_id}/claim"): DEALER_WRITE,
    ("POST", "/v1/desk/requests/{request_id}/release"): DEALER_WRITE,
    ("POST", "/v1/desk/requests/{request_id}/execute"): DEALER_WRITE,
    ("POST", "/v1/desk/requests/{request_id}/approve"): DEALER_WRITE,
    ("POST", "/v1/desk/requests/{request_id}/reject"): DEALER_WRITE,
    ("POST", "/v1/desk/bulk"): DEALER_WRITE,
    ("GET", "/v1/desk/mode"): DEALER_READ,
    ("PUT", "/v1/desk/mode"): DEALER_WRITE,
}


def rule_for(method: str, path: str) -> Rule | None:
    """The rule of a route, or None when the route is not in the table (deny)."""
    return RULES.get((method, path))


def check(rule: Rule, principal: Principal) -> None:
    """Raise Forbidden unless the principal may call a route with this rule."""
    if rule.audience == "roles" and not any(principal.has_role(r) for r in rule.roles):
        names = " or ".join(sorted(rule.roles))
        raise Forbidden(f"this needs the {names} role", code="missing_role")
    if rule.scope is not None and not principal.has_scope(rule.scope):
        raise Forbidden(f"these credentials lack the {rule.scope} scope", code="missing_scope")


def denied(method: str, path: str) -> Forbidden:
    """The error of a route missing from the table."""
    return Forbidden(f"{method} {path} has no permission rule", code="not_permitted")
