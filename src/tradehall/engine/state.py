"""Canonical state of the engine: capture, restore, and the state hash.

`capture` turns the whole engine (reference data, balances, positions, live orders in book
queue order, stop orders, the client order id register, counters) into plain values in a
canonical order; its msgpack encoding is the snapshot payload, and the blake2b of that
encoding is the state hash. Two engines with equal hashes behave identically from then on.
Internal heaps are not captured: they are rebuilt, and only their order of popping matters,
which is a total order. No I/O.
"""

from __future__ import annotations

import hashlib
from heapq import heapify
from typing import Any

import msgspec

from tradehall.engine.matcher import BookFactory, MatchingEngine
from tradehall.engine.orders import Order, OrderState
from tradehall.kernel.errors import InvariantViolation
from tradehall.kernel.ids import AccountId, AssetCode, ClientOrderId, OrderId, Symbol
from tradehall.ledger.model import Asset
from tradehall.trading.commands import SubmitOrder
from tradehall.trading.instrument import Instrument
from tradehall.trading.model import InstrumentKind, InstrumentSpec, InstrumentStatus
from tradehall.trading.positions import Position

STATE_VERSION = 1
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


def capture(engine: MatchingEngine) -> dict[str, Any]:
    """Return the engine's full state as canonical plain values."""
    return {
        "version": STATE_VERSION,
        "now_ns": engine.now_ns,
        "next_order_id": engine.next_order_id,
        "next_trade_id": engine.next_trade_id,
        "assets": sorted([a.code, a.scale] for a in engine.assets.values()),
        "instruments": [[msgspec.to_builtins(inst.spec), inst.status.value]
                        for inst in sorted(engine.instruments.values(),
                                           key=lambda i: i.symbol)],
        "balances": sorted([b.account, b.asset, b.available, b.held] for b in engine.ledger),
        "positions": sorted([p.account, p.symbol, p.net_qty, p.cost_ticks, p.realized_pnl,
                             p.margin] for p in engine.positions.values()),
        "last_price": sorted([s, p] for s, p in engine.last_price.items()),
        "orders": [_order_row(o) for o in _live_orders(engine)],
        "client_ids": sorted(
            [account, coid, msgspec.to_builtins(cmd), order_id]
            for account, ids in engine.client_ids.items()
            for coid, (cmd, order_id) in ids.items()),
    }


def encode_state(engine: MatchingEngine) -> bytes:
    """Return the snapshot payload: the msgpack encoding of `capture`."""
    return _encoder.encode(capture(engine))


def state_hash(engine: MatchingEngine) -> str:
    """Return the hex blake2b-256 hash of the canonical state."""
    return hashlib.blake2b(encode_state(engine), digest_size=32).hexdigest()


def _live_orders(engine: MatchingEngine) -> list[Order]:
    """Resting orders per symbol, bids then asks, best price first, in queue order; then
    stop orders by id."""
    result: list[Order] = []
    for symbol in sorted(engine.books):
        book = engine.books[symbol]
        for buy_side in (True, False):
            for level in book.levels(buy_side):
                result.extend(level.orders())
    stops = [o for o in engine.orders_by_id.values() if o.state is OrderState.STOP]
    result.extend(sorted(stops, key=lambda o: o.order_id))
    return result


def _order_row(o: Order) -> list[Any]:
    return [o.order_id, msgspec.to_builtins(o.command), int(o.state), o.price, o.leaves,
            o.filled, o.held, o.expire_ns]


def restore(payload: bytes, book_factory: BookFactory | None = None) -> MatchingEngine:
    """Build an engine from a snapshot payload."""
    state = _decoder.decode(payload)
    if state.get("version") != STATE_VERSION:
        raise InvariantViolation(f"snapshot state version {state.get('version')} is unknown")
    engine = MatchingEngine() if book_factory is None else MatchingEngine(book_factory)
    engine.now_ns = state["now_ns"]
    engine.next_order_id = state["next_order_id"]
    engine.next_trade_id = state["next_trade_id"]
    for code, scale in state["assets"]:
        engine.assets[code] = Asset(code, scale)
    for spec_raw, status in state["instruments"]:
        spec = msgspec.convert(spec_raw, InstrumentSpec)
        inst = Instrument(spec, engine.assets[spec.base].scale, engine.assets[spec.quote].scale)
        inst.status = InstrumentStatus(status)
        engine.instruments[spec.symbol] = inst
        engine.books[spec.symbol] = engine.book_factory(spec.symbol)
        engine.stops[spec.symbol] = ([], [])
    for account, asset, available, held in state["balances"]:
        bal = engine.ledger.balance(AccountId(account), AssetCode(asset))
        bal.available, bal.held = available, held
    for account, symbol, net, cost, pnl, margin in state["positions"]:
        pos = engine.positions[(account, symbol)] = Position(account, symbol)
        pos.net_qty, pos.cost_ticks, pos.realized_pnl, pos.margin = net, cost, pnl, margin
    engine.last_price.update({Symbol(s): p for s, p in state["last_price"]})
    for row in state["orders"]:
        _restore_order(engine, row)
    for account, coid, cmd_raw, order_id in state["client_ids"]:
        engine.client_ids.setdefault(AccountId(account), {})[ClientOrderId(coid)] = (
            msgspec.convert(cmd_raw, SubmitOrder), OrderId(order_id))
    for buys, sells in engine.stops.values():
        heapify(buys)
        heapify(sells)
    heapify(engine.expiry)
    return engine


def _restore_order(engine: MatchingEngine, row: list[Any]) -> None:
    order_id, cmd_raw, state, price, leaves, filled, held, expire_ns = row
    cmd = msgspec.convert(cmd_raw, SubmitOrder)
    inst = engine.instruments[cmd.symbol]
    is_buy = cmd.side == "buy"
    margin = inst.kind == InstrumentKind.MARGIN
    hold_asset = inst.quote if (is_buy or margin) else inst.base
    order = Order(OrderId(order_id), cmd, engine.ledger.balance(cmd.account, hold_asset))
    if not margin:
        order.receive = engine.ledger.balance(cmd.account, inst.base if is_buy else inst.quote)
    order.price, order.leaves, order.filled, order.held = price, leaves, filled, held
    order.expire_ns = expire_ns
    engine.orders_by_id[order.order_id] = order
    engine.open_orders.setdefault(cmd.account, {})[cmd.client_order_id] = order
    if expire_ns:
        engine.expiry.append((expire_ns, order_id))
    if state == OrderState.STOP:
        order.state = OrderState.STOP
        buys, sells = engine.stops[cmd.symbol]
        stop = order.stop_price
        assert stop is not None
        if is_buy:
            buys.append((stop, order_id))
        else:
            sells.append((-stop, order_id))
    else:
        engine.books[cmd.symbol].add(order)
