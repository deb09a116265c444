"""The permission table against the app: every API route has a rule (default deny would
otherwise close it), no rule names a route that does not exist, and the rule checks
themselves (roles, admins, API key scopes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from tradehall.bootstrap import build
from tradehall.config import Settings
from tradehall.entrypoints.api.app import create_app
from tradehall.entrypoints.api.permissions import api_routes
from tradehall.identity import permissions as table
from tradehall.identity.principal import Principal
from tradehall.kernel.errors import Forbidden
from tradehall.kernel.ids import AccountId


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    platform = await build(Settings(data_dir=tmp_path, demo=False, fsync=False))
    try:
        yield create_app(platform)
    finally:
        await platform.db.close()


async def test_every_api_route_has_a_permission_rule(app: FastAPI) -> None:
    routes = set(api_routes(app))
    missing = sorted(routes - set(table.RULES))
    assert not missing, (
        "routes without a permission rule answer 403 not_permitted; add a line per route to "
        "RULES in src/tradehall/identity/permissions.py (PUBLIC, READ, TRADE, WITHDRAW or "
        "roles(...)):\n" + "\n".join(f'    ("{m}", "{p}"): ...,' for m, p in missing))


async def test_every_permission_rule_names_an_existing_route(app: FastAPI) -> None:
    stale = sorted(set(table.RULES) - set(api_routes(app)))
    assert not stale, f"rules for routes that do not exist (remove them): {stale}"


async def test_documentation_routes_are_not_api_routes(app: FastAPI) -> None:
    paths = {p for _, p in api_routes(app)}
    assert not {"/docs", "/openapi.json", "/redoc"} & paths


def _principal(*roles: str, scopes: tuple[str, ...] = ("read", "trade", "withdraw")
               ) -> Principal:
    return Principal("u-1", "someone", AccountId("someone"), roles, method="api_key",
                     scopes=scopes)


@pytest.mark.parametrize(("rule", "principal", "code"), [
    (table.roles("admin", scope="read"), _principal("trader"), "missing_role"),
    (table.roles("compliance", scope="read"), _principal("trader", "dealer"), "missing_role"),
    (table.roles("dealer", scope="trade"), _principal("dealer", scopes=("read",)),
     "missing_scope"),
    (table.TRADE, _principal("trader", scopes=("read",)), "missing_scope"),
    (table.WITHDRAW, _principal("trader", scopes=("read", "trade")), "missing_scope"),
])
def test_check_when_principal_lacks_role_or_scope_raises_forbidden(
        rule: table.Rule, principal: Principal, code: str) -> None:
    with pytest.raises(Forbidden) as caught:
        table.check(rule, principal)
    assert caught.value.code == code


@pytest.mark.parametrize(("rule", "principal"), [
    (table.roles("compliance", scope="read"), _principal("admin")),
    (table.roles("dealer", "compliance", scope="read"), _principal("compliance")),
    (table.READ, _principal("trader", scopes=("read",))),
    (table.WITHDRAW, _principal("trader")),
    (table.PUBLIC, _principal("trader", scopes=())),
])
def test_check_when_principal_qualifies_passes(rule: table.Rule, principal: Principal) -> None:
    table.check(rule, principal)


def test_rule_for_unknown_route_is_none_and_denied_says_not_permitted() -> None:
    assert table.rule_for("GET", "/v1/nowhere") is None
    assert table.denied("GET", "/v1/nowhere").code == "not_permitted"


def test_rule_builders_refuse_unknown_roles_and_scopes() -> None:
    with pytest.raises(ValueError, match="roles"):
        table.roles("superuser", scope="read")
    with pytest.raises(ValueError, match="scope"):
        table.member("everything")
