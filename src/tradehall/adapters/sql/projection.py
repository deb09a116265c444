"""The fold of engine events into read-model rows: what a run of results changes, in memory.

`ProjectionCache` holds the rows the next events can touch without a query: every live order
(loaded when the projector starts, then kept from the events), spot holdings once touched, the
current candle of every (symbol, interval) and every instrument. `needs()` names the spot
holdings the coming results touch that are not cached (the projector loads them in the same
transaction); `fold()` applies the results to the cached rows and returns the rows that
changed. Rows are plain dicts keyed by column name; candles are kept as `Candle` state and
turned into rows when written.

Pure: no I/O, no clock. The cache is only valid for what is committed: after a failed write
the projector drops it (`ProjectionCache.clear`) and loads it again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from hashlib import sha1
from typing import Any

import msgspec

from tradehall.kernel import ids
from tradehall.kernel.clock import NANOS_PER_SECOND
from tradehall.kernel.errors import InvariantViolation
from tradehall.kernel.ids import AccountId, OrderId, Symbol
from tradehall.service.messages import BalanceSnapshot, CommandResult
from tradehall.trading import events as e
from tradehall.trading.model import InstrumentKind, OrderType

Row = dict[str, Any]
HoldingKey = tuple[str, str]  # (account, symbol)
CandleKey = tuple[str, int, int]  # (symbol, interval_s, start_ns)

CANDLE_INTERVALS: tuple[int, ...] = (60, 300, 900, 3_600, 14_400, 86_400)
OPEN_STATUSES: tuple[str, ...] = ("new", "partially_filled", "pending_new")
CLOSED_STATUSES: tuple[str, ...] = ("filled", "canceled", "expired")
_CLOSED = frozenset(CLOSED_STATUSES)
_STOP_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})
_SPOT = InstrumentKind.SPOT.value
# The namespace of kernel.ids.order_uuid, so that the fast version below gives the same UUIDs.
_ORDER_NAMESPACE = ids._NAMESPACE.bytes


def order_uuid(order_id: int) -> str:
    """`kernel.ids.order_uuid`, computed without building a `uuid.UUID` (twice as fast).

    The projector makes one per accepted order; `tests/unit/adapters/sql` checks both agree.
    """
    h = sha1(_ORDER_NAMESPACE + b"order:%d" % order_id).hexdigest()  # noqa: S324 - uuid5 is sha1
    version = (int(h[12:16], 16) & 0x0FFF) | 0x5000
    variant = (int(h[16:20], 16) & 0x3FFF) | 0x8000
    return f"{h[:8]}-{h[8:12]}-{version:x}-{variant:x}-{h[20:32]}"


class Candle:
    """The open candle of one (symbol, interval): OHLC in ticks, volume in lots."""

    __slots__ = ("close", "end_ns", "high", "interval_s", "low", "open", "start_ns", "symbol",
                 "trades", "volume")

    def __init__(self, symbol: str, interval_s: int, start_ns: int, open_: int, high: int,
                 low: int, close: int, volume: int, trades: int) -> None:
        self.symbol = symbol
        self.interval_s = interval_s
        self.start_ns = start_ns
        self.end_ns = start_ns + interval_s * NANOS_PER_SECOND
        self.open = open_
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
        self.trades = trades

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Candle:
        return cls(row["symbol"], row["interval_s"], row["start_ns"], row["open"], row["high"],
                   row["low"], row["close"], row["volume"], row["trades"])

    def row(self) -> Row:
        return {"symbol": self.symbol, "interval_s": self.interval_s, "start_ns": self.start_ns,
                "open": self.open, "high": self.high, "low": self.low, "close": self.close,
                "volume": self.volume, "trades": self.trades}


@dataclass(slots=True)
class Changes:
    """Rows to write for one transaction, each table's rows keyed by primary key."""

    last_seq: int
    orders: dict[int, Row] = field(default_factory=dict)
    fills: list[Row] = field(default_factory=list)
    positions: dict[HoldingKey, Row] = field(default_factory=dict)
    candles: dict[CandleKey, Row] = field(default_factory=dict)
    balances: dict[tuple[str, str], Row] = field(default_factory=dict)
    assets: dict[str, Row] = field(default_factory=dict)
    instruments: dict[str, Row] = field(default_factory=dict)
    # Not rows: reported by the projector once committed (operators watch for them).
    shortfalls: list[tuple[int, e.LossShortfall]] = field(default_factory=list)

    def row_count(self) -> int:
        return (len(self.orders) + len(self.fills) + len(self.positions) + len(self.candles)
                + len(self.balances) + len(self.assets) + len(self.instruments))


class ProjectionCache:
    """Committed rows the projector keeps to fold events without reading them back."""

    def __init__(self) -> None:
        self.loaded = False  # instruments, live orders and open candles are in
        self.orders: dict[int, Row] = {}  # every live order
        self.holdings: dict[HoldingKey, Row] = {}  # spot holdings touched so far
        self.candles: dict[str, list[Candle]] = {}  # per symbol, one per CANDLE_INTERVALS
        self.instruments: dict[str, Row] = {}

    def clear(self) -> None:
        self.loaded = False
        self.orders.clear()
        self.holdings.clear()
        self.candles.clear()
        self.instruments.clear()

    def load(self, instruments: Iterable[Mapping[Any, Any]],
             live_orders: Iterable[Mapping[Any, Any]],
             candles: Iterable[Mapping[Any, Any]]) -> None:
        """Take in what the projector read at start: instruments, live orders, newest candles."""
        self.instruments = {row["symbol"]: dict(row) for row in instruments}
        self.orders = {row["order_id"]: dict(row) for row in live_orders}
        newest: dict[tuple[str, int], Candle] = {}
        for row in candles:
            key = (row["symbol"], row["interval_s"])
            current = newest.get(key)
            if current is None or current.start_ns < row["start_ns"]:
                newest[key] = Candle.from_row(row)
        self.candles = {}
        for (symbol, _), candle in sorted(newest.items()):
            self.candles.setdefault(symbol, []).append(candle)
        for symbol, rows in self.candles.items():
            if [c.interval_s for c in rows] != sorted(CANDLE_INTERVALS):
                raise InvariantViolation(f"candles of {symbol} are incomplete",
                                         code="projection_gap")
        self.loaded = True

    def add_holdings(self, rows: Iterable[Mapping[Any, Any]]) -> None:
        for row in rows:
            self.holdings[(row["account"], row["symbol"])] = dict(row)

    def evict_done(self, changed: Iterable[Row]) -> None:
        """Drop the orders that reached a final state: no event can touch them again."""
        orders = self.orders
        for row in changed:
            if row["status"] in _CLOSED:
                orders.pop(row["order_id"], None)

    def is_spot(self, symbol: str) -> bool:
        row = self.instruments.get(symbol)
        return row is not None and row["kind"] == _SPOT


def bucket_start(ts_ns: int, interval_s: int) -> int:
    """Start of the candle of `interval_s` seconds that contains `ts_ns`."""
    width = interval_s * NANOS_PER_SECOND
    return ts_ns - ts_ns % width


def needs(results: Sequence[CommandResult], cache: ProjectionCache) -> set[HoldingKey]:
    """Return the spot holdings the results touch that must be read from the database first."""
    out: set[HoldingKey] = set()
    spot = {s for s, row in cache.instruments.items() if row["kind"] == _SPOT}
    holdings = cache.holdings
    trade, added = e.Trade, e.InstrumentAdded
    for result in results:
        for ev in result.events:
            kind = type(ev)
            if kind is trade:
                assert isinstance(ev, e.Trade)
                if ev.symbol in spot:
                    for key in ((ev.maker_account, ev.symbol), (ev.taker_account, ev.symbol)):
                        if key not in holdings:
                            out.add(key)
            elif kind is added:
                assert isinstance(ev, e.InstrumentAdded)
                if ev.spec.kind is InstrumentKind.SPOT:
                    spot.add(ev.spec.symbol)
    return out


def fold(results: Sequence[CommandResult], balances: Sequence[tuple[int, BalanceSnapshot]],
         cache: ProjectionCache, last_seq: int) -> Changes:
    """Apply results (and the balances reported after them) to the cache; return the changes.

    `balances` pairs each snapshot with the seq of the batch that reported it.
    """
    folder = Folder(cache, last_seq)
    folder.apply(results)
    return folder.finish(balances)


class Folder:
    """A fold in steps, so that the caller can yield to the event loop between them."""

    def __init__(self, cache: ProjectionCache, last_seq: int) -> None:
        self._folder = _Folder(cache, Changes(last_seq=last_seq))

    def apply(self, results: Sequence[CommandResult]) -> None:
        """Apply results, in seq order, after those applied before."""
        folder = self._folder
        dispatch = folder.dispatch
        for result in results:
            folder.seq = result.seq
            folder.ts = result.ts_ns
            for ev in result.events:
                handler = dispatch.get(type(ev))
                if handler is not None:
                    handler(ev)

    def finish(self, balances: Sequence[tuple[int, BalanceSnapshot]]) -> Changes:
        """Add the open candles touched and the balances; return every changed row."""
        folder = self._folder
        out = folder.changes
        candles = folder.cache.candles
        for symbol in folder.candle_symbols:
            for candle in candles[symbol]:
                out.candles[(symbol, candle.interval_s, candle.start_ns)] = candle.row()
        for seq, snap in balances:
            out.balances[(snap.account, snap.asset)] = {
                "account": snap.account, "asset": snap.asset, "available": snap.available,
                "held": snap.held, "seq": seq}
        return out


class _Folder:
    __slots__ = ("cache", "candle_symbols", "changes", "dispatch", "seq", "ts")

    def __init__(self, cache: ProjectionCache, changes: Changes) -> None:
        self.cache = cache
        self.changes = changes
        self.seq = 0
        self.ts = 0
        self.candle_symbols: set[str] = set()
        # Deposits, withdrawals, rejections and duplicates change no row: balances come with
        # the batch, and a rejected order never existed.
        self.dispatch: dict[type, Callable[[Any], None]] = {
            e.Trade: self.trade, e.OrderAccepted: self.accepted, e.OrderCanceled: self.canceled,
            e.OrderExpired: self.expired, e.OrderAmended: self.amended,
            e.StopTriggered: self.triggered, e.PositionChanged: self.position,
            e.AssetAdded: self.asset, e.InstrumentAdded: self.instrument,
            e.InstrumentStatusChanged: self.instrument_status, e.LossShortfall: self.shortfall}

    # -- Orders ---------------------------------------------------------------------------------

    def order(self, order_id: OrderId) -> Row:
        row = self.cache.orders.get(order_id)
        if row is None:
            raise InvariantViolation(f"event for order {order_id}, which is not live in the "
                                     "read model", code="projection_gap")
        row["updated_ns"] = self.ts
        row["seq"] = self.seq
        self.changes.orders[order_id] = row
        return row

    def accepted(self, ev: e.OrderAccepted) -> None:
        ts = self.ts
        row: Row = {
            "order_id": ev.order_id, "id": order_uuid(ev.order_id), "account": ev.account,
            "client_order_id": ev.client_order_id, "symbol": ev.symbol,
            "side": ev.side, "order_type": ev.order_type,
            "time_in_force": ev.time_in_force, "qty": ev.qty, "filled_qty": 0,
            "filled_notional": 0, "price": ev.price, "stop_price": ev.stop_price,
            "post_only": ev.post_only, "reduce_only": ev.reduce_only,
            "status": "pending_new" if ev.order_type in _STOP_TYPES else "new",
            "cancel_reason": None, "created_ns": ts, "updated_ns": ts, "filled_ns": None,
            "canceled_ns": None, "expired_ns": None, "seq": self.seq}
        self.cache.orders[ev.order_id] = row
        self.changes.orders[ev.order_id] = row

    def canceled(self, ev: e.OrderCanceled) -> None:
        row = self.order(ev.order_id)
        row["status"] = "canceled"
        row["cancel_reason"] = ev.reason
        row["canceled_ns"] = self.ts

    def expired(self, ev: e.OrderExpired) -> None:
        row = self.order(ev.order_id)
        row["status"] = "expired"
        row["expired_ns"] = self.ts

    def amended(self, ev: e.OrderAmended) -> None:
        row = self.order(ev.order_id)
        row["qty"] = row["filled_qty"] + ev.remaining_qty
        row["price"] = ev.price

    def shortfall(self, ev: e.LossShortfall) -> None:
        self.changes.shortfalls.append((self.seq, ev))

    def triggered(self, ev: e.StopTriggered) -> None:
        row = self.order(ev.order_id)
        if row["status"] == "pending_new":
            row["status"] = "new"

    # -- Trades ---------------------------------------------------------------------------------

    def trade(self, ev: e.Trade) -> None:
        # Enum members are str subclasses: drivers bind them as their values.
        taker_side = ev.taker_side
        maker_side = "buy" if taker_side == "sell" else "sell"
        spot = self.cache.is_spot(ev.symbol)
        fills = self.changes.fills
        for oid, account, coid, side, fee, leaves, liquidity in (
                (ev.maker_order_id, ev.maker_account, ev.maker_client_order_id, maker_side,
                 ev.maker_fee, ev.maker_leaves_qty, "maker"),
                (ev.taker_order_id, ev.taker_account, ev.taker_client_order_id, taker_side,
                 ev.taker_fee, ev.taker_leaves_qty, "taker")):
            fills.append({
                "trade_id": ev.trade_id, "liquidity": liquidity, "order_id": oid,
                "account": account, "client_order_id": coid, "symbol": ev.symbol,
                "side": side, "price": ev.price, "qty": ev.qty, "notional": ev.notional,
                "fee": fee, "leaves_qty": leaves, "ts_ns": self.ts, "seq": self.seq})
            row = self.order(oid)
            row["filled_qty"] += ev.qty
            row["filled_notional"] += ev.notional
            if leaves == 0:
                row["status"] = "filled"
                row["filled_ns"] = self.ts
            else:
                row["status"] = "partially_filled"
            if spot:
                self.holding(account, ev.symbol, side == "buy", ev.price, ev.qty)
        if not ev.off_book:  # a desk's fill is the accounts' history, not the market's
            self.candle(ev.symbol, ev.price, ev.qty)

    def holding(self, account: AccountId, symbol: Symbol, buy: bool, price: int,
                qty: int) -> None:
        key = (account, symbol)
        row = self.cache.holdings.get(key)
        if row is None:
            row = {"account": account, "symbol": symbol, "net_qty": 0, "cost_ticks": 0,
                   "realized_pnl": 0, "margin": 0, "seq": self.seq}
            self.cache.holdings[key] = row
        net, cost = row["net_qty"], row["cost_ticks"]
        if buy:
            net, cost = net + qty, cost + price * qty
        else:
            # Average cost: a sale removes its share of the basis. Units sold beyond what the
            # fills bought (deposited units) carry no basis and leave the holding at zero.
            sold = min(qty, net)
            if sold:
                cost -= cost * sold // net
                net -= sold
            if net == 0:
                cost = 0
        row["net_qty"] = net
        row["cost_ticks"] = cost
        row["seq"] = self.seq
        self.changes.positions[key] = row

    def candle(self, symbol: str, price: int, qty: int) -> None:
        ts = self.ts
        candles = self.cache.candles.get(symbol)
        if candles is None:
            candles = self.cache.candles[symbol] = [
                Candle(symbol, i, bucket_start(ts, i), price, price, price, price, 0, 0)
                for i in CANDLE_INTERVALS]
        self.candle_symbols.add(symbol)
        for i, candle in enumerate(candles):
            if ts >= candle.end_ns:
                # The bucket closed: write its last state, start the next one at this trade.
                self.changes.candles[(symbol, candle.interval_s, candle.start_ns)] = candle.row()
                interval = candle.interval_s
                candle = candles[i] = Candle(symbol, interval, bucket_start(ts, interval),
                                             price, price, price, price, 0, 0)
            elif ts < candle.start_ns:
                raise InvariantViolation(f"trade at {ts} is older than the candle at "
                                         f"{candle.start_ns}", code="projection_order")
            if price > candle.high:
                candle.high = price
            elif price < candle.low:
                candle.low = price
            candle.close = price
            candle.volume += qty
            candle.trades += 1

    # -- Positions and reference data -----------------------------------------------------------

    def position(self, ev: e.PositionChanged) -> None:
        self.changes.positions[(ev.account, ev.symbol)] = {
            "account": ev.account, "symbol": ev.symbol, "net_qty": ev.net_qty,
            "cost_ticks": ev.cost_ticks, "realized_pnl": ev.realized_pnl, "margin": ev.margin,
            "seq": self.seq}

    def asset(self, ev: e.AssetAdded) -> None:
        self.changes.assets[ev.asset] = {"asset": ev.asset, "scale": ev.scale, "seq": self.seq}

    def instrument(self, ev: e.InstrumentAdded) -> None:
        spec = ev.spec
        row = {"symbol": spec.symbol, "kind": str(spec.kind), "base": spec.base,
               "quote": spec.quote, "status": str(spec.status),
               "spec": msgspec.json.encode(spec).decode(), "seq": self.seq}
        self.cache.instruments[spec.symbol] = row
        self.changes.instruments[spec.symbol] = row

    def instrument_status(self, ev: e.InstrumentStatusChanged) -> None:
        row = self.cache.instruments[ev.symbol]
        row["status"] = str(ev.status)
        row["seq"] = self.seq
        self.changes.instruments[ev.symbol] = row

