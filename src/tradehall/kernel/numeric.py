"""Exact numbers: decimal strings at the edge, integer units inside.

Prices are integer ticks, quantities integer lots, money integer minor units of an asset.
Conversion happens only here, and refuses anything that is not exactly representable: NaN,
infinities, exponent notation, too many decimals, values off the tick/lot grid, zero or
negative amounts where a positive one is needed, and values beyond `MAX_UNITS`. Floats are
refused outright: they cannot carry money exactly. No I/O.
"""

from __future__ import annotations

import re
from decimal import Context, Decimal, InvalidOperation

from tradehall.kernel.errors import InvalidInput

# 2**62 keeps every amount, and the sum of two, inside a signed 64-bit column or msgpack int.
MAX_UNITS = 2**62
MAX_DIGITS = 30
# Wide enough that no conversion of an in-range value ever rounds.
_EXACT = Context(prec=80, traps=[InvalidOperation])
_DECIMAL_TEXT = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")


def parse_decimal(value: object, field: str) -> Decimal:
    """Parse a decimal string (or an int) exactly, refusing floats, NaN and exponents."""
    if isinstance(value, bool):
        raise InvalidInput(field, "must be a decimal string, not a boolean", code="not_a_number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    elif isinstance(value, float):
        raise InvalidInput(
            field, "must be a decimal string such as \"101.25\", not a float", code="not_a_number"
        )
    else:
        raise InvalidInput(field, f"must be a decimal string, got {type(value).__name__}",
                           code="not_a_number")
    if not _DECIMAL_TEXT.fullmatch(text):
        raise InvalidInput(field, f"{text!r} is not a plain decimal number", code="not_a_number")
    if sum(ch.isdigit() for ch in text) > MAX_DIGITS:
        raise InvalidInput(field, f"more than {MAX_DIGITS} digits", code="out_of_range")
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise InvalidInput(field, f"{text!r} is not a number", code="not_a_number") from exc


def step_for_scale(scale: int) -> Decimal:
    """Return the smallest unit of an asset with `scale` decimals (scale 2 -> 0.01)."""
    return Decimal(1).scaleb(-scale)


def to_units(value: Decimal, step: Decimal, field: str, *, allow_zero: bool = False) -> int:
    """Convert a decimal to a whole number of `step`s, refusing anything inexact."""
    if not value.is_finite():
        raise InvalidInput(field, "must be a finite number", code="not_a_number")
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidInput(field, f"must be positive, got {value}", code="not_positive")
    units, remainder = _EXACT.divmod(value, step)
    if remainder != 0:
        exponent = value.normalize().as_tuple().exponent
        step_exponent = step.normalize().as_tuple().exponent
        if isinstance(exponent, int) and isinstance(step_exponent, int) and (
            exponent < step_exponent
        ):
            raise InvalidInput(
                field, f"{value} has more decimals than the step {step} allows",
                code="too_many_decimals",
            )
        raise InvalidInput(field, f"{value} is not a multiple of {step}", code="off_grid")
    result = int(units)
    if result > MAX_UNITS:
        raise InvalidInput(field, f"{value} is out of range", code="out_of_range")
    return result


def from_units(units: int, step: Decimal) -> Decimal:
    """Convert a whole number of `step`s back to a decimal with the step's exponent."""
    return _EXACT.multiply(Decimal(units), step)


def format_units(units: int, step: Decimal) -> str:
    """Render units as a plain decimal string without exponent ("100.25", "0.0001")."""
    return f"{from_units(units, step):f}"


def parse_units(value: object, step: Decimal, field: str, *, allow_zero: bool = False) -> int:
    """Parse a decimal string straight into units of `step` (edge helper)."""
    return to_units(parse_decimal(value, field), step, field, allow_zero=allow_zero)
