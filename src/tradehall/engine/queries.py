"""Read-only views of the engine's state for the service around it.

The platform service reads depth, balances, open orders and positions through these functions
only, never through the engine's attributes, so the engine's internals can change (for speed)
without touching the service. Each function returns plain integer-valued values that the caller
owns. Pure, no I/O; called from the thread that owns the engine, between commands.
"""

from __future__ import annotations

from heapq import nlargest, nsmallest
from typing import Any

import msgspec

from tradehall.engine.matcher import MatchingEngine
from tradehall.engine.orders import Order, OrderState
from tradehall.kernel.ids import AccountId, AssetCode, ClientOrderId, OrderId, Symbol
from tradehall.trading.model import (
    InstrumentSpec,
    InstrumentStatus,
    OrderType,
    Side,
    TimeInForce,
)


class LevelView(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One price level: price in ticks, total lots resting, number of orders."""

    price: int
    qty: int
    count: int


class BalanceView(msgspec.Struct, frozen=True, gc=False):
    asset: AssetCode
    available: int
    held: int


class OpenOrderView(msgspec.Struct, frozen=True, gc=False):
    """A live order: resting, or a stop waiting for its trigger."""

    order_id: OrderId
    account: AccountId
    client_order_id: ClientOrderId
    symbol: Symbol
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    qty: int
    leaves: int
    filled: int
    price: int | None
    stop_price: int | None
    held: int
    triggered: bool


class PositionView(msgspec.Struct, frozen=True, gc=False):
    symbol: Symbol
    net_qty: int
    cost_ticks: int
    realized_pnl: int
    margin: int


def book_depth(engine: MatchingEngine, symbol: Symbol,
               depth: int) -> tuple[list[LevelView], list[LevelView]]:
    """Return the best `depth` bid and ask levels of a symbol, best first."""
    book: Any = engine.books.get(symbol)  # both books keep `bids` and `asks` by price
    if book is None:
        return [], []
    bids, asks = book.bids, book.asks
    bid_prices = nlargest(depth, bids)
    ask_prices = nsmallest(depth, asks)
    return ([LevelView(p, bids[p].total, bids[p].count) for p in bid_prices],
            [LevelView(p, asks[p].total, asks[p].count) for p in ask_prices])


def last_price(engine: MatchingEngine, symbol: Symbol) -> int | None:
    """Return the price of the symbol's last trade, if any."""
    market = engine.markets.get(symbol)
    return market.last if market is not None and market.last else None


def balances(engine: MatchingEngine, account: AccountId) -> list[BalanceView]:
    """Return every balance of an account that exists, in asset order."""
    out = []
    for code in sorted(engine.assets):
        bal = engine.ledger.peek(account, code)
        if bal is not None:
            out.append(BalanceView(code, bal.available, bal.held))
    return out


def open_orders(engine: MatchingEngine, account: AccountId) -> list[OpenOrderView]:
    """Return an account's live orders, oldest first."""
    orders = engine.open_orders.get(account, {})
    return sorted((_order_view(o) for o in orders.values()), key=lambda v: v.order_id)


def open_order(engine: MatchingEngine, order_id: OrderId) -> OpenOrderView | None:
    """Return one live order by engine id, or None when it is not live."""
    order = engine.orders_by_id.get(order_id)
    if order is None or order.state is OrderState.DONE:
        return None
    return _order_view(order)


def positions(engine: MatchingEngine, account: AccountId) -> list[PositionView]:
    """Return an account's margin positions (open or with realized P&L), by symbol."""
    out = []
    for (owner, symbol), pos in engine.positions.items():
        if owner == account:
            out.append(PositionView(symbol, pos.net_qty, pos.cost_ticks, pos.realized_pnl,
                                    pos.margin))
    return sorted(out, key=lambda p: p.symbol)


def accounts(engine: MatchingEngine) -> list[AccountId]:
    """Return every account that holds a balance, system accounts included, sorted."""
    return sorted({bal.account for bal in engine.ledger})


def _order_view(o: Order) -> OpenOrderView:
    cmd = o.command
    return OpenOrderView(
        order_id=o.order_id, account=o.account, client_order_id=o.client_order_id,
        symbol=cmd.symbol, side=Side(cmd.side), order_type=OrderType(cmd.order_type),
        time_in_force=TimeInForce(cmd.time_in_force), qty=cmd.qty, leaves=o.leaves,
        filled=o.filled, price=o.price, stop_price=o.stop_price, held=o.held,
        triggered=o.state is not OrderState.STOP)


class InstrumentView(msgspec.Struct, frozen=True, gc=False):
    """An instrument's definition with its current status and its assets' scales."""

    spec: InstrumentSpec
    status: InstrumentStatus
    base_scale: int
    quote_scale: int


def assets(engine: MatchingEngine) -> dict[AssetCode, int]:
    """Return every asset with its scale."""
    return {code: asset.scale for code, asset in sorted(engine.assets.items())}


def instruments(engine: MatchingEngine) -> list[InstrumentView]:
    """Return every instrument, by symbol."""
    out = []
    for symbol in sorted(engine.instruments):
        inst = engine.instruments[symbol]
        out.append(InstrumentView(inst.spec, inst.status, engine.assets[inst.base].scale,
                                  engine.assets[inst.quote].scale))
    return out
