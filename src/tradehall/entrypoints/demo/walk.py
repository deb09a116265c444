"""The demo's price model: a seeded random walk of each mid, and the quote ladder around it.

Everything is in integer ticks and lots. The generator is a `random.Random` passed in (seeded
by the caller), so one seed gives one price path. A gentle pull back towards the anchor keeps
the walk within the instrument's price band for days. Pure: no I/O, no clock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from tradehall.entrypoints.demo.catalog import DemoInstrument
from tradehall.trading.model import Side

_BP = Decimal(10_000)
# A step pulls the mid back towards the anchor by this fraction of the gap.
_REVERSION = 200


@dataclass(frozen=True, slots=True)
class Quote:
    """One level the maker wants in the book: side, level index (0 = best), ticks, lots."""

    side: Side
    level: int
    price: int
    qty: int


def bp_ticks(ticks: int, bp: Decimal) -> int:
    """Return `bp` basis points of a price in ticks, at least one tick."""
    return max(1, int(Decimal(ticks) * bp / _BP))


class PriceWalk:
    """The mid of one instrument, in ticks, moved one step at a time."""

    def __init__(self, inst: DemoInstrument, rng: random.Random, start: int | None = None) -> None:
        self.inst = inst
        self.anchor = int(inst.mid / inst.spec.tick_size)
        self.mid = self.anchor if start is None else start
        self._rng = rng

    def step(self) -> int:
        """Move the mid by one random step (Gaussian, `vol_bp` wide) and return it."""
        sigma = bp_ticks(self.mid, self.inst.vol_bp)
        # Floats only shape the random step; the price itself stays an integer of ticks.
        move = round(self._rng.gauss(0.0, 1.0) * sigma)
        pull = (self.anchor - self.mid) // _REVERSION
        self.mid = max(1, self.mid + move + pull)
        return self.mid

    def ladder(self, levels: int, sizes: list[int]) -> list[Quote]:
        """Return the quotes of both sides around the current mid, best level first.

        `sizes` holds one size in lots per quote (`2 * levels` of them: bids then asks).
        """
        half = bp_ticks(self.mid, self.inst.half_spread_bp)
        gap = bp_ticks(self.mid, self.inst.level_bp)
        quotes = []
        for i in range(levels):
            bid = self.mid - half - i * gap
            if bid > 0:
                quotes.append(Quote(Side.BUY, i, bid, sizes[i]))
        for i in range(levels):
            quotes.append(Quote(Side.SELL, i, self.mid + half + i * gap, sizes[levels + i]))
        return quotes

    def sizes(self, levels: int) -> list[int]:
        """Draw a size in lots for each quote, larger further from the mid."""
        low, high = self.inst.quote_lots
        out = []
        for _side in range(2):
            for i in range(levels):
                top = low + (high - low) * (i + 1) // levels
                out.append(self._rng.randint(low, max(low, top)))
        return out

    def take_qty(self) -> int:
        """Draw the size in lots of a taker order."""
        low, high = self.inst.take_lots
        return self._rng.randint(low, high)
