"""The market-data hub: books, recent trades, tickers and live candles of every symbol.

Fed one `EventBatch` at a time (in sequence order, from an `EventBus` subscription), it keeps
per symbol the top-N book view the engine publishes (each `BookUpdate` applied with
`depth.apply_update`, with the symbol's book seq), a bounded ring of recent trades, the live
candles of every interval (`candles.py`) and what the 24 h ticker needs (`ticker.py`), from book
trades only (a desk's off-book fill is left out). `apply` returns what changed so a publisher
can fan it out without diffing. All values are integers (ticks, lots); the edges render them
with the instrument. Pure: no I/O, no clock (time is the batch's engine time), never touches the
engine.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import msgspec

from tradehall.engine.queries import LevelView
from tradehall.kernel.ids import Symbol, TradeId
from tradehall.marketdata.candles import INTERVALS, CandleSeries, LiveCandle
from tradehall.marketdata.depth import Side, apply_update
from tradehall.marketdata.ticker import WINDOW_MINUTES, TickerView, compute_ticker
from tradehall.service.messages import BookUpdate, EventBatch, MarketSnapshot
from tradehall.service.ports import CandleRecord
from tradehall.trading import events as e
from tradehall.trading.model import Side as OrderSide


@dataclass(frozen=True, slots=True)
class MarketDataConfig:
    """How much the hub keeps per symbol."""

    book_depth: int = 50  # levels per side, as published by the engine thread
    trades_kept: int = 1000
    candles_kept: int = 500  # per interval; one-minute candles keep at least the 24 h window
    intervals: tuple[int, ...] = field(default=tuple(INTERVALS.values()))


class TradeTick(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One public trade: no accounts, no order ids."""

    trade_id: TradeId
    symbol: Symbol
    price: int
    qty: int
    taker_side: OrderSide
    ts_ns: int
    seq: int


class BookSnapshot(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A symbol's book view, best levels first, at the book seq of its last update."""

    symbol: Symbol
    seq: int
    ts_ns: int
    bids: list[LevelView]
    asks: list[LevelView]


class HubChanges(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What one batch changed: book deltas, new trades, symbols whose ticker changed, candles."""

    books: list[BookUpdate]
    trades: dict[Symbol, list[TradeTick]]
    tickers: list[Symbol]
    candles: list[CandleRecord]


class _SymbolState:
    __slots__ = ("asks", "bids", "book_seq", "book_ts", "candles", "last", "last_qty",
                 "trades", "ts_ns")

    def __init__(self, config: MarketDataConfig) -> None:
        self.bids: Side = {}
        self.asks: Side = {}
        self.book_seq = 0
        self.book_ts = 0
        self.trades: deque[TradeTick] = deque(maxlen=config.trades_kept)
        self.candles = {
            interval: CandleSeries(interval, max(config.candles_kept, WINDOW_MINUTES)
                                   if interval == 60 else config.candles_kept)
            for interval in sorted({60, *config.intervals})
        }
        self.last: int | None = None
        self.last_qty: int | None = None
        self.ts_ns = 0


class MarketDataHub:
    """Market-data state of every symbol, advanced by event batches."""

    def __init__(self, config: MarketDataConfig | None = None) -> None:
        self.config = config or MarketDataConfig()
        self._symbols: dict[Symbol, _SymbolState] = {}
        self.now_ns = 0  # newest engine time seen
        self.last_seq = 0

    # -- Input ----------------------------------------------------------------------------------

    def apply(self, batch: EventBatch) -> HubChanges:
        """Take in one batch and return what it changed."""
        trades: dict[Symbol, list[TradeTick]] = {}
        touched: dict[tuple[Symbol, int], LiveCandle] = {}
        for result in batch.results:
            if result.ts_ns > self.now_ns:
                self.now_ns = result.ts_ns
            for ev in result.events:
                if isinstance(ev, e.Trade):
                    # A desk's off-book fill is no market trade: not on the tape or a candle.
                    if not ev.off_book:
                        self._trade(ev, result.seq, result.ts_ns, trades, touched)
                elif isinstance(ev, e.InstrumentAdded):
                    self._state(ev.spec.symbol)
        tickers = dict.fromkeys(trades)
        for update in batch.books:
            state = self._state(update.symbol)
            apply_update(state.bids, state.asks, update)
            state.book_seq = update.seq
            state.book_ts = update.ts_ns
            if update.ts_ns > self.now_ns:
                self.now_ns = update.ts_ns
            tickers[update.symbol] = None
        self.last_seq = max(self.last_seq, batch.last_seq)
        candles = [c.record(symbol, interval) for (symbol, interval), c in touched.items()]
        return HubChanges(books=batch.books, trades=trades, tickers=list(tickers),
                          candles=candles)

    def _trade(self, ev: e.Trade, seq: int, ts_ns: int, trades: dict[Symbol, list[TradeTick]],
               touched: dict[tuple[Symbol, int], LiveCandle]) -> None:
        state = self._state(ev.symbol)
        tick = TradeTick(trade_id=ev.trade_id, symbol=ev.symbol, price=ev.price, qty=ev.qty,
                         taker_side=ev.taker_side, ts_ns=ts_ns, seq=seq)
        state.trades.append(tick)
        state.last, state.last_qty, state.ts_ns = ev.price, ev.qty, ts_ns
        trades.setdefault(ev.symbol, []).append(tick)
        for interval, series in state.candles.items():
            touched[ev.symbol, interval] = series.add(ev.price, ev.qty, ts_ns)

    def seed(self, snapshot: MarketSnapshot) -> None:
        """Take a published market snapshot as every symbol's book view (a consumer that starts
        mid-stream; the batches after the snapshot's engine seq apply on top of it)."""
        for book in snapshot.books:
            state = self._state(book.symbol)
            state.bids = {lv.price: lv for lv in book.bids}
            state.asks = {lv.price: lv for lv in book.asks}
            state.book_seq = book.seq
            state.book_ts = book.ts_ns
        self.now_ns = max(self.now_ns, snapshot.ts_ns)
        self.last_seq = max(self.last_seq, snapshot.engine_seq)

    def seed_candles(self, symbol: Symbol, interval_s: int, records: list[CandleRecord]) -> None:
        """Load candle history (from the read model) older than the live candles."""
        series = self._state(symbol).candles.get(interval_s)
        if series is not None:
            series.seed(records)

    def _state(self, symbol: Symbol) -> _SymbolState:
        state = self._symbols.get(symbol)
        if state is None:
            state = self._symbols[symbol] = _SymbolState(self.config)
        return state

    # -- Queries --------------------------------------------------------------------------------

    def symbols(self) -> list[Symbol]:
        """Return every symbol the hub has seen, sorted."""
        return sorted(self._symbols)

    def book(self, symbol: Symbol, depth: int | None = None) -> BookSnapshot:
        """Return the best `depth` levels per side (all kept levels when None)."""
        state = self._symbols.get(symbol)
        if state is None:
            return BookSnapshot(symbol=symbol, seq=0, ts_ns=0, bids=[], asks=[])
        n = self.config.book_depth if depth is None else depth
        bids = [state.bids[p] for p in sorted(state.bids, reverse=True)[:n]]
        asks = [state.asks[p] for p in sorted(state.asks)[:n]]
        return BookSnapshot(symbol=symbol, seq=state.book_seq, ts_ns=state.book_ts, bids=bids,
                            asks=asks)

    def trades(self, symbol: Symbol, limit: int) -> list[TradeTick]:
        """Return up to `limit` most recent trades, newest first."""
        state = self._symbols.get(symbol)
        if state is None or limit <= 0:
            return []
        ring = state.trades
        return [ring[-i] for i in range(1, min(limit, len(ring)) + 1)]

    def ticker(self, symbol: Symbol) -> TickerView:
        """Return the symbol's ticker over the 24 h window ending at the newest engine time."""
        state = self._symbols.get(symbol) or _SymbolState(self.config)
        best_bid = state.bids[max(state.bids)] if state.bids else None
        best_ask = state.asks[min(state.asks)] if state.asks else None
        return compute_ticker(symbol, state.candles[60], self.now_ns, last=state.last,
                              last_qty=state.last_qty, best_bid=best_bid, best_ask=best_ask,
                              ts_ns=max(state.ts_ns, state.book_ts))

    def candles(self, symbol: Symbol, interval_s: int, from_ns: int | None = None,
                to_ns: int | None = None) -> list[CandleRecord]:
        """Return the kept candles with `from_ns <= start < to_ns`, oldest first."""
        state = self._symbols.get(symbol)
        series = state.candles.get(interval_s) if state is not None else None
        if series is None:
            return []
        return [c.record(symbol, interval_s) for c in series.between(from_ns, to_ns)]

    def oldest_candle_ns(self, symbol: Symbol, interval_s: int) -> int | None:
        """Return the start of the oldest kept candle (what history must cover before it)."""
        state = self._symbols.get(symbol)
        series = state.candles.get(interval_s) if state is not None else None
        oldest = series.oldest() if series is not None else None
        return None if oldest is None else oldest.start_ns
