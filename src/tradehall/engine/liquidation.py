"""Liquidation prices of margin positions.

A margin instrument with a maintenance margin rate `m` (`Instrument.maint_ppm`) liquidates a
position once the last trade price reaches the price at which the position's margin plus its
unrealized P&L would fall below `m` times its notional. With `k` quote minor units per tick-lot
(`notional_num / notional_den`), `q` lots, cost `C` tick-lots and margin `M`, exactly (in
rationals, with no rounding):

    long:  M + k(P*q - C) < m*k*P*q   <=>   P < (k*C - M) / (k*q*(1 - m))
    short: M + k(C - P*q) < m*k*P*q   <=>   P > (k*C + M) / (k*q*(1 + m))

The liquidation price is the highest integer price that satisfies the long's inequality, or the
lowest that satisfies the short's; 0 means the position cannot be liquidated (a long whose margin
covers its whole cost, a short whose price would lie beyond the highest price). The engine keeps
each position's price as a heap key (`liquidation_key`): negative for a long, so one max-heap and
one min-heap per symbol find the next position due. Pure: no I/O, no state.
"""

from __future__ import annotations

from typing import Final

from tradehall.engine.orders import MAX_PRICE_TICKS
from tradehall.trading.instrument import PPM, Instrument
from tradehall.trading.positions import Position

LIQUIDATION_PREFIX: Final = "liquidation-"
"""Client order ids the engine gives its liquidation orders; user orders may not use it."""


def liquidation_price(inst: Instrument, pos: Position) -> int:
    """Return the price at which `pos` is liquidated (see the module docstring), or 0."""
    lots = abs(pos.net_qty)
    maint = inst.maint_ppm
    if not lots or not maint:
        return 0
    num, den = inst.notional_num, inst.notional_den
    if pos.net_qty > 0:
        slope = lots * num * (PPM - maint)
        bound = (num * pos.cost_ticks - pos.margin * den) * PPM
        return (bound - 1) // slope if bound > slope else 0
    slope = lots * num * (PPM + maint)
    bound = (num * pos.cost_ticks + pos.margin * den) * PPM
    price = bound // slope + 1
    return price if price <= MAX_PRICE_TICKS else 0


def liquidation_key(inst: Instrument, pos: Position) -> int:
    """Return the heap key of `pos`: minus its liquidation price for a long, the price for a
    short, 0 when it cannot be liquidated."""
    price = liquidation_price(inst, pos)
    return -price if pos.net_qty > 0 else price


def underwater(inst: Instrument, pos: Position, price: int) -> bool:
    """Whether `pos` at `price` is below maintenance, by the exact inequality (for tests and
    for documentation: the engine compares prices with `liquidation_price`)."""
    lots = abs(pos.net_qty)
    if not lots or not inst.maint_ppm:
        return False
    num, den = inst.notional_num, inst.notional_den
    direction = 1 if pos.net_qty > 0 else -1
    # Everything times den * PPM, so no division is needed.
    equity = pos.margin * den * PPM + (price * lots - pos.cost_ticks) * direction * num * PPM
    maintenance = inst.maint_ppm * num * price * lots
    return equity < maintenance
