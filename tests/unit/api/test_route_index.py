"""The route index picks exactly the entry FastAPI's own scan picks, for every path shape."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.routing import BaseRoute, Match

from tradehall.entrypoints.api import route_index
from tradehall.entrypoints.api.app import create_app
from tradehall.entrypoints.api.route_index import RouteIndex, request_key

if TYPE_CHECKING:
    from starlette.types import Scope

    from tradehall.bootstrap import Platform

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@pytest.fixture(scope="module")
def app() -> FastAPI:
    # Routing needs no platform (the OpenAPI script builds the app the same way).
    return create_app(cast("Platform", None))


def _index(app: FastAPI) -> RouteIndex:
    index = app.router.middleware_stack
    assert isinstance(index, RouteIndex)
    return index


def _scope(kind: str, method: str, path: str) -> Scope:
    scope: dict[str, Any] = {"type": kind, "path": path, "root_path": "", "headers": [],
                             "query_string": b""}
    if kind == "http":
        scope["method"] = method
    return scope


def _fastapi_pick(app: FastAPI, scope: Scope) -> BaseRoute | None:
    # FastAPI's router loop: the first full match in route order, else the first partial one.
    partial = None
    for route in app.router.routes:
        match, _ = route.matches(dict(scope))
        if match == Match.FULL:
            return route
        if match == Match.PARTIAL and partial is None:
            partial = route
    return partial


def _leaf_paths(app: FastAPI) -> list[str]:
    paths: list[str] = []
    for route in app.router.routes:
        inner = getattr(getattr(route, "original_router", None), "routes", [route])
        paths.extend(getattr(leaf, "path", "/") for leaf in inner)
    return paths


def _concrete(template: str) -> list[str]:
    one = re.sub(r"\{[^}:]+(:[^}]+)?\}", "abc", template)
    deep = re.sub(r"\{[^}:]+:path\}", "a/b/c", template)
    return sorted({one, deep, one + "/", one.rstrip("/") or "/", one + "/extra"})


def _same_pick(app: FastAPI, scope: Scope) -> None:
    found = _index(app).select(dict(scope))
    wanted = _fastapi_pick(app, scope)
    assert (found[0] if found else None) is wanted, scope


def test_the_app_routes_through_the_index(app: FastAPI) -> None:
    index = _index(app)
    index.select(_scope("http", "GET", "/healthz"))
    # Most requests scan a handful of entries, not all of them.
    assert len(index._buckets["v1/orders"]) < len(app.router.routes) / 2


def test_every_route_of_the_app_is_picked_as_fastapi_picks_it(app: FastAPI) -> None:
    paths = _leaf_paths(app)
    assert len(paths) > 50
    for template in paths:
        for path in _concrete(template):
            for method in METHODS:
                _same_pick(app, _scope("http", method, path))
            _same_pick(app, _scope("websocket", "", path))


segment = st.sampled_from(["v1", "v2", "orders", "orders:by_client_order_id", "positions",
                           "app", "udf", "ws", "healthz", "", "x", "assets", "BTC-USD",
                           "account", "desk", "stream", "docs", ".well-known", "jwks.json"])


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(segment, max_size=4), method=st.sampled_from(METHODS),
       kind=st.sampled_from(["http", "websocket"]))
def test_random_paths_are_picked_as_fastapi_picks_them(app: FastAPI, parts: list[str],
                                                       method: str, kind: str) -> None:
    _same_pick(app, _scope(kind, method, "/" + "/".join(parts)))


def test_request_keys() -> None:
    assert request_key("/") == ""
    assert request_key("/healthz") == "healthz"
    assert request_key("/v1/orders") == "v1/orders"
    assert request_key("/v1/orders/abc/def") == "v1/orders"
    assert request_key("/v2/orders:by_client_order_id") == "v2/orders:by_client_order_id"


def test_routes_added_later_are_indexed() -> None:
    late = create_app(cast("Platform", None))
    index = _index(late)
    assert index.select(_scope("http", "GET", "/late/route")) is None

    @late.get("/late/route")
    async def late_route() -> dict[str, str]:
        return {}

    found = index.select(_scope("http", "GET", "/late/route"))
    assert found is not None
    route_index.install(late)  # installing twice is harmless
