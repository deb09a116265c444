"""A plain dict-of-deques order book, matching only: the context row of the engine benchmark.

The "simple pure-Python dict of deques (max/min over levels)" of `shared/ceilings.md`: price
levels in a dict per side, a `deque` of `[leaves, price, is_buy, key]` entries per level, the
best price found with `max`/`min` over the level keys (so it grows with depth), cancels by
`deque.remove`. No risk checks, no ledger, no events, no self-trade prevention, no validation:
what tradehall's engine does on top of this is what the ratio between the two rows costs.
Owns nothing but this toy book and the translation of a stream into its calls; no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from tradehall.trading import commands as c
from tradehall.trading.model import OrderType, TimeInForce

Entry = list[Any]  # [leaves: int, price: int, is_buy: bool, key: str]
# (op, key, is_buy, price or -1 for market, qty, rests); op 0 submit, 1 cancel, 2 amend
Op = tuple[int, str, bool, int, int, bool]


class SimpleBook:
    """Price-time priority over dicts of deques; counts fills instead of emitting events."""

    def __init__(self) -> None:
        self.bids: dict[int, deque[Entry]] = {}
        self.asks: dict[int, deque[Entry]] = {}
        self.orders: dict[str, Entry] = {}
        self.fills = 0

    def submit(self, key: str, is_buy: bool, price: int, qty: int, rests: bool) -> None:
        """Match an order (price -1: market), then rest what is left if it may."""
        opposite = self.asks if is_buy else self.bids
        while qty and opposite:
            best = min(opposite) if is_buy else max(opposite)
            if price >= 0 and (best > price if is_buy else best < price):
                break
            queue = opposite[best]
            while qty and queue:
                maker = queue[0]
                leaves = maker[0]
                take = qty if qty < leaves else leaves
                qty -= take
                self.fills += 1
                if take == leaves:
                    queue.popleft()
                    del self.orders[maker[3]]
                else:
                    maker[0] = leaves - take
            if not queue:
                del opposite[best]
        if qty and rests and price >= 0:
            entry: Entry = [qty, price, is_buy, key]
            side = self.bids if is_buy else self.asks
            level = side.get(price)
            if level is None:
                level = side[price] = deque()
            level.append(entry)
            self.orders[key] = entry

    def cancel(self, key: str) -> None:
        """Remove a resting order if it is still there."""
        entry = self.orders.pop(key, None)
        if entry is None:
            return
        price = entry[1]
        side = self.bids if entry[2] else self.asks
        queue = side[price]
        queue.remove(entry)
        if not queue:
            del side[price]

    def amend(self, key: str, price: int, qty: int) -> None:
        """Reduce in place (price -1), or cancel and re-submit at a new price."""
        entry = self.orders.get(key)
        if entry is None:
            return
        if price < 0:
            entry[0] = qty
            return
        leaves, is_buy = entry[0], entry[2]
        self.cancel(key)
        self.submit(key, is_buy, price, leaves, True)


def translate(stream: Sequence[tuple[c.EngineCommand, int]]) -> list[Op]:
    """Turn engine commands into the toy book's calls, keyed by client order id.

    An amend that lowers quantity is translated with the new leaves quantity computed from the
    original order's size, which is exact for the generated streams (amends never raise it).
    """
    ops: list[Op] = []
    sizes: dict[str, int] = {}
    for cmd, _ in stream:
        if isinstance(cmd, c.SubmitOrder):
            market = cmd.order_type == OrderType.MARKET
            rests = not market and cmd.time_in_force != TimeInForce.IOC
            sizes[cmd.client_order_id] = cmd.qty
            ops.append((0, cmd.client_order_id, cmd.side == "buy",
                        -1 if market or cmd.price is None else cmd.price, cmd.qty, rests))
        elif isinstance(cmd, c.CancelOrder) and cmd.client_order_id is not None:
            ops.append((1, cmd.client_order_id, False, 0, 0, False))
        elif isinstance(cmd, c.AmendOrder):
            key = cmd.client_order_id
            if cmd.price is not None:
                ops.append((2, key, False, cmd.price, 0, False))
            elif cmd.qty is not None:
                # The toy book keeps leaves only: lower them by the same step as the total.
                step = sizes.get(key, cmd.qty) - cmd.qty
                sizes[key] = cmd.qty
                ops.append((3, key, False, -1, step, False))
    return ops


def run(book: SimpleBook, ops: Sequence[Op]) -> None:
    """Apply translated ops to the toy book."""
    submit, cancel, amend, orders = book.submit, book.cancel, book.amend, book.orders
    for op, key, is_buy, price, qty, rests in ops:
        if op == 0:
            submit(key, is_buy, price, qty, rests)
        elif op == 1:
            cancel(key)
        elif op == 2:
            amend(key, price, 0)
        else:
            entry = orders.get(key)
            if entry is not None:
                leaves = entry[0]
                if leaves > qty:
                    amend(key, -1, leaves - qty)
