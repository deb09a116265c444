"""Rendering of market data and private updates for the wire (WebSocket and REST alike).

Integers (ticks, lots, minor units) become decimal strings with the instrument's grid or the
asset's scale, engine nanoseconds become RFC 3339 UTC text. The one place where this happens
for market data, so REST and WebSocket always agree. Pure functions; no I/O, never a float.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from tradehall.engine.queries import LevelView
from tradehall.entrypoints.api.ws import protocol as p
from tradehall.kernel.clock import NANOS_PER_SECOND
from tradehall.marketdata.candles import INTERVAL_NAMES
from tradehall.marketdata.hub import BookSnapshot, TradeTick
from tradehall.marketdata.ticker import TickerView
from tradehall.service.messages import BookUpdate
from tradehall.service.ports import CandleRecord
from tradehall.trading.instrument import Instrument

_PERCENT = Decimal("0.01")


def timestamp(ns: int) -> str:
    """Render UTC nanoseconds as RFC 3339 text with nine decimals."""
    seconds, nanos = divmod(ns, NANOS_PER_SECOND)
    moment = datetime.fromtimestamp(seconds, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


def signed_price(inst: Instrument, ticks: int) -> str:
    """Render a signed price difference."""
    text = inst.format_price(abs(ticks))
    return f"-{text}" if ticks < 0 else text


def levels(inst: Instrument, views: list[LevelView]) -> list[p.Level]:
    fp, fq = inst.format_price, inst.format_qty
    return [(fp(lv.price), fq(lv.qty), lv.count) for lv in views]


def book_snapshot(inst: Instrument, book: BookSnapshot) -> p.BookSnapshot:
    return p.BookSnapshot(channel=f"book.{book.symbol}", symbol=book.symbol, seq=book.seq,
                          ts=timestamp(book.ts_ns), bids=levels(inst, book.bids),
                          asks=levels(inst, book.asks))


def book_delta(inst: Instrument, update: BookUpdate) -> p.BookDelta:
    return p.BookDelta(channel=f"book.{update.symbol}", symbol=update.symbol, seq=update.seq,
                       prev_seq=update.seq - 1, ts=timestamp(update.ts_ns),
                       bids=levels(inst, update.bids), asks=levels(inst, update.asks))


def trade(inst: Instrument, tick: TradeTick) -> p.TradeOut:
    return p.TradeOut(id=tick.trade_id, price=inst.format_price(tick.price),
                      qty=inst.format_qty(tick.qty), side=tick.taker_side.value,
                      ts=timestamp(tick.ts_ns))


def trades(inst: Instrument, symbol: str, ticks: list[TradeTick]) -> p.Trades:
    return p.Trades(channel=f"trades.{symbol}", symbol=symbol,
                    trades=[trade(inst, t) for t in ticks])


def change_percent(last: int | None, open_: int | None) -> str | None:
    """Percent change from open to last, rounded half-even to 0.01 (exact decimal division)."""
    if last is None or not open_:
        return None
    value = (Decimal(last - open_) * 100 / Decimal(open_)).quantize(_PERCENT, ROUND_HALF_EVEN)
    return f"{value:f}"


def ticker(inst: Instrument, view: TickerView) -> p.TickerOut:
    fp, fq = inst.format_price, inst.format_qty
    bid, ask = view.best_bid, view.best_ask

    def price(ticks: int | None) -> str | None:
        return None if ticks is None else fp(ticks)

    return p.TickerOut(
        channel=f"ticker.{view.symbol}", symbol=view.symbol, last=price(view.last),
        last_qty=None if view.last_qty is None else fq(view.last_qty),
        bid=None if bid is None else fp(bid.price), bid_qty=None if bid is None else fq(bid.qty),
        ask=None if ask is None else fp(ask.price), ask_qty=None if ask is None else fq(ask.qty),
        open=price(view.open), high=price(view.high), low=price(view.low),
        volume=fq(view.volume),
        change=None if view.change is None else signed_price(inst, view.change),
        change_percent=change_percent(view.last, view.open), trades=view.trades,
        ts=timestamp(view.ts_ns))


def candle(inst: Instrument, record: CandleRecord) -> p.CandleOut:
    name = INTERVAL_NAMES[record.interval_s]
    fp = inst.format_price
    return p.CandleOut(channel=f"candles.{name}.{record.symbol}", symbol=record.symbol,
                       interval=name, start=timestamp(record.start_ns), open=fp(record.open),
                       high=fp(record.high), low=fp(record.low), close=fp(record.close),
                       volume=inst.format_qty(record.volume), trades=record.trades)
