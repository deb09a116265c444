"""Instruments in the engine's working form: every decimal <-> integer conversion of one symbol.

`Instrument` is built from an `InstrumentSpec` and the scales of its two assets, and owns the
conversions between the edge's decimals and the engine's integers (ticks, lots, minor units),
notional and fee arithmetic. A plain class (no msgspec) so the engine core can be compiled with
mypyc. Pure: no I/O, no clock.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Final

from tradehall.kernel.errors import InvalidInput
from tradehall.kernel.numeric import format_units, parse_units, step_for_scale, to_units
from tradehall.trading.model import (
    InstrumentKind,
    InstrumentSpec,
    liquidation_fee_rate,
    maintenance_margin_rate,
)

# Final: compiled code inlines the value instead of a module-dict lookup per use.
PPM: Final = 1_000_000
_PPM_STEP: Final = Decimal("0.000001")
MAX_FEE_PPM: Final = 100_000  # 10%


def _rate_ppm(value: Decimal, field: str, *, allow_zero: bool = True) -> int:
    return to_units(value, _PPM_STEP, field, allow_zero=allow_zero)


class Instrument:
    """An instrument with its integer conversions precomputed.

    Notional (quote minor units) of `p` ticks times `q` lots is `p * q * num / den`, where
    `num / den = tick_size * lot_size * 10**quote_scale`. Amounts charged round down and holds
    round up, so a hold always covers what its fills consume.
    """

    __slots__ = (
        "band_ppm",
        "base",
        "base_per_lot",
        "collar_ppm",
        "is_margin",
        "kind",
        "liquidation_fee_ppm",
        "lot_size",
        "maint_ppm",
        "maker_ppm",
        "margin_ppm",
        "max_lots",
        "min_lots",
        "notional_den",
        "notional_num",
        "quote",
        "quote_step",
        "spec",
        "status",
        "symbol",
        "taker_ppm",
        "tick_size",
    )

    def __init__(self, spec: InstrumentSpec, base_scale: int, quote_scale: int) -> None:
        self.spec = spec
        self.symbol = spec.symbol
        self.kind = spec.kind
        self.is_margin: bool = spec.kind == InstrumentKind.MARGIN  # read per order and per fill
        self.status = spec.status
        self.base = spec.base
        self.quote = spec.quote
        self.tick_size = _positive_step(spec.tick_size, "tick_size")
        self.lot_size = _positive_step(spec.lot_size, "lot_size")
        base_units = Fraction(self.lot_size) * 10**base_scale
        if base_units.denominator != 1:
            raise InvalidInput("lot_size", f"{spec.lot_size} is finer than {spec.base}'s "
                               f"{base_scale} decimals", code="too_many_decimals")
        self.base_per_lot = int(base_units)
        factor = Fraction(self.tick_size) * Fraction(self.lot_size) * 10**quote_scale
        self.notional_num: int = factor.numerator
        self.notional_den: int = factor.denominator
        self.quote_step = step_for_scale(quote_scale)
        self.min_lots = 1 if spec.min_qty is None else self.qty_to_lots(spec.min_qty, "min_qty")
        self.max_lots = 0 if spec.max_qty is None else self.qty_to_lots(spec.max_qty, "max_qty")
        if self.max_lots and self.max_lots < self.min_lots:
            raise InvalidInput("max_qty", "is below min_qty", code="out_of_range")
        self.band_ppm = 0 if spec.price_band is None else _rate_ppm(spec.price_band, "price_band",
                                                                    allow_zero=False)
        self.maker_ppm = _rate_ppm(spec.maker_fee, "maker_fee")
        self.taker_ppm = _rate_ppm(spec.taker_fee, "taker_fee")
        for name, ppm in (("maker_fee", self.maker_ppm), ("taker_fee", self.taker_ppm)):
            if ppm > MAX_FEE_PPM:
                raise InvalidInput(name, "must be at most 0.1", code="out_of_range")
        self.collar_ppm = _rate_ppm(spec.stop_collar, "stop_collar")
        # maint_ppm 0: positions are never liquidated (a loss beyond margin stays with the venue)
        self.margin_ppm, self.maint_ppm = _margin_rates(spec)
        # Charged to a liquidated account instead of the taker fee; paid into @insurance.
        self.liquidation_fee_ppm = _liquidation_fee_ppm(spec, self.maint_ppm)

    # -- Edge conversions ------------------------------------------------------------------

    def price_to_ticks(self, price: object, field: str = "price") -> int:
        """Convert a decimal price to ticks, refusing off-grid values."""
        return parse_units(price, self.tick_size, field)

    def qty_to_lots(self, qty: object, field: str = "qty") -> int:
        """Convert a decimal quantity to lots, refusing off-grid values."""
        return parse_units(qty, self.lot_size, field)

    def format_price(self, ticks: int) -> str:
        """Render ticks as a decimal string."""
        return format_units(ticks, self.tick_size)

    def format_qty(self, lots: int) -> str:
        """Render lots as a decimal string."""
        return format_units(lots, self.lot_size)

    def format_quote(self, units: int) -> str:
        """Render quote-asset minor units as a decimal string."""
        return format_units(units, self.quote_step)

    # -- Integer money -----------------------------------------------------------------------

    # Compiled, a product stays in machine integers only while both factors are below 2**30
    # and not negative; otherwise it goes through Python's generic arithmetic, several times
    # slower. Hence no factor of 1 and no negated operands here (ticks and lots are > 0).

    def notional_floor(self, ticks: int, lots: int) -> int:
        """Quote minor units paid for `lots` at `ticks`, rounded down."""
        units = ticks * lots
        if self.notional_num != 1:
            units *= self.notional_num
        return units // self.notional_den

    def quote_floor(self, tick_lots: int) -> int:
        """Quote minor units of a signed amount in tick-lots (a P&L), rounded toward minus
        infinity."""
        if tick_lots >= 0:
            units = tick_lots if self.notional_num == 1 else tick_lots * self.notional_num
            return units // self.notional_den
        units = -tick_lots if self.notional_num == 1 else -tick_lots * self.notional_num
        return -ceil_div(units, self.notional_den)

    def notional_ceil(self, ticks: int, lots: int) -> int:
        """Quote minor units to hold for `lots` at `ticks`, rounded up."""
        units = ticks * lots
        if self.notional_num != 1:
            units *= self.notional_num
        return ceil_div(units, self.notional_den)


def _margin_rates(spec: InstrumentSpec) -> tuple[int, int]:
    """Return (initial, maintenance) margin in ppm; both 0 for spot."""
    maint_rate = maintenance_margin_rate(spec)
    if spec.kind is not InstrumentKind.MARGIN:
        if maint_rate is not None:
            raise InvalidInput("maintenance_margin_rate", "applies to margin instruments")
        return 0, 0
    if spec.margin_rate is None:
        raise InvalidInput("margin_rate", "is required for margin instruments", code="missing")
    margin = _rate_ppm(spec.margin_rate, "margin_rate", allow_zero=False)
    if margin > PPM:
        raise InvalidInput("margin_rate", "must be at most 1", code="out_of_range")
    if maint_rate is None:
        return margin, 0
    maint = _rate_ppm(maint_rate, "maintenance_margin_rate", allow_zero=False)
    if maint > margin or maint >= PPM:
        raise InvalidInput("maintenance_margin_rate", "must be below 1 and at most margin_rate",
                           code="out_of_range")
    return margin, maint


def _liquidation_fee_ppm(spec: InstrumentSpec, maint_ppm: int) -> int:
    """Return the liquidation fee in ppm: 0 to below 1, and above 0 only where positions are
    liquidated (a margin instrument with a maintenance rate)."""
    rate = liquidation_fee_rate(spec)
    field = "liquidation_fee_rate"
    if rate.is_finite() and not 0 <= rate < 1:
        raise InvalidInput(field, f"must be at least 0 and below 1, got {rate}",
                           code="out_of_range")
    ppm = _rate_ppm(rate, field)
    if ppm and spec.kind != InstrumentKind.MARGIN:
        raise InvalidInput(field, "applies to margin instruments")
    if ppm and not maint_ppm:
        raise InvalidInput(field, "needs a maintenance_margin_rate: without one nothing is "
                           "liquidated", code="missing")
    return ppm


def _positive_step(value: Decimal, field: str) -> Decimal:
    if not value.is_finite() or value <= 0:
        raise InvalidInput(field, f"must be positive, got {value}", code="not_positive")
    return value


def fee_floor(notional: int, ppm: int) -> int:
    """Fee charged on a notional, rounded down."""
    return notional * ppm // PPM


def fee_ceil(notional: int, ppm: int) -> int:
    """Fee to hold for a notional, rounded up."""
    return ceil_div(notional * ppm, PPM)


def ceil_div(numerator: int, denominator: int) -> int:
    """`numerator / denominator` rounded up, for a positive denominator (without negating a
    non-negative numerator: see `Instrument.notional_floor`)."""
    if numerator >= 0:
        return (numerator + denominator - 1) // denominator
    return -(-numerator // denominator)
