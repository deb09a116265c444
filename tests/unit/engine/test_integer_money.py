"""The integer money helpers equal the exact rational results, large and negative values
included (the compiled engine takes a different path for those)."""

from __future__ import annotations

from fractions import Fraction
from math import ceil, floor

from hypothesis import given
from hypothesis import strategies as st

from tests.kit.factories import make_instrument
from tradehall.trading.instrument import PPM, Instrument, ceil_div, fee_ceil, fee_floor

BIG = 2**80


@given(st.integers(-BIG, BIG), st.integers(1, BIG))
def test_ceil_div_rounds_up(numerator: int, denominator: int) -> None:
    assert ceil_div(numerator, denominator) == ceil(Fraction(numerator, denominator))


@given(st.integers(0, BIG), st.integers(0, PPM))
def test_fees_round_as_documented(notional: int, ppm: int) -> None:
    exact = Fraction(notional * ppm, PPM)
    assert fee_ceil(notional, ppm) == ceil(exact)
    assert fee_floor(notional, ppm) == floor(exact)


@given(st.sampled_from([("0.01", "1", 2), ("0.01", "0.0001", 2), ("0.5", "0.001", 6),
                        ("0.0001", "1000", 8)]),
       st.integers(1, 2**62), st.integers(1, 2**62))
def test_notionals_round_the_exact_value(grid: tuple[str, str, int], ticks: int,
                                         lots: int) -> None:
    tick, lot, quote_scale = grid
    inst = Instrument(make_instrument(tick_size=tick, lot_size=lot), 8, quote_scale)
    exact = Fraction(tick) * ticks * Fraction(lot) * lots * 10**quote_scale
    assert inst.notional_floor(ticks, lots) == floor(exact)
    assert inst.notional_ceil(ticks, lots) == ceil(exact)


@given(st.sampled_from([("0.01", "1", 2), ("0.01", "0.0001", 2), ("0.5", "0.001", 6)]),
       st.integers(-(2**80), 2**80))
def test_quote_floor_rounds_a_signed_amount_down(grid: tuple[str, str, int],
                                                 tick_lots: int) -> None:
    tick, lot, quote_scale = grid
    inst = Instrument(make_instrument(tick_size=tick, lot_size=lot), 8, quote_scale)
    exact = Fraction(tick) * Fraction(lot) * tick_lots * 10**quote_scale
    assert inst.quote_floor(tick_lots) == floor(exact)
