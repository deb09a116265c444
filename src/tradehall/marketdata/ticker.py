"""The rolling 24-hour ticker of a symbol, computed from its one-minute candles.

The window is the 1,440 one-minute buckets that end with the bucket holding "now", where now
is the newest engine time the hub has seen (never the wall clock): trades with
`minute(ts) > minute(now) - 1440` count. `open` is the first trade price in the window, `high`,
`low`, `volume` (lots) and `trades` cover the window, `change = last - open` in ticks. `last` is
the last trade ever seen, even when it left the window. Pure, no I/O.
"""

from __future__ import annotations

import msgspec

from tradehall.engine.queries import LevelView
from tradehall.kernel.clock import NANOS_PER_SECOND
from tradehall.kernel.ids import Symbol
from tradehall.marketdata.candles import CandleSeries, candle_start

WINDOW_MINUTES = 1440
MINUTE_NS = 60 * NANOS_PER_SECOND


class TickerView(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A symbol's ticker: last trade, best bid and ask, and the 24 h window (integers)."""

    symbol: Symbol
    last: int | None
    last_qty: int | None
    best_bid: LevelView | None
    best_ask: LevelView | None
    open: int | None
    high: int | None
    low: int | None
    volume: int
    trades: int
    change: int | None
    ts_ns: int


def window_start(now_ns: int) -> int:
    """Return the start (ns) of the oldest one-minute bucket inside the window."""
    return candle_start(now_ns, 60) - (WINDOW_MINUTES - 1) * MINUTE_NS


def compute_ticker(symbol: Symbol, minutes: CandleSeries, now_ns: int, *,
                   last: int | None, last_qty: int | None, best_bid: LevelView | None,
                   best_ask: LevelView | None, ts_ns: int) -> TickerView:
    """Aggregate the one-minute candles inside the window ending at `now_ns`."""
    inside = minutes.since(window_start(now_ns))
    if not inside:
        return TickerView(symbol=symbol, last=last, last_qty=last_qty, best_bid=best_bid,
                          best_ask=best_ask, open=None, high=None, low=None, volume=0,
                          trades=0, change=None, ts_ns=ts_ns)
    open_ = inside[0].open
    return TickerView(
        symbol=symbol, last=last, last_qty=last_qty, best_bid=best_bid, best_ask=best_ask,
        open=open_, high=max(c.high for c in inside), low=min(c.low for c in inside),
        volume=sum(c.volume for c in inside), trades=sum(c.trades for c in inside),
        change=None if last is None else last - open_, ts_ns=ts_ns)
