"""The fill-or-kill check: whether the match would fill an order completely, found by running
the match's own steps on scratch copies of the few numbers those steps change.

`fills_completely` meets the resting orders in the order `OrderFlow._match` does (best price
first, time priority within a price) and decides at each one what the match decides: the
taker's self-trade prevention, reduce-only makers and takers clipped to what their positions
can still reduce, the taker clipped to what it can pay (`Settlement._affordable`, through
`risk.affordable_lots` and `risk.margin_affordable`), and each fill settled as `_fill` settles
it (fees, `settle_position` for margin, the hold topped up, a finished or canceled maker's
hold freed into its account's cash). What those steps read back is copied on first use: the
positions of the accounts met, the taker's hold and, on margin, the available cash of each
account met, the taker's own included (self-trades, own makers canceled or finished). So the
answer is exactly what the match would do. A shortfall (a loss capped at what an account can
pay) moves money only between the insurance fund and the clearing account, which no step reads,
and the liquidation fee is never met: a liquidation order is IOC, so it neither takes the FOK
path nor rests as a maker. Changes no engine state; no I/O; called only from
`OrderFlow._execute`.
"""

from __future__ import annotations

from tradehall.engine import risk
from tradehall.engine.book import Book
from tradehall.engine.orders import CANCEL_OLDEST, MARKET, STP_NONE, Order
from tradehall.engine.settlement import settle_position
from tradehall.kernel.ids import AccountId, Symbol
from tradehall.trading.instrument import Instrument, fee_floor
from tradehall.trading.positions import Position

Positions = dict[tuple[AccountId, Symbol], Position]


def fills_completely(order: Order, inst: Instrument, book: Book, limit: int | None,
                     positions: Positions) -> bool:
    """Whether `OrderFlow._match` would fill `order` completely against `book` now.

    Parameters
    ----------
    limit
        The worst price the order may trade at, None for no limit (as `_match` takes it).
    positions
        The engine's margin positions; read, never changed.
    """
    run = _DryRun(order, inst, positions)
    is_buy = order.is_buy
    for level in book.walk(not is_buy):
        price: int = level.price
        if limit is not None and (price > limit if is_buy else price < limit):
            return False
        for maker in level.orders():
            if not run.meet(maker, price):
                return False
            if run.need == 0:
                return True
    return False


class _DryRun:
    """A taker's match in progress: what it still needs and scratch copies of its effects."""

    __slots__ = ("cash", "held", "inst", "need", "order", "positions", "scratch")

    def __init__(self, order: Order, inst: Instrument, positions: Positions) -> None:
        self.order = order
        self.inst = inst
        self.positions = positions
        self.need = order.leaves
        self.held = order.held
        self.scratch: dict[AccountId, Position] = {}
        self.cash: dict[AccountId, int] = {order.account: order.hold.available}

    def meet(self, maker: Order, price: int) -> bool:
        """Trade with one resting order as `_match` would; False when the taker stops there."""
        order = self.order
        if maker.account == order.account and order.stp is not STP_NONE:
            if order.stp is not CANCEL_OLDEST:
                return False
            self._release(maker, maker.held)  # the maker is canceled
            return True
        left = maker.leaves
        maker_held = maker.held
        while self.need:
            qty = min(self.need, left)
            if maker.reduce_only:
                qty = min(qty, self._position(maker.account).reducible(maker.is_buy))
                if qty == 0:
                    self._release(maker, maker_held)  # canceled: nothing left to reduce
                    return True
            if order.reduce_only:
                qty = min(qty, self._position(order.account).reducible(order.is_buy))
                if qty == 0:
                    return False
            qty = self._affordable(price, qty)
            if qty == 0:
                return False
            maker_held = self._fill(maker, maker_held, price, qty)
            self.need -= qty
            left -= qty
            if left == 0:
                self._release(maker, maker_held)  # filled: the rest of its hold is freed
                return True
        return True

    def _affordable(self, price: int, qty: int) -> int:
        # Settlement._affordable on the scratch hold and cash.
        order, inst = self.order, self.inst
        if inst.is_margin:
            account = order.account
            lots, extra = risk.margin_affordable(
                inst, price, qty, self.held, self.cash[account],
                self._position(account).reducible(order.is_buy))
            if extra > 0:
                self.held += extra
                self.cash[account] -= extra
            return lots
        if order.order_type is not MARKET or not order.is_buy:
            return qty
        return risk.affordable_lots(inst, price, self.held, inst.taker_ppm, qty)

    def _fill(self, maker: Order, maker_held: int, price: int, qty: int) -> int:
        # Settlement._fill: the maker settles first, then the taker; returns the maker's hold.
        inst = self.inst
        notional = inst.notional_floor(price, qty)
        taker_fee = fee_floor(notional, inst.taker_ppm)
        if inst.is_margin:
            maker_held = self._settle(maker, maker_held, price, qty,
                                      fee_floor(notional, inst.maker_ppm))
            self.held = self._settle(self.order, self.held, price, qty, taker_fee)
        elif self.order.is_buy:
            self.held -= notional + taker_fee  # a spot buyer pays from its hold
        return maker_held

    def _settle(self, order: Order, held: int, price: int, qty: int, fee: int) -> int:
        # Settlement._settle_margin; returns what the order still holds.
        account = order.account
        cash = self._cash(order)
        _, released, pnl, margin, _ = settle_position(self.inst, self._position(account),
                                                   order.is_buy, price, qty, cash)
        self.cash[account] = cash + released + pnl
        return held - fee - margin

    def _release(self, maker: Order, held: int) -> None:
        # A margin hold freed goes to the account's cash, which the taker may share.
        if held and self.inst.is_margin:
            self.cash[maker.account] = self._cash(maker) + held

    def _cash(self, order: Order) -> int:
        cash = self.cash.get(order.account)
        return order.hold.available if cash is None else cash

    def _position(self, account: AccountId) -> Position:
        pos = self.scratch.get(account)
        if pos is None:
            real = self.positions.get((account, self.inst.symbol))
            pos = Position(account, self.inst.symbol) if real is None else real.copy()
            self.scratch[account] = pos
        return pos
