"""An index of the app's routes by the first two path segments, in front of FastAPI's scan.

FastAPI (0.163) matches a request by trying every included router in turn, and each router
every route, at 2-5 µs per route: a request for a router included late paid ~0.5 ms before its
handler ran, a third of the server's CPU per order. The index narrows the scan to the entries
that can match the request's first two segments, keeping their original order, and runs the
same match-then-handle steps FastAPI's router does. Anything it does not find (404, trailing
slash redirects, low-priority routes) and lifespan events go to FastAPI's router unchanged, so
routing decisions stay FastAPI's.

An entry (an included router or a plain route) whose paths all start with two literal segments
is indexed under them; any other entry (a parameter or a mount within the first two segments,
an include prefix) is a candidate for every request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Mount, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

# FastAPI's telemetry hook (the route template of the span); absent in other versions.
_route_selected: Callable[..., None] | None = getattr(fastapi_routing, "_route_selected", None)
_IncludedRouter: type | None = getattr(fastapi_routing, "_IncludedRouter", None)


def install(app: FastAPI) -> None:
    """Route `app`'s requests through the index; call after every router is included.

    Raises
    ------
    RuntimeError
        If the router has middleware of its own, which the index would bypass.
    """
    router = app.router
    if isinstance(router.middleware_stack, RouteIndex):
        return
    if router.middleware_stack != router.app:
        raise RuntimeError("the router has middleware of its own; the index would skip it")
    router.middleware_stack = RouteIndex(router)


def request_key(path: str) -> str:
    """The first two segments of a request path, as the index keys them."""
    return "/".join(path[1:].split("/", 2)[:2])


def route_keys(route: BaseRoute) -> set[str] | None:
    """The index keys of an entry's paths, or None when it may match any request path."""
    if _IncludedRouter is not None and isinstance(route, _IncludedRouter):
        context: Any = route.include_context  # type: ignore[attr-defined]
        if getattr(context, "prefix", ""):
            return None
        return _keys_of(route.original_router.routes)  # type: ignore[attr-defined]
    if isinstance(route, Route | WebSocketRoute) and not isinstance(route, Mount):
        segments = route.path[1:].split("/")
        if "{" in "/".join(segments[:2]):
            return None
        # A one-segment template matches only one-segment paths, which key to themselves.
        return {"/".join(segments[:2])}
    return None


def _keys_of(routes: Iterable[BaseRoute]) -> set[str] | None:
    keys: set[str] = set()
    for route in routes:
        found = route_keys(route)
        if found is None:
            return None
        keys |= found
    return keys


class RouteIndex:
    """The router's innermost ASGI app: the index first, then FastAPI's own `app`.

    The index is rebuilt when the app's list of entries changes, not when an already included
    router gains a route (which `create_app` never does after `install`)."""

    def __init__(self, router: fastapi_routing.APIRouter) -> None:
        self._router = router
        self._built_for: tuple[int, int] | None = None
        self._buckets: dict[str, list[BaseRoute]] = {}
        self._general: list[BaseRoute] = []

    def _build(self) -> None:
        routes = self._router.routes
        keyed = [(route, route_keys(route)) for route in routes]
        every = {key for _, keys in keyed if keys is not None for key in keys}
        self._buckets = {
            key: [route for route, keys in keyed if keys is None or key in keys]
            for key in every
        }
        self._general = [route for route, keys in keyed if keys is None]
        self._built_for = (id(routes), len(routes))

    def select(self, scope: Scope) -> tuple[BaseRoute, Scope] | None:
        """The entry FastAPI's router would pick for `scope` (first full match, else first
        partial one), looked for among the request's candidates only; None if none."""
        routes = self._router.routes
        if self._built_for != (id(routes), len(routes)):
            self._build()
        # The path Starlette's routes match against (root_path removed).
        candidates = self._buckets.get(request_key(get_route_path(scope)), self._general)
        partial: tuple[BaseRoute, Scope] | None = None
        for route in candidates:
            match, child_scope = route.matches(scope)
            if match == Match.FULL:
                return route, child_scope
            if match == Match.PARTIAL and partial is None:
                partial = (route, child_scope)
        return partial

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            if "router" not in scope:
                scope["router"] = self._router
            found = self.select(scope)
            if found is not None:
                await _handle(found[0], found[1], scope, receive, send)
                return
        await self._router.app(scope, receive, send)


async def _handle(route: BaseRoute, child_scope: Scope, scope: Scope, receive: Receive,
                  send: Send) -> None:
    # The same steps as FastAPI's router after a match.
    scope.update(child_scope)
    if _route_selected is not None:
        _route_selected(scope=scope, path=getattr(route, "path_format", None),
                        mount=isinstance(route, Mount))
    await route.handle(scope, receive, send)
