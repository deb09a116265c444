"""The pure claim checks of external identity tokens: issuer, audience, validity times,
subject, against an explicit time."""

from __future__ import annotations

from typing import Any

import pytest

from tradehall.identity.external import ExternalConfig, check_claims
from tradehall.kernel.clock import NANOS_PER_SECOND
from tradehall.kernel.errors import Unauthorized

CONFIG = ExternalConfig(issuer="https://idp.example", audience="tradehall", leeway_s=30)
NOW_S = 1_800_000_000
NOW_NS = NOW_S * NANOS_PER_SECOND


def _claims(**overrides: Any) -> dict[str, Any]:
    claims = {"iss": CONFIG.issuer, "aud": CONFIG.audience, "sub": "abc", "iat": NOW_S - 10,
              "nbf": NOW_S - 10, "exp": NOW_S + 300}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def test_check_claims_when_valid_returns_subject() -> None:
    assert check_claims(_claims(), CONFIG, NOW_NS) == "abc"


def test_check_claims_accepts_audience_lists_and_leeway() -> None:
    assert check_claims(_claims(aud=["other", "tradehall"]), CONFIG, NOW_NS) == "abc"
    assert check_claims(_claims(exp=NOW_S - 29), CONFIG, NOW_NS) == "abc"
    assert check_claims(_claims(nbf=NOW_S + 29, iat=None), CONFIG, NOW_NS) == "abc"


@pytest.mark.parametrize(("overrides", "code"), [
    ({"iss": "https://evil.example"}, "invalid_token"),
    ({"iss": None}, "invalid_token"),
    ({"aud": "someone-else"}, "invalid_token"),
    ({"aud": ["a", "b"]}, "invalid_token"),
    ({"aud": None}, "invalid_token"),
    ({"exp": None}, "invalid_token"),
    ({"exp": "tomorrow"}, "invalid_token"),
    ({"exp": True}, "invalid_token"),
    ({"exp": NOW_S - 31}, "token_expired"),
    ({"nbf": NOW_S + 31}, "invalid_token"),
    ({"iat": NOW_S + 31}, "invalid_token"),
    ({"sub": None}, "invalid_token"),
    ({"sub": ""}, "invalid_token"),
    ({"sub": 42}, "invalid_token"),
    ({"sub": "x" * 256}, "invalid_token"),
])
def test_check_claims_when_invalid_raises_unauthorized(overrides: dict[str, Any],
                                                       code: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        check_claims(_claims(**overrides), CONFIG, NOW_NS)
    assert caught.value.code == code
