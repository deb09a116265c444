"""Margin positions: signed net quantity, exact cost basis, realized P&L and margin held.

Cost is kept in tick-lots (price ticks times lots), which is exact; the average entry price is
`cost_ticks / abs(net_qty)`. Realized P&L is converted to quote minor units rounding toward
minus infinity, so the venue never pays out a fraction it does not have. No I/O.
"""

from __future__ import annotations

from tradehall.kernel.ids import AccountId, Symbol


class Position:
    """One account's position in one margin instrument."""

    __slots__ = ("account", "cost_ticks", "liquidation_key", "margin", "net_qty", "realized_pnl",
                 "symbol")

    def __init__(self, account: AccountId, symbol: Symbol) -> None:
        self.account = account
        self.symbol = symbol
        self.net_qty = 0  # lots, positive long, negative short
        self.cost_ticks = 0  # sum of price * lots of the open quantity, always >= 0
        self.realized_pnl = 0  # quote minor units, cumulative
        self.margin = 0  # quote minor units held for the open quantity
        # Derived, not state: the engine's heap key for liquidating it (engine/liquidation.py).
        self.liquidation_key = 0

    def copy(self) -> Position:
        """Return an independent copy (the fill-or-kill check works on copies)."""
        twin = Position(self.account, self.symbol)
        twin.net_qty = self.net_qty
        twin.cost_ticks = self.cost_ticks
        twin.realized_pnl = self.realized_pnl
        twin.margin = self.margin
        twin.liquidation_key = self.liquidation_key
        return twin

    def reducible(self, is_buy: bool) -> int:
        """Lots an order on this side may take off the position without flipping it."""
        if is_buy:
            return -self.net_qty if self.net_qty < 0 else 0
        return self.net_qty if self.net_qty > 0 else 0

    def reduce(self, lots: int, price: int) -> tuple[int, int]:
        """Close `lots` of the position at `price`; return (pnl in tick-lots, cost removed)."""
        # No abs() and no multiplying by a sign: compiled, both leave machine integers.
        long = self.net_qty > 0
        size = self.net_qty if long else -self.net_qty
        removed = self.cost_ticks * lots // size
        pnl_ticks = price * lots - removed if long else removed - price * lots
        self.cost_ticks -= removed
        self.net_qty += -lots if long else lots
        return pnl_ticks, removed

    def increase(self, lots: int, price: int, is_buy: bool) -> None:
        """Open `lots` more in the direction of `is_buy`."""
        self.net_qty += lots if is_buy else -lots
        self.cost_ticks += price * lots
