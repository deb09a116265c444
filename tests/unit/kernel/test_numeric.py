"""Unit tests of `kernel/numeric.py`: exact round trips and every refusal."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradehall.kernel.errors import InvalidInput
from tradehall.kernel.numeric import (
    MAX_DIGITS,
    MAX_UNITS,
    format_units,
    from_units,
    parse_decimal,
    parse_units,
    step_for_scale,
    to_units,
)

steps = st.sampled_from(
    [step_for_scale(scale) for scale in range(19)]
    + [Decimal(s) for s in ("0.5", "0.25", "0.05", "5", "25", "0.0001", "1E+2")])
units = st.integers(min_value=1, max_value=MAX_UNITS)


def _code(exc: pytest.ExceptionInfo[InvalidInput]) -> str:
    return exc.value.code


@given(units, steps)
def test_to_units_when_given_from_units_output_returns_the_same_units(n: int,
                                                                      step: Decimal) -> None:
    assert to_units(from_units(n, step), step, "price") == n


@given(units, steps)
def test_parse_units_when_given_formatted_units_returns_the_same_units(n: int,
                                                                       step: Decimal) -> None:
    text = format_units(n, step)
    assert "E" not in text.upper()
    assert parse_units(text, step, "price") == n


@given(units, steps)
def test_from_units_when_given_to_units_output_returns_an_equal_decimal(n: int,
                                                                         step: Decimal) -> None:
    value = n * step
    assert from_units(to_units(value, step, "qty"), step) == value


def test_to_units_when_zero_is_allowed_returns_zero() -> None:
    assert to_units(Decimal(0), Decimal("0.01"), "fee", allow_zero=True) == 0


@pytest.mark.parametrize(("value", "step", "code"), [
    (Decimal("NaN"), Decimal("0.01"), "not_a_number"),
    (Decimal("sNaN"), Decimal("0.01"), "not_a_number"),
    (Decimal("Infinity"), Decimal("0.01"), "not_a_number"),
    (Decimal("-Infinity"), Decimal("0.01"), "not_a_number"),
    (Decimal("1.001"), Decimal("0.01"), "too_many_decimals"),
    (Decimal("0.000000001"), step_for_scale(8), "too_many_decimals"),
    (Decimal("0.03"), Decimal("0.05"), "off_grid"),
    (Decimal("7"), Decimal("5"), "off_grid"),
    (Decimal("0"), Decimal("0.01"), "not_positive"),
    (Decimal("-0.01"), Decimal("0.01"), "not_positive"),
    (Decimal(MAX_UNITS + 1), Decimal(1), "out_of_range"),
    (Decimal(MAX_UNITS) / 100 + Decimal("0.01"), Decimal("0.01"), "out_of_range"),
])
def test_to_units_when_value_is_not_exact_on_the_grid_raises_with_code(
        value: Decimal, step: Decimal, code: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        to_units(value, step, "price")
    assert _code(exc) == code
    assert exc.value.field == "price"


@given(units, steps, st.integers(min_value=1, max_value=9))
def test_to_units_when_value_falls_between_steps_raises(n: int, step: Decimal,
                                                        tenth: int) -> None:
    value = (n + Decimal(tenth) / 10) * step
    with pytest.raises(InvalidInput) as exc:
        to_units(value, step, "qty")
    assert _code(exc) in ("off_grid", "too_many_decimals", "out_of_range")


@pytest.mark.parametrize(("value", "code"), [
    ("NaN", "not_a_number"),
    ("nan", "not_a_number"),
    ("inf", "not_a_number"),
    ("Infinity", "not_a_number"),
    ("1e5", "not_a_number"),
    ("1E-2", "not_a_number"),
    ("0x10", "not_a_number"),
    ("1_000", "not_a_number"),
    ("", "not_a_number"),
    ("12.5.1", "not_a_number"),
    ("+1", "not_a_number"),
    ("1" * (MAX_DIGITS + 1), "out_of_range"),
    ("0." + "0" * MAX_DIGITS + "1", "out_of_range"),
    (1.5, "not_a_number"),
    (float("nan"), "not_a_number"),
    (float("inf"), "not_a_number"),
    (True, "not_a_number"),
    (None, "not_a_number"),
    (Decimal("1E+5"), "not_a_number"),
])
def test_parse_decimal_when_value_is_not_a_plain_decimal_raises_with_code(
        value: object, code: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_decimal(value, "amount")
    assert _code(exc) == code


@pytest.mark.parametrize(("value", "expected"), [
    ("101.25", Decimal("101.25")),
    (" 7 ", Decimal(7)),
    (".5", Decimal("0.5")),
    ("5.", Decimal(5)),
    ("-3.10", Decimal("-3.10")),
    (42, Decimal(42)),
    (Decimal("0.001"), Decimal("0.001")),
])
def test_parse_decimal_when_value_is_a_plain_decimal_returns_it_exactly(
        value: object, expected: Decimal) -> None:
    assert parse_decimal(value, "amount") == expected


def test_parse_units_when_value_is_a_float_refuses_it() -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_units(0.1, Decimal("0.1"), "qty")
    assert _code(exc) == "not_a_number"


def test_format_units_when_step_is_fine_renders_without_exponent() -> None:
    assert format_units(1, step_for_scale(18)) == "0.000000000000000001"
    assert format_units(12_345, Decimal("0.01")) == "123.45"
    assert format_units(3, Decimal("1E+2")) == "300"
