"""Engine state, the settlement of fills, and the bookkeeping every part shares.

`Settlement` owns the state every part of the engine shares (instruments, books, ledger,
positions, order indexes, counters) and moves the money of each fill: for spot, the buyer's
held quote pays the seller and the fee account, and the seller's held base goes to the buyer;
for margin, each side pays its fee, takes or releases margin, and realizes P&L against the
clearing account. A liquidation order pays the liquidation fee into the insurance fund instead
of the taker fee, and the fund covers what an account cannot pay of a loss, as far as it can.
Every movement is a balanced pair of postings. No I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from heapq import heapify, heappush
from typing import Any, Final

from tradehall.engine import risk
from tradehall.engine.book import Book
from tradehall.engine.liquidation import liquidation_key
from tradehall.engine.orders import (
    MARKET,
    AccountState,
    ClientIdRegister,
    LiquidationHeaps,
    Market,
    Order,
    OrderState,
    StopHeaps,
)
from tradehall.kernel.clock import NANOS_PER_DAY
from tradehall.kernel.errors import InvariantViolation
from tradehall.kernel.ids import (
    CLEARING_ACCOUNT,
    INSURANCE_ACCOUNT,
    AccountId,
    AssetCode,
    ClientOrderId,
    OrderId,
    Symbol,
    TradeId,
)
from tradehall.ledger.model import Asset, Balance, Ledger
from tradehall.trading import events as e
from tradehall.trading.instrument import PPM, Instrument
from tradehall.trading.positions import Position

COMPACT_MIN: Final = 1024  # liquidation, stop and expiry heaps: compacted only past this size
Retired = tuple[int, AccountId, ClientOrderId, OrderId]  # (done at ns, account, id, order id)
DEFAULT_CLIENT_ID_RETENTION_NS: Final = NANOS_PER_DAY
_CHUNK: Final = 256  # slots per chunk of `RetiredIds`: 64 entries of four (see there)
_CUT_MIN: Final = 64  # spent chunks are cut off `RetiredIds` past this many


class RetiredIds:
    """Finished orders whose client order ids are still kept, oldest first.

    Stored flat, four slots per entry (done time, account, client order id, order id), in
    chunks of `_CHUNK` slots: entries are appended to the `_tail` list, which is sealed into a
    tuple of `_full` when it fills. Why this shape:
    - a tuple per finished order would be an object the cyclic GC tracks (their allocation
      alone doubled the young collections);
    - one ever-growing list per field made each reallocation copy the whole list, and each
      cut of the popped entries move the rest (4 million entries: a 200 ms stop);
    - the collector traverses a list's items on every full collection (70 ms per million
      entries), but stops tracking a tuple of strings and ints after its first collection.
    A spent chunk is freed at once; chunks before `_first` are cut off `_full` once they are
    most of it, so a pop is amortized O(1).
    """

    __slots__ = ("_fill", "_first", "_full", "_head", "_size", "_tail")

    def __init__(self) -> None:
        self._full: list[tuple[Any, ...]] = []  # sealed chunks, oldest first
        self._tail: list[Any] = [None] * _CHUNK  # the chunk appended to, after the sealed ones
        self._fill = 0  # slots of the tail in use
        self._first = 0  # index in `_full` of the oldest entry's chunk; len(_full): the tail
        self._head = 0  # slot of the oldest entry in that chunk
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Retired]:
        head = self._head
        for chunk in self._full[self._first:]:
            for i in range(head, _CHUNK, 4):
                yield chunk[i], chunk[i + 1], chunk[i + 2], chunk[i + 3]
            head = 0
        tail = self._tail
        for i in range(head, self._fill, 4):
            yield tail[i], tail[i + 1], tail[i + 2], tail[i + 3]

    def first_done_ns(self) -> int:
        """Done time of the oldest entry, -1 when empty."""
        if not self._size:
            return -1
        first, full = self._first, self._full
        done: int = full[first][self._head] if first < len(full) else self._tail[self._head]
        return done

    def append(self, done_ns: int, account: AccountId, client_order_id: ClientOrderId,
               order_id: Any) -> None:  # an OrderId; `Any` takes the order's boxed id as is
        tail, i = self._tail, self._fill
        if i >= _CHUNK:
            self._full.append(tuple(tail))  # the tail's next use overwrites every slot
            i = 0
        tail[i] = done_ns
        tail[i + 1] = account
        tail[i + 2] = client_order_id
        tail[i + 3] = order_id
        self._fill = i + 4
        self._size += 1

    def popleft(self) -> Retired:
        if not self._size:
            raise IndexError("pop from an empty RetiredIds")
        full, first, head = self._full, self._first, self._head
        entry: Retired
        if first < len(full):
            chunk = full[first]
            entry = (chunk[head], chunk[head + 1], chunk[head + 2], chunk[head + 3])
            head += 4
            if head >= _CHUNK:
                head = 0
                full[first] = ()  # freed now, a chunk at a time, not all at the cut
                first += 1
                if first >= _CUT_MIN and 2 * first >= len(full):
                    del full[:first]
                    first = 0
        else:
            tail = self._tail
            entry = (tail[head], tail[head + 1], tail[head + 2], tail[head + 3])
            head += 4
            if head >= self._fill:  # nothing is left: write the tail again from its start
                head = self._fill = 0
        self._size -= 1
        self._first, self._head = first, head
        return entry


def _is_stop(order: Order | None) -> bool:
    return order is not None and order.state is OrderState.STOP


def settle_position(inst: Instrument, pos: Position, is_buy: bool, price: int, qty: int,
                    cash: int) -> tuple[int, int, int, int, int]:
    """Apply one side of a margin fill of `qty` lots at `price` to its position.

    Lots that reduce the position close first, the rest open it in the fill's direction.
    Returns (lots closed, margin freed, realized P&L, margin taken, shortfall), money in quote
    minor units. `cash` is what the account has available before the fill: the realized loss
    is capped at that plus the freed margin, and the rest of it is the shortfall, which the
    insurance fund and then the venue bear (liquidation, where the instrument has a
    maintenance rate, closes positions before that point). The fill-or-kill check
    runs this on copies of positions, so both see the same arithmetic.
    """
    closed = min(qty, pos.reducible(is_buy))
    released = pnl = margin = shortfall = 0
    if closed:
        size = pos.net_qty if pos.net_qty > 0 else -pos.net_qty  # not abs(): see risk.py
        released = pos.margin * closed // size
        pnl_ticks, _ = pos.reduce(closed, price)
        pos.margin -= released
        pnl = inst.quote_floor(pnl_ticks)
        if pnl < 0 and -pnl > cash + released:
            shortfall = -pnl - cash - released
            pnl = -(cash + released)
        pos.realized_pnl += pnl
    opening = qty - closed
    if opening:
        margin = inst.notional_floor(price, opening) * inst.margin_ppm // PPM
        pos.margin += margin
        pos.increase(opening, price, is_buy)
    return closed, released, pnl, margin, shortfall


# Hot event classes as C statics when compiled (a module attribute lookup otherwise).
_Trade: Final = e.Trade
_PositionChanged: Final = e.PositionChanged
_LossShortfall: Final = e.LossShortfall


class Settlement:
    """Shared engine state and fill settlement."""

    def __init__(self) -> None:
        self.assets: dict[AssetCode, Asset] = {}
        self.instruments: dict[Symbol, Instrument] = {}
        self.books: dict[Symbol, Book] = {}
        # Per symbol in one object: the instrument and book above, the stop orders' heaps (buy
        # stops, sell stops negated), the liquidation heaps (derived from positions, rebuilt
        # on restore, not state; stale entries are skipped), the last trade price.
        self.markets: dict[Symbol, Market] = {}
        self.ledger = Ledger()
        self.positions: dict[tuple[AccountId, Symbol], Position] = {}
        self.open_orders: dict[AccountId, dict[ClientOrderId, Order]] = {}
        # Live orders between commands: resting and stop orders (an order that never rests
        # is not indexed, so most takers cost no insert and delete).
        self.orders_by_id: dict[OrderId, Order] = {}
        # Client order ids taken: those of open orders, and of finished ones until their
        # retention window (engine time) passes; `retired` lists the finished ones in the order
        # they finished, which is also the order of their done times.
        self.client_ids: dict[AccountId, ClientIdRegister] = {}
        # One entry per account that ever had an order admitted: its balances, open orders
        # and register above, reached with one lookup (an index, not state).
        self.accounts: dict[AccountId, AccountState] = {}
        self.retired = RetiredIds()
        self.client_id_retention_ns = DEFAULT_CLIENT_ID_RETENTION_NS
        self.next_order_id = 1
        self.next_trade_id = 1
        self.now_ns = 0
        self.expiry: list[tuple[int, int]] = []
        # An expiry or stop heap holds over twice as many entries as there are live orders:
        # entries of finished orders are dropped lazily, and without a compaction they would
        # pile up for ever (a stop far from the price) or be popped all at once (a day of
        # canceled DAY orders at midnight). Compacted at the start of the next command.
        self.heaps_due = False
        self._out: list[e.EngineEvent] = []

    @property
    def stops(self) -> dict[Symbol, StopHeaps]:
        """The stop order heaps of every symbol (a new dict of the live heaps)."""
        return {symbol: market.stops for symbol, market in self.markets.items()}

    @property
    def liquidations(self) -> dict[Symbol, LiquidationHeaps]:
        """The liquidation heaps of every symbol (a new dict of the live heaps)."""
        return {symbol: market.liquidations for symbol, market in self.markets.items()}

    @property
    def last_price(self) -> dict[Symbol, int]:
        """Last trade price of every symbol that has traded (a copy)."""
        return {symbol: market.last for symbol, market in self.markets.items() if market.last}

    def add_market(self, inst: Instrument, book: Book) -> Market:
        """Index a new instrument with its empty book."""
        symbol = inst.symbol
        market = self.markets[symbol] = Market(inst, book, ([], []), ([], []))
        self.instruments[symbol] = inst
        self.books[symbol] = book
        return market

    def account_state(self, account: AccountId) -> AccountState:
        """Return the account's indexes, creating them on first use."""
        state = self.accounts.get(account)
        if state is None:
            state = self.accounts[account] = AccountState(
                self.ledger.assets_of(account), self.open_orders.setdefault(account, {}),
                self.client_ids.setdefault(account, ClientIdRegister()))
        return state

    def _affordable(self, order: Order, inst: Instrument, price: int, qty: int) -> int:
        """Clip a taker's fill to what its hold can still pay for.

        A priced spot hold covers every fill at that price or better, so only market buys
        need the check. Margin and fees grow with the price, so a margin sell filling above
        the price it held at (a stop triggered above its collar) may need more than it holds:
        margin takers are always checked, and first top their hold up from available.
        """
        if inst.is_margin:
            if order.liquidation:
                return qty  # it only closes, and its fee is capped by what the fill leaves
            # Lots that reduce the position release margin instead of taking it.
            lots, extra = risk.margin_affordable(inst, price, qty, order.held,
                                                 order.hold.available,
                                                 self._reducible(order, inst))
            if extra > 0:
                self.ledger.hold(order.hold, extra)
                order.held += extra
            return lots
        if order.order_type is not MARKET or not order.is_buy:
            return qty
        return risk.affordable_lots(inst, price, order.held, inst.taker_ppm, qty)

    def _reducible(self, order: Order, inst: Instrument) -> int:
        pos = self.positions.get((order.account, inst.symbol))
        return 0 if pos is None else pos.reducible(order.is_buy)

    def _fill(self, inst: Instrument, book: Book, maker: Order, taker: Order, price: int,
              qty: int, off_book: bool = False) -> None:
        """Settle one fill of `taker` against `maker`. An off-book fill (the desk's, at a
        price agreed away from the book) leaves the last price alone, so it can neither
        trigger nor move stops, liquidations, price bands or the stop collar."""
        notional = inst.notional_floor(price, qty)
        maker_fee = notional * inst.maker_ppm // PPM
        if inst.is_margin:
            # Only a taker can be a liquidation order (IOC: it never rests).
            taker_ppm = inst.liquidation_fee_ppm if taker.liquidation else inst.taker_ppm
            self._settle_margin(inst, maker, price, qty, maker_fee)
            taker_fee = self._settle_margin(inst, taker, price, qty,
                                            notional * taker_ppm // PPM)
        elif taker.is_buy:
            taker_fee = notional * inst.taker_ppm // PPM
            self._settle_spot(inst, taker, maker, notional, taker_fee, maker_fee, qty)
        else:
            taker_fee = notional * inst.taker_ppm // PPM
            self._settle_spot(inst, maker, taker, notional, maker_fee, taker_fee, qty)
        maker.filled += qty
        taker.filled += qty
        taker.leaves -= qty
        book.reduce(maker, qty)
        trade_id = TradeId(self.next_trade_id)
        self.next_trade_id += 1
        if not off_book:
            market = taker.market
            assert market is not None  # set with the order
            market.last = price
        self._out.append(_Trade(
            trade_id, inst.symbol, price, qty, notional, taker.side, maker.boxed_id,
            maker.account, maker.client_order_id, maker_fee, maker.leaves, taker.boxed_id,
            taker.account, taker.client_order_id, taker_fee, taker.leaves, off_book))
        if maker.leaves == 0:
            self._finish(maker)

    def _settle_spot(self, inst: Instrument, buyer: Order, seller: Order, notional: int,
                     buyer_fee: int, seller_fee: int, qty: int) -> None:
        cost = notional + buyer_fee
        self._take_from_hold(buyer, cost)
        buyer.hold.held -= cost
        seller_quote = seller.receive
        buyer_base = buyer.receive
        assert seller_quote is not None
        assert buyer_base is not None
        seller_quote.available += notional - seller_fee
        self._fee_balance(buyer).available += buyer_fee + seller_fee
        base = qty * inst.base_per_lot
        self._take_from_hold(seller, base)
        seller.hold.held -= base
        buyer_base.available += base

    def _settle_margin(self, inst: Instrument, order: Order, price: int, qty: int,
                       fee: int) -> int:
        """Settle one side of a margin fill; return the fee it paid."""
        key = (order.account, inst.symbol)
        pos = self.positions.get(key)
        if pos is None:
            pos = self.positions[key] = Position(order.account, inst.symbol)
        bal = order.hold
        closed, released, pnl, margin, shortfall = settle_position(
            inst, pos, order.is_buy, price, qty, bal.available)
        if order.liquidation:
            # It holds nothing (reduce-only: no margin taken), so the liquidation fee comes
            # out of what the fill leaves the account, never more: no balance goes negative.
            left = bal.available + released + pnl
            if fee > left:
                fee = left
            bal.held -= released
            bal.available = left - fee
            if fee:  # an empty fund bucket is not created
                self.ledger.balance(INSURANCE_ACCOUNT, inst.quote).available += fee
        else:
            self._take_from_hold(order, fee + margin)  # the margin stays in the held bucket
            bal.held -= fee + released
            bal.available += released + pnl
            self._fee_balance(order).available += fee
        if closed:
            self.ledger.balance(CLEARING_ACCOUNT, inst.quote).available -= pnl
        self._out.append(_PositionChanged(order.account, inst.symbol, pos.net_qty,
                                           pos.cost_ticks, pos.realized_pnl, pos.margin))
        if shortfall:
            covered = self.ledger.cover_shortfall(inst.quote, shortfall)
            self._out.append(_LossShortfall(
                account=order.account, symbol=inst.symbol, asset=inst.quote,
                shortfall=shortfall, covered=covered, uncovered=shortfall - covered))
        if inst.maint_ppm:
            self.track_liquidation(inst, pos)
        return fee

    def track_liquidation(self, inst: Instrument, pos: Position) -> None:
        """Queue `pos` under its current liquidation price (when that changed)."""
        key = liquidation_key(inst, pos)
        if key == pos.liquidation_key:
            return
        pos.liquidation_key = key
        if not key:
            return
        longs, shorts = self.markets[inst.symbol].liquidations
        heap = longs if key < 0 else shorts
        heappush(heap, (key, pos.account))
        if len(heap) > COMPACT_MIN and len(heap) > 2 * len(self.positions):
            self._rebuild_liquidations(inst.symbol)

    def _rebuild_liquidations(self, symbol: Symbol) -> None:
        """Drop the stale entries of one symbol's heaps (amortized: the heaps grew past twice
        the number of positions since the last rebuild)."""
        longs, shorts = self.markets[symbol].liquidations  # in place: a trigger loop holds them
        longs.clear()
        shorts.clear()
        for pos in self.positions.values():
            key = pos.liquidation_key
            if key and pos.symbol == symbol:
                (longs if key < 0 else shorts).append((key, pos.account))
        heapify(longs)
        heapify(shorts)

    def _fee_balance(self, order: Order) -> Balance:
        market = order.market
        assert market is not None  # set with the order
        bal = market.fees
        if bal is None:
            bal = market.fees = self.ledger.fee_balance(market.inst.quote)
        return bal

    @staticmethod
    def _take_from_hold(order: Order, amount: int) -> None:
        if amount > order.held:
            raise InvariantViolation(f"order {order.order_id} holds {order.held}, "
                                     f"needs {amount}")
        order.held -= amount

    def _finish(self, order: Order) -> None:
        """Take a live order out of every index and release what it still holds."""
        state = order.state
        if state is OrderState.RESTING:
            market = order.market
            assert market is not None  # a resting order's symbol exists
            market.book.remove(order)
        if state is OrderState.RESTING or state is OrderState.STOP:
            owner = order.owner
            assert owner is not None  # a live order was admitted
            del owner.open[order.client_order_id]
            del self.orders_by_id[order.boxed_id]
        order.state = OrderState.DONE
        self.retired.append(self.now_ns, order.account, order.client_order_id, order.boxed_id)
        if order.held:
            self.ledger.release(order.hold, order.held)
            order.held = 0

    def prune_client_ids(self, now: int) -> None:
        """Free the client order ids of orders done at least the retention window ago."""
        window = self.client_id_retention_ns
        retired = self.retired
        if not window:
            return
        while retired and retired.first_done_ns() + window <= now:
            _, account, client_order_id, order_id = retired.popleft()
            register = self.client_ids.get(account)
            if register is not None:
                # An emptied register stays: the account's `AccountState` holds it.
                register.discard(client_order_id, order_id)

    def schedule_expiry(self, order: Order, ts: int) -> None:
        """Expire a DAY order at the end of the UTC day it was accepted in."""
        order.expire_ns = (ts // NANOS_PER_DAY + 1) * NANOS_PER_DAY
        heap = self.expiry
        heappush(heap, (order.expire_ns, order.order_id))
        if len(heap) > COMPACT_MIN and len(heap) > 2 * len(self.orders_by_id):
            self.heaps_due = True

    def compact_heaps(self) -> None:
        """Drop the entries of finished orders from the expiry and stop heaps.

        Runs between commands, when every live order is indexed by id. Pops stay in the same
        order (entries are totally ordered: no two share an order id), so events do not
        change; amortized O(1) per entry, since a heap is compacted only past twice the number
        of live orders.
        """
        self.heaps_due = False
        live = self.orders_by_id
        limit = 2 * len(live)
        expiry = self.expiry
        if len(expiry) > COMPACT_MIN and len(expiry) > limit:
            expiry[:] = [entry for entry in expiry if entry[1] in live]
            heapify(expiry)
        for market in self.markets.values():
            for heap in market.stops:  # in place: the market holds them
                if len(heap) > COMPACT_MIN and len(heap) > limit:
                    heap[:] = [entry for entry in heap if _is_stop(live.get(OrderId(entry[1])))]
                    heapify(heap)

    def _reject_command(self, command: str, account: AccountId | None,
                        reason: tuple[str, str],
                        client_order_id: ClientOrderId | None = None) -> None:
        self._out.append(e.CommandRejected(command=command, account=account,
                                           client_order_id=client_order_id,
                                           reason=reason[0], message=reason[1]))
