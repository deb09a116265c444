"""Canonical state of the engine: capture, restore, and the state hash.

`capture` turns the whole engine (reference data, balances, positions, live orders in book
queue order, stop orders, the client order id register with its retention window and the
finished orders whose ids it still keeps, counters) into an `EngineState` struct
in a canonical order; its msgpack encoding is the snapshot payload, and the blake2b of that
encoding is the state hash. Typed structs let msgspec encode and decode it in C. Two engines
with equal hashes behave identically from then on. Internal heaps are not captured: they are
rebuilt, and only their order of popping matters, which is a total order. No I/O.
"""

from __future__ import annotations

import hashlib
from heapq import heapify

import msgspec

from tradehall.engine.matcher import BookFactory, MatchingEngine
from tradehall.engine.orders import Order, OrderState
from tradehall.engine.register import Registered
from tradehall.kernel.errors import InvariantViolation
from tradehall.kernel.ids import AccountId, AssetCode, ClientOrderId, OrderId, Symbol
from tradehall.ledger.model import Asset
from tradehall.trading.commands import SubmitOrder
from tradehall.trading.instrument import Instrument
from tradehall.trading.model import InstrumentKind, InstrumentSpec, InstrumentStatus
from tradehall.trading.positions import Position

STATE_VERSION = 3


class OrderRow(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A live order as captured: its command plus what the engine changed since."""

    order_id: int
    command: SubmitOrder
    state: int
    price: int | None
    leaves: int
    filled: int
    held: int
    expire_ns: int


class EngineState(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """The canonical capture of an engine; every list is in a fixed order."""

    version: int
    now_ns: int
    next_order_id: int
    next_trade_id: int
    assets: list[tuple[str, int]]
    instruments: list[tuple[InstrumentSpec, str]]
    balances: list[tuple[str, str, int, int]]
    positions: list[tuple[str, str, int, int, int, int]]
    last_price: list[tuple[str, int]]
    orders: list[OrderRow]
    client_ids: list[tuple[str, str, SubmitOrder, int]]
    client_id_retention_ns: int
    retired: list[tuple[int, str, str, int]]  # in the order the orders finished


# Typed structs encode and decode in C without an intermediate dict per entry.
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(EngineState)


def capture(engine: MatchingEngine) -> EngineState:
    """Return the engine's full state in canonical order."""
    return EngineState(
        version=STATE_VERSION,
        now_ns=engine.now_ns,
        next_order_id=engine.next_order_id,
        next_trade_id=engine.next_trade_id,
        assets=sorted((a.code, a.scale) for a in engine.assets.values()),
        instruments=[(inst.spec, inst.status.value)
                     for inst in sorted(engine.instruments.values(), key=lambda i: i.symbol)],
        balances=sorted((b.account, b.asset, b.available, b.held) for b in engine.ledger),
        positions=sorted((p.account, p.symbol, p.net_qty, p.cost_ticks, p.realized_pnl,
                          p.margin) for p in engine.positions.values()),
        last_price=sorted(engine.last_price.items()),
        orders=[_order_row(o) for o in _live_orders(engine)],
        client_ids=[(account, coid, entry.command, entry.order_id)
                    for account in sorted(engine.client_ids)
                    for coid, entry in sorted(engine.client_ids[account].items(),
                                              key=lambda item: item[0])],
        client_id_retention_ns=engine.client_id_retention_ns,
        retired=list(engine.retired),
    )


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


def _order_row(o: Order) -> OrderRow:
    return OrderRow(order_id=o.order_id, command=o.command, state=int(o.state), price=o.price,
                    leaves=o.leaves, filled=o.filled, held=o.held, expire_ns=o.expire_ns)


def restore(payload: bytes, book_factory: BookFactory | None = None) -> MatchingEngine:
    """Build an engine from a snapshot payload."""
    state = _decode(payload)
    engine = MatchingEngine() if book_factory is None else MatchingEngine(book_factory)
    engine.now_ns = state.now_ns
    engine.next_order_id = state.next_order_id
    engine.next_trade_id = state.next_trade_id
    for code, scale in state.assets:
        engine.assets[AssetCode(code)] = Asset(AssetCode(code), scale)
    for spec, status in state.instruments:
        inst = Instrument(spec, engine.assets[spec.base].scale, engine.assets[spec.quote].scale)
        inst.status = InstrumentStatus(status)
        engine.add_market(inst, engine.book_factory(spec.symbol))
    for account, asset, available, held in state.balances:
        bal = engine.ledger.balance(AccountId(account), AssetCode(asset))
        bal.available, bal.held = available, held
    for account, symbol, net, cost, pnl, margin in state.positions:
        key = (AccountId(account), Symbol(symbol))
        pos = engine.positions[key] = Position(*key)
        pos.net_qty, pos.cost_ticks, pos.realized_pnl, pos.margin = net, cost, pnl, margin
    _queue_liquidations(engine)
    for symbol, price in state.last_price:
        engine.markets[Symbol(symbol)].last = price
    for row in state.orders:
        _restore_order(engine, row)
    for account, coid, cmd, order_id in state.client_ids:
        engine.account_state(AccountId(account)).ids.add(ClientOrderId(coid), Registered(
            cmd, OrderId(order_id)))
    engine.client_id_retention_ns = state.client_id_retention_ns
    for done, account, coid, order_id in state.retired:
        engine.retired.append(done, AccountId(account), ClientOrderId(coid), OrderId(order_id))
    for market in engine.markets.values():
        buys, sells = market.stops
        heapify(buys)
        heapify(sells)
    heapify(engine.expiry)
    return engine


def _queue_liquidations(engine: MatchingEngine) -> None:
    # The heaps are derived from the positions, so a snapshot does not carry them.
    for pos in engine.positions.values():
        inst = engine.instruments[pos.symbol]
        if inst.maint_ppm:
            engine.track_liquidation(inst, pos)


def _decode(payload: bytes) -> EngineState:
    try:
        state = _decoder.decode(payload)
    except msgspec.ValidationError as exc:
        raise InvariantViolation(f"snapshot state does not match version {STATE_VERSION}: "
                                 f"{exc}") from exc
    if state.version != STATE_VERSION:
        raise InvariantViolation(f"snapshot state version {state.version} is not "
                                 f"{STATE_VERSION}; replay the journal without it")
    return state


def _restore_order(engine: MatchingEngine, row: OrderRow) -> None:
    cmd = row.command
    inst = engine.instruments[cmd.symbol]
    is_buy = cmd.side == "buy"
    margin = inst.kind == InstrumentKind.MARGIN
    hold_asset = inst.quote if (is_buy or margin) else inst.base
    order = Order(OrderId(row.order_id), cmd, engine.ledger.balance(cmd.account, hold_asset))
    if not margin:
        order.receive = engine.ledger.balance(cmd.account, inst.base if is_buy else inst.quote)
    order.price, order.leaves, order.filled, order.held = (row.price, row.leaves, row.filled,
                                                           row.held)
    order.expire_ns = row.expire_ns
    owner = order.owner = engine.account_state(cmd.account)
    order.market = engine.markets[cmd.symbol]
    engine.orders_by_id[order.order_id] = order
    owner.open[cmd.client_order_id] = order
    if row.expire_ns:
        engine.expiry.append((row.expire_ns, row.order_id))
    if row.state == OrderState.STOP:
        order.state = OrderState.STOP
        buys, sells = engine.markets[cmd.symbol].stops
        stop = order.stop_price
        assert stop is not None
        if is_buy:
            buys.append((stop, row.order_id))
        else:
            sells.append((-stop, row.order_id))
    else:
        engine.books[cmd.symbol].add(order)
