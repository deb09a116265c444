"""The fold of engine events into read-model rows: what a run of results changes, in memory.

`ProjectionCache` holds the rows the next events can touch without a query: live orders,
spot holdings, the current candle of every (symbol, interval), every instrument. `needs()` says
which rows of the coming results are not cached (the projector loads them from the database
in the same transaction), and `fold()` applies the results to the cached rows and returns the
rows that changed. Rows are plain dicts keyed by column name, ready for an executemany.

Pure: no I/O, no clock. The cache is only valid for what is committed: after a failed write
the projector drops it (`ProjectionCache.clear`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tradehall.kernel.clock import NANOS_PER_SECOND
from tradehall.kernel.errors import InvariantViolation
from tradehall.kernel.ids import AccountId, OrderId, Symbol, order_uuid
from tradehall.service.messages import BalanceSnapshot, CommandResult
from tradehall.trading import events as e
from tradehall.trading.model import InstrumentKind, OrderType, Side

Row = dict[str, Any]
HoldingKey = tuple[str, str]  # (account, symbol)
CandleKey = tuple[str, int, int]  # (symbol, interval_s, start_ns)

CANDLE_INTERVALS: tuple[int, ...] = (60, 300, 900, 3_600, 14_400, 86_400)
OPEN_STATUSES: tuple[str, ...] = ("new", "partially_filled", "pending_new")
CLOSED_STATUSES: tuple[str, ...] = ("filled", "canceled", "expired")
_STOP_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})
_SPOT = InstrumentKind.SPOT.value


@dataclass(slots=True)
class Needs:
    """Rows the coming results touch that the cache does not hold."""

    order_ids: set[int] = field(default_factory=set)
    holdings: set[HoldingKey] = field(default_factory=set)
    candles: set[CandleKey] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.order_ids or self.holdings or self.candles)


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

    def row_count(self) -> int:
        return (len(self.orders) + len(self.fills) + len(self.positions) + len(self.candles)
                + len(self.balances) + len(self.assets) + len(self.instruments))


class ProjectionCache:
    """Committed rows the projector keeps to fold events without reading them back."""

    def __init__(self) -> None:
        self.orders: dict[int, Row] = {}  # live orders only
        self.holdings: dict[HoldingKey, Row] = {}  # spot holdings
        self.candles: dict[tuple[str, int], Row] = {}  # the newest bucket per (symbol, interval)
        self.instruments: dict[str, Row] = {}

    def clear(self) -> None:
        """Forget everything but the instruments (reloaded by the projector)."""
        self.orders.clear()
        self.holdings.clear()
        self.candles.clear()

    def load_instruments(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self.instruments = {row["symbol"]: dict(row) for row in rows}

    def add_loaded(self, orders: Iterable[Mapping[str, Any]],
                   holdings: Iterable[Mapping[str, Any]],
                   candles: Iterable[Mapping[str, Any]]) -> None:
        """Take in the rows the projector read for `needs()`."""
        for row in orders:
            self.orders[row["order_id"]] = dict(row)
        for row in holdings:
            self.holdings[(row["account"], row["symbol"])] = dict(row)
        for row in candles:
            self.candles[(row["symbol"], row["interval_s"])] = dict(row)

    def evict_done(self, changed: Iterable[Row]) -> None:
        """Drop the orders that reached a final state: no event can touch them again."""
        for row in changed:
            if row["status"] in CLOSED_STATUSES:
                self.orders.pop(row["order_id"], None)

    def is_spot(self, symbol: str) -> bool:
        row = self.instruments.get(symbol)
        return row is not None and row["kind"] == _SPOT


def bucket_start(ts_ns: int, interval_s: int) -> int:
    """Start of the candle of `interval_s` seconds that contains `ts_ns`."""
    width = interval_s * NANOS_PER_SECOND
    return ts_ns - ts_ns % width


def needs(results: Sequence[CommandResult], cache: ProjectionCache) -> Needs:
    """Return the rows the results touch that must be read from the database first."""
    scan = _NeedsScan(cache)
    for result in results:
        for ev in result.events:
            if isinstance(ev, e.Trade):
                scan.trade(ev, result.ts_ns)
            elif isinstance(ev, e.OrderAccepted):
                scan.accepted.add(ev.order_id)
            elif isinstance(ev, e.OrderCanceled | e.OrderExpired | e.OrderAmended
                            | e.StopTriggered):
                scan.order(ev.order_id)
            elif isinstance(ev, e.InstrumentAdded) and ev.spec.kind is InstrumentKind.SPOT:
                scan.spot.add(ev.spec.symbol)
    return scan.out


class _NeedsScan:
    __slots__ = ("accepted", "cache", "out", "spot")

    def __init__(self, cache: ProjectionCache) -> None:
        self.cache = cache
        self.out = Needs()
        self.accepted: set[int] = set()
        self.spot = {s for s, row in cache.instruments.items() if row["kind"] == _SPOT}

    def order(self, order_id: int) -> None:
        if order_id not in self.cache.orders and order_id not in self.accepted:
            self.out.order_ids.add(order_id)

    def trade(self, ev: e.Trade, ts_ns: int) -> None:
        self.order(ev.maker_order_id)
        self.order(ev.taker_order_id)
        if ev.symbol in self.spot:
            for account in (ev.maker_account, ev.taker_account):
                if (account, ev.symbol) not in self.cache.holdings:
                    self.out.holdings.add((account, ev.symbol))
        for interval in CANDLE_INTERVALS:
            start = bucket_start(ts_ns, interval)
            current = self.cache.candles.get((ev.symbol, interval))
            if current is None or current["start_ns"] > start:
                self.out.candles.add((ev.symbol, interval, start))


def fold(results: Sequence[CommandResult], balances: Sequence[tuple[int, BalanceSnapshot]],
         cache: ProjectionCache, last_seq: int) -> Changes:
    """Apply results (and the balances reported after them) to the cache; return the changes.

    `balances` pairs each snapshot with the seq of the batch that reported it.
    """
    folder = _Folder(cache, Changes(last_seq=last_seq))
    for result in results:
        folder.result(result)
    for seq, snap in balances:
        folder.changes.balances[(snap.account, snap.asset)] = {
            "account": snap.account, "asset": snap.asset, "available": snap.available,
            "held": snap.held, "seq": seq}
    return folder.changes


class _Folder:
    __slots__ = ("cache", "changes", "seq", "ts")

    def __init__(self, cache: ProjectionCache, changes: Changes) -> None:
        self.cache = cache
        self.changes = changes
        self.seq = 0
        self.ts = 0

    def result(self, result: CommandResult) -> None:
        self.seq = result.seq
        self.ts = result.ts_ns
        for ev in result.events:
            if isinstance(ev, e.Trade):
                self.trade(ev)
            elif isinstance(ev, e.OrderAccepted):
                self.accepted(ev)
            elif isinstance(ev, e.OrderCanceled):
                row = self.order(ev.order_id)
                row.update(status="canceled", cancel_reason=ev.reason, canceled_ns=self.ts)
            elif isinstance(ev, e.OrderExpired):
                self.order(ev.order_id).update(status="expired", expired_ns=self.ts)
            elif isinstance(ev, e.OrderAmended):
                row = self.order(ev.order_id)
                row.update(qty=row["filled_qty"] + ev.remaining_qty, price=ev.price)
            elif isinstance(ev, e.StopTriggered):
                row = self.order(ev.order_id)
                if row["status"] == "pending_new":
                    row["status"] = "new"
            elif isinstance(ev, e.PositionChanged):
                self.changes.positions[(ev.account, ev.symbol)] = {
                    "account": ev.account, "symbol": ev.symbol, "net_qty": ev.net_qty,
                    "cost_ticks": ev.cost_ticks, "realized_pnl": ev.realized_pnl,
                    "margin": ev.margin, "seq": self.seq}
            else:
                self.reference(ev)

    def reference(self, ev: e.EngineEvent) -> None:
        if isinstance(ev, e.AssetAdded):
            self.changes.assets[ev.asset] = {"asset": ev.asset, "scale": ev.scale,
                                             "seq": self.seq}
        elif isinstance(ev, e.InstrumentAdded):
            spec = ev.spec
            row = {"symbol": spec.symbol, "kind": spec.kind.value, "base": spec.base,
                   "quote": spec.quote, "status": spec.status.value,
                   "spec": msgspec.json.encode(spec).decode(), "seq": self.seq}
            self.cache.instruments[spec.symbol] = row
            self.changes.instruments[spec.symbol] = row
        elif isinstance(ev, e.InstrumentStatusChanged):
            row = self.cache.instruments[ev.symbol]
            row.update(status=ev.status.value, seq=self.seq)
            self.changes.instruments[ev.symbol] = row
        # Deposits, withdrawals, rejections and duplicates change no row here: balances come
        # with the batch, and a rejected order never existed.

    def order(self, order_id: OrderId) -> Row:
        row = self.cache.orders.get(order_id)
        if row is None:
            raise InvariantViolation(f"event for order {order_id}, which the read model "
                                     "does not hold", code="projection_gap")
        row["updated_ns"] = self.ts
        row["seq"] = self.seq
        self.changes.orders[order_id] = row
        return row

    def accepted(self, ev: e.OrderAccepted) -> None:
        row: Row = {
            "order_id": ev.order_id, "id": order_uuid(ev.order_id), "account": ev.account,
            "client_order_id": ev.client_order_id, "symbol": ev.symbol, "side": ev.side.value,
            "order_type": ev.order_type.value, "time_in_force": ev.time_in_force.value,
            "qty": ev.qty, "filled_qty": 0, "filled_notional": 0, "price": ev.price,
            "stop_price": ev.stop_price, "post_only": ev.post_only,
            "reduce_only": ev.reduce_only,
            "status": "pending_new" if ev.order_type in _STOP_TYPES else "new",
            "cancel_reason": None, "created_ns": self.ts, "updated_ns": self.ts,
            "filled_ns": None, "canceled_ns": None, "expired_ns": None, "seq": self.seq}
        self.cache.orders[ev.order_id] = row
        self.changes.orders[ev.order_id] = row

    def trade(self, ev: e.Trade) -> None:
        maker_side = Side.BUY if ev.taker_side is Side.SELL else Side.SELL
        spot = self.cache.is_spot(ev.symbol)
        for oid, account, coid, side, fee, leaves, liquidity in (
                (ev.maker_order_id, ev.maker_account, ev.maker_client_order_id, maker_side,
                 ev.maker_fee, ev.maker_leaves_qty, "maker"),
                (ev.taker_order_id, ev.taker_account, ev.taker_client_order_id, ev.taker_side,
                 ev.taker_fee, ev.taker_leaves_qty, "taker")):
            self.changes.fills.append({
                "trade_id": ev.trade_id, "liquidity": liquidity, "order_id": oid,
                "account": account, "client_order_id": coid, "symbol": ev.symbol,
                "side": side.value, "price": ev.price, "qty": ev.qty, "notional": ev.notional,
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
                self.holding(account, ev.symbol, side, ev.price, ev.qty)
        self.candle(ev)

    def holding(self, account: AccountId, symbol: Symbol, side: Side, price: int,
                qty: int) -> None:
        key = (account, symbol)
        row = self.cache.holdings.get(key)
        if row is None:
            row = {"account": account, "symbol": symbol, "net_qty": 0, "cost_ticks": 0,
                   "realized_pnl": 0, "margin": 0, "seq": self.seq}
            self.cache.holdings[key] = row
        net, cost = row["net_qty"], row["cost_ticks"]
        if side is Side.BUY:
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
        row.update(net_qty=net, cost_ticks=cost, seq=self.seq)
        self.changes.positions[key] = row

    def candle(self, ev: e.Trade) -> None:
        for interval in CANDLE_INTERVALS:
            start = bucket_start(self.ts, interval)
            row = self.cache.candles.get((ev.symbol, interval))
            if row is None or row["start_ns"] < start:
                row = {"symbol": ev.symbol, "interval_s": interval, "start_ns": start,
                       "open": ev.price, "high": ev.price, "low": ev.price, "close": ev.price,
                       "volume": 0, "trades": 0}
                self.cache.candles[(ev.symbol, interval)] = row
            elif row["start_ns"] > start:
                raise InvariantViolation(f"trade at {self.ts} is older than the candle at "
                                         f"{row['start_ns']}", code="projection_order")
            row["high"] = max(row["high"], ev.price)
            row["low"] = min(row["low"], ev.price)
            row["close"] = ev.price
            row["volume"] += ev.qty
            row["trades"] += 1
            self.changes.candles[(ev.symbol, interval, start)] = row
