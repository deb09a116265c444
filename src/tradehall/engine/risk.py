"""Pre-trade risk: how much an order must hold before it may rest or trade.

A buy holds quote currency: the notional at its limit price rounded up plus the larger of the
maker and taker fee rounded up. A sell holds the base quantity. A market buy holds everything
the account has available for the duration of its match (it never rests, so nobody else can
see that), and each fill is checked against it. Fills charge rounded-down amounts, so a hold
always covers the fills it pays for. No I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from tradehall.trading.instrument import PPM, Instrument, ceil_div, fee_ceil


def buy_hold(inst: Instrument, price: int, lots: int) -> int:
    """Quote units a buy of `lots` at `price` must hold."""
    notional = inst.notional_ceil(price, lots)
    return notional + fee_ceil(notional, max(inst.maker_ppm, inst.taker_ppm))


def sell_hold(inst: Instrument, lots: int) -> int:
    """Base units a sell of `lots` must hold."""
    return lots * inst.base_per_lot


def protection_price(inst: Instrument, stop_price: int, is_buy: bool) -> int:
    """Worst price a triggered stop-market order may trade at (its stop plus the collar)."""
    if is_buy:
        return stop_price + ceil_div(stop_price * inst.collar_ppm, PPM)
    return max(1, stop_price - stop_price * inst.collar_ppm // PPM)


def affordable_lots(inst: Instrument, price: int, budget: int, fee_ppm: int, limit: int,
                    cost: Callable[[Instrument, int, int, int], int] | None = None) -> int:
    """Most lots, up to `limit`, whose cost (notional plus fee by default) fit in `budget`."""
    _cost = cost or spot_cost
    if _cost(inst, price, limit, fee_ppm) <= budget:
        return limit
    low = 0  # affordable; the cost is monotone in lots, so bisect
    high = limit  # not affordable
    while high - low > 1:
        mid = (low + high) // 2
        if _cost(inst, price, mid, fee_ppm) <= budget:
            low = mid
        else:
            high = mid
    return low


def spot_cost(inst: Instrument, price: int, lots: int, fee_ppm: int) -> int:
    """Quote units a spot buy of `lots` at `price` consumes (notional plus fee)."""
    notional = inst.notional_floor(price, lots)
    return notional + notional * fee_ppm // PPM


def outside_band(inst: Instrument, price: int, reference: int) -> bool:
    """True when a price is further from the reference than the instrument's band allows."""
    if not inst.band_ppm or not reference:
        return False
    # Not abs(): compiled, it boxes the int and calls the generic builtin.
    distance = price - reference if price >= reference else reference - price
    return distance * PPM > reference * inst.band_ppm


def margin_hold(inst: Instrument, price: int, lots: int, reduce_only: bool) -> int:
    """Quote units a margin order must hold: initial margin (unless reduce-only) plus fee."""
    notional = inst.notional_ceil(price, lots)
    fee = fee_ceil(notional, max(inst.maker_ppm, inst.taker_ppm))
    if reduce_only:
        return fee
    return ceil_div(notional * inst.margin_ppm, PPM) + fee


def margin_cost(inst: Instrument, price: int, lots: int, fee_ppm: int, closing: int = 0) -> int:
    """Worst-case quote units a margin fill of `lots` at `price` consumes: margin for the lots
    beyond the first `closing` (those reduce a position and need none), plus the fee."""
    notional = inst.notional_floor(price, lots)
    opening = inst.notional_floor(price, max(0, lots - closing))
    return ceil_div(opening * inst.margin_ppm, PPM) + notional * fee_ppm // PPM


def margin_affordable(inst: Instrument, price: int, qty: int, held: int, available: int,
                      closing: int) -> tuple[int, int]:
    """Return the lots a margin taker can pay for and how much more it must hold for them.

    The lots are the most, up to `qty`, whose cost at `price` fits in its hold plus what is
    available, the first `closing` of them reducing its position (no margin); the extra is
    zero or less when the hold covers them. `Settlement._affordable` and the fill-or-kill
    check both decide with this.
    """
    cost = partial(margin_cost, closing=closing)
    lots = affordable_lots(inst, price, held + available, inst.taker_ppm, qty, cost)
    return lots, cost(inst, price, lots, inst.taker_ppm) - held
