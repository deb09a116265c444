"""The JSON Lines replay format, outbound: render engine events and state as decimal strings.

Integers inside the engine (ticks, lots, minor units) become decimal strings here using the
instrument's tick and lot sizes and the asset's scale. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from tradehall.engine.matcher import MatchingEngine
from tradehall.kernel.ids import AssetCode, Symbol
from tradehall.kernel.numeric import format_units, step_for_scale
from tradehall.trading import events as e
from tradehall.trading.instrument import Instrument

Json = dict[str, Any]


class EventRenderer:
    """Turns events into JSON-ready dicts for one engine."""

    def __init__(self, engine: MatchingEngine) -> None:
        self._engine = engine

    def _inst(self, symbol: str) -> Instrument:
        return self._engine.instruments[Symbol(symbol)]

    def amount(self, asset: str, units: int) -> str:
        """Render minor units of an asset (negative for the contra accounts)."""
        step = step_for_scale(self._engine.assets[AssetCode(asset)].scale)
        return _signed(lambda u: format_units(u, step), units)

    def render(self, event: e.EngineEvent) -> Json:
        """Render one event."""
        if isinstance(event, e.Trade):
            return self._trade(event)
        raw: Json = msgspec.to_builtins(event)
        if isinstance(event, e.OrderAccepted):
            inst = self._inst(event.symbol)
            raw["qty"] = inst.format_qty(event.qty)
            raw["price"] = None if event.price is None else inst.format_price(event.price)
            raw["stop_price"] = (None if event.stop_price is None
                                 else inst.format_price(event.stop_price))
            raw["held"] = self.amount(event.hold_asset, event.held)
        elif isinstance(event, e.OrderCanceled | e.OrderExpired):
            raw["remaining_qty"] = self._inst(event.symbol).format_qty(event.remaining_qty)
        elif isinstance(event, e.OrderAmended):
            inst = self._inst(event.symbol)
            raw["price"] = None if event.price is None else inst.format_price(event.price)
            raw["remaining_qty"] = inst.format_qty(event.remaining_qty)
            raw["held"] = self.amount(event.hold_asset, event.held)
        elif isinstance(event, e.StopTriggered):
            raw["last_price"] = self._inst(event.symbol).format_price(event.last_price)
        elif isinstance(event, e.Deposited | e.Withdrawn):
            raw["amount"] = self.amount(event.asset, event.amount)
            raw["available"] = self.amount(event.asset, event.available)
        elif isinstance(event, e.PositionChanged | e.LiquidationTriggered | e.LossShortfall):
            self._margin(event, raw)
        return raw

    def _margin(self, event: e.PositionChanged | e.LiquidationTriggered | e.LossShortfall,
                raw: Json) -> None:
        if isinstance(event, e.LossShortfall):
            for name in ("shortfall", "covered", "uncovered"):
                raw[name] = self.amount(event.asset, raw[name])
            return
        inst = self._inst(event.symbol)
        raw["net_qty"] = _signed(inst.format_qty, event.net_qty)
        raw["margin"] = inst.format_quote(event.margin)
        if isinstance(event, e.LiquidationTriggered):
            raw["liquidation_price"] = inst.format_price(event.liquidation_price)
            raw["last_price"] = inst.format_price(event.last_price)
        else:
            raw["avg_price"] = _average(inst, event.cost_ticks, event.net_qty)
            raw["realized_pnl"] = _signed(inst.format_quote, event.realized_pnl)
            del raw["cost_ticks"]

    def _trade(self, t: e.Trade) -> Json:
        inst = self._inst(t.symbol)
        out: Json = {
            "event": "trade", "trade_id": t.trade_id, "symbol": t.symbol,
            "price": inst.format_price(t.price), "qty": inst.format_qty(t.qty),
            "notional": inst.format_quote(t.notional), "taker_side": t.taker_side,
            "maker": {"account": t.maker_account, "client_order_id": t.maker_client_order_id,
                      "order_id": t.maker_order_id, "fee": inst.format_quote(t.maker_fee),
                      "leaves_qty": inst.format_qty(t.maker_leaves_qty)},
            "taker": {"account": t.taker_account, "client_order_id": t.taker_client_order_id,
                      "order_id": t.taker_order_id, "fee": inst.format_quote(t.taker_fee),
                      "leaves_qty": inst.format_qty(t.taker_leaves_qty)},
        }
        if t.off_book:
            out["off_book"] = True
        return out

    def state(self) -> Json:
        """Render books (levels with orders in queue order), balances and positions."""
        eng = self._engine
        books: Json = {}
        for symbol in sorted(eng.books):
            inst = self._inst(symbol)
            book = eng.books[symbol]
            books[symbol] = {
                side: [{"price": inst.format_price(level.price),
                        "qty": inst.format_qty(level.total),
                        "orders": [{"order_id": o.order_id, "account": o.account,
                                    "client_order_id": o.client_order_id,
                                    "qty": inst.format_qty(o.leaves)}
                                   for o in level.orders()]}
                       for level in book.levels(side == "bids")]
                for side in ("bids", "asks")
            }
        balances = [{"account": b.account, "asset": b.asset,
                     "available": self.amount(b.asset, b.available),
                     "held": self.amount(b.asset, b.held)}
                    for b in sorted(eng.ledger, key=lambda b: (b.account, b.asset))]
        positions = []
        for (account, symbol), pos in sorted(eng.positions.items()):
            inst = self._inst(symbol)
            positions.append({
                "account": account, "symbol": symbol,
                "net_qty": _signed(inst.format_qty, pos.net_qty),
                "avg_price": _average(inst, pos.cost_ticks, pos.net_qty),
                "realized_pnl": _signed(inst.format_quote, pos.realized_pnl),
                "margin": inst.format_quote(pos.margin)})
        return {"event": "state", "books": books, "balances": balances, "positions": positions}


def _signed(fmt: Callable[[int], str], units: int) -> str:
    text: str = fmt(abs(units))
    return f"-{text}" if units < 0 else text


def _average(inst: Instrument, cost_ticks: int, net_qty: int) -> str | None:
    if net_qty == 0:
        return None
    # Average entry may fall between ticks: show it to the tick size's precision plus four digits.
    ticks = cost_ticks * 10_000 // abs(net_qty)
    return format_units(ticks, inst.tick_size / 10_000)
