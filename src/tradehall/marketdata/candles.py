"""Live OHLCV candles of one symbol at one interval, built from trades in engine time.

A candle covers `[start, start + interval)` with `start` a multiple of the interval since the
Unix epoch (UTC), so a day candle starts at 00:00 UTC and a 4 h candle at 00, 04, ... UTC. A
candle exists only once a trade falls in it: an interval without trades has no candle, as in
TradingView's datafeeds. The newest candle stays open until a trade lands in a later interval.
History beyond what is kept here comes from the read model (`ReadModel.candles`). Integers only
(ticks, lots); pure, no I/O.
"""

from __future__ import annotations

from collections import deque

from tradehall.kernel.clock import NANOS_PER_SECOND
from tradehall.kernel.ids import Symbol
from tradehall.service.ports import CandleRecord

INTERVALS: dict[str, int] = {
    "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14_400, "1d": 86_400,
}
"""The public interval names and their length in seconds."""

INTERVAL_NAMES: dict[int, str] = {seconds: name for name, seconds in INTERVALS.items()}


def candle_start(ts_ns: int, interval_s: int) -> int:
    """Return the start (ns) of the interval-aligned candle that contains `ts_ns`."""
    width = interval_s * NANOS_PER_SECOND
    return ts_ns - ts_ns % width


class LiveCandle:
    """One candle being built: prices in ticks, volume in lots."""

    __slots__ = ("close", "high", "low", "open", "start_ns", "trades", "volume")

    def __init__(self, start_ns: int, price: int, qty: int) -> None:
        self.start_ns = start_ns
        self.open = self.high = self.low = self.close = price
        self.volume = qty
        self.trades = 1

    def add(self, price: int, qty: int) -> None:
        """Fold one trade into the candle."""
        if price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.close = price
        self.volume += qty
        self.trades += 1

    def record(self, symbol: Symbol, interval_s: int) -> CandleRecord:
        """Return an immutable copy in the read model's shape."""
        return CandleRecord(symbol=symbol, interval_s=interval_s, start_ns=self.start_ns,
                            open=self.open, high=self.high, low=self.low, close=self.close,
                            volume=self.volume, trades=self.trades)


class CandleSeries:
    """The most recent `keep` candles of one symbol at one interval, oldest first."""

    __slots__ = ("_candles", "interval_s")

    def __init__(self, interval_s: int, keep: int) -> None:
        self.interval_s = interval_s
        self._candles: deque[LiveCandle] = deque(maxlen=keep)

    def add(self, price: int, qty: int, ts_ns: int) -> LiveCandle:
        """Fold one trade in and return the candle it landed in."""
        start = candle_start(ts_ns, self.interval_s)
        candles = self._candles
        if candles and candles[-1].start_ns >= start:
            # Engine time never goes back; a trade stamped earlier still lands in the open one.
            current = candles[-1]
            current.add(price, qty)
            return current
        current = LiveCandle(start, price, qty)
        candles.append(current)
        return current

    def seed(self, records: list[CandleRecord]) -> None:
        """Put history older than any live candle in front (after a restart)."""
        first = self._candles[0].start_ns if self._candles else None
        older = [r for r in sorted(records, key=lambda r: r.start_ns)
                 if first is None or r.start_ns < first]
        room = (self._candles.maxlen or 0) - len(self._candles)
        for record in reversed(older[-room:] if room > 0 else []):
            candle = LiveCandle(record.start_ns, record.open, record.volume)
            candle.high, candle.low, candle.close = record.high, record.low, record.close
            candle.trades = record.trades
            self._candles.appendleft(candle)

    def oldest(self) -> LiveCandle | None:
        """Return the oldest kept candle, if any."""
        return self._candles[0] if self._candles else None

    def current(self) -> LiveCandle | None:
        """Return the newest candle, if any trade was seen."""
        return self._candles[-1] if self._candles else None

    def since(self, start_ns: int) -> list[LiveCandle]:
        """Return the kept candles that start at or after `start_ns`, oldest first."""
        out: list[LiveCandle] = []
        for candle in reversed(self._candles):
            if candle.start_ns < start_ns:
                break
            out.append(candle)
        out.reverse()
        return out

    def between(self, from_ns: int | None, to_ns: int | None) -> list[LiveCandle]:
        """Return the kept candles with `from_ns <= start < to_ns` (either bound optional)."""
        return [c for c in self._candles
                if (from_ns is None or c.start_ns >= from_ns)
                and (to_ns is None or c.start_ns < to_ns)]

    def __len__(self) -> int:
        return len(self._candles)
