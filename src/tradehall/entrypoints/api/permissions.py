"""The app-level permission check: every route's rule from `identity/permissions.py`, enforced.

`install(app)` adds one dependency to the app's router, so it runs first on every HTTP and
WebSocket route (before the route's own parameters and body): it finds the route's rule (a
dict lookup by the matched route object, filled once per route from the table), refuses a
route missing from the table (403 `not_permitted`, default deny), lets public routes through,
and otherwise authenticates through the gateway (401) and checks roles and API key scopes
(403 `missing_role`, `missing_scope`). Mounted static files and the documentation routes
(`/docs`, `/openapi.json`) are not API routes and stay public.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends, FastAPI, WebSocketException
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute
from starlette.status import WS_1008_POLICY_VIOLATION

from tradehall.entrypoints.api.deps import principal_of
from tradehall.identity import permissions as table
from tradehall.identity.permissions import WEBSOCKET, Rule

_MISSING = Rule("roles")  # cache marker of a route with no rule


class RuleCache:
    """Rules by matched route object and method, looked up in the table on first sight."""

    def __init__(self) -> None:
        # Keyed by identity (routes compare by value and are unhashable); the route is kept
        # in the value so its id cannot be reused while cached.
        self._rules: dict[tuple[int, str], tuple[object, Rule]] = {}

    def rule(self, route: object, method: str) -> Rule | None:
        key = (id(route), method)
        found = self._rules.get(key)
        if found is None:
            path = getattr(route, "path", None)
            looked = table.rule_for(method, path) if isinstance(path, str) else None
            found = self._rules[key] = (route, looked or _MISSING)
        rule = found[1]
        return None if rule is _MISSING else rule


async def enforce_permissions(conn: HTTPConnection) -> None:
    """Authenticate and authorize a request by its route's rule (default deny)."""
    scope = conn.scope
    websocket = scope["type"] == "websocket"
    method = WEBSOCKET if websocket else scope["method"]
    route = scope.get("route")
    cache: RuleCache = conn.app.state.permission_rules
    rule = cache.rule(route, method)
    if rule is not None and rule.public:
        return
    if websocket:
        # Every WebSocket route is public and authenticates inside its protocol.
        raise WebSocketException(WS_1008_POLICY_VIOLATION, "not permitted")
    if rule is None:
        raise table.denied(method, str(getattr(route, "path", scope["path"])))
    principal = await principal_of(conn, conn.app.state.platform)
    table.check(rule, principal)


def install(app: FastAPI) -> None:
    """Enforce the permission table on every route of the app (call before the routers)."""
    app.state.permission_rules = RuleCache()
    app.router.dependencies.insert(0, Depends(enforce_permissions))


def api_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """Every (method, path template) the app routes to a FastAPI endpoint."""
    for route in app.routes:
        yield from _routes_of(route)


def _routes_of(route: BaseRoute) -> Iterator[tuple[str, str]]:
    if isinstance(route, APIRoute):
        yield from ((m, route.path) for m in sorted(route.methods or ()))
    elif isinstance(route, APIWebSocketRoute):
        yield WEBSOCKET, route.path
    else:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is None:
            return  # documentation routes, static mounts: not API routes
        for context in contexts():
            yield from _routes_of(context.original_route)
