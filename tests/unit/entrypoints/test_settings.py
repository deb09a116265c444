"""Settings refused when incomplete or ambiguous: the external identity provider, the shared
database of the scale-out roles."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import ValidationError

from tradehall.config import Settings

GOOD: dict[str, Any] = {"oidc_issuer": "https://idp.example", "oidc_audience": "tradehall",
        "oidc_discovery_url": "https://idp.example/.well-known/openid-configuration"}


def test_settings_when_oidc_complete_are_accepted(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, **GOOD)
    assert settings.oidc_issuer == "https://idp.example"
    assert settings.oidc_auto_provision is False


@pytest.mark.parametrize(("overrides", "message"), [
    ({"oidc_audience": None}, "AUDIENCE"),
    ({"oidc_discovery_url": None}, "DISCOVERY_URL"),
    ({"oidc_issuer": "tradehall"}, "must differ"),
    ({"environment": "production",
      "oidc_discovery_url": "http://idp.example/.well-known/openid-configuration"}, "https"),
])
def test_settings_when_oidc_incomplete_or_ambiguous_are_refused(
        tmp_path: Path, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(data_dir=tmp_path, **{**GOOD, **overrides})


@pytest.mark.parametrize("role", ["api", "ws-gateway", "projector"])
def test_settings_when_a_scale_out_role_has_no_shared_database_are_refused(
        tmp_path: Path, role: Literal["api", "ws-gateway", "projector"]) -> None:
    with pytest.raises(ValidationError, match="needs TRADEHALL_DATABASE_URL"):
        Settings(data_dir=tmp_path, role=role)


def test_settings_when_the_engine_role_has_no_database_are_accepted(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, role="engine").scale_out()
