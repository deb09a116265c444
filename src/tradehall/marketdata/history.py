"""Candle history: the read model's stored candles merged with the hub's live ones.

The SQL projection (`ReadModel.candles`) holds every candle; the hub holds the newest ones as
they are right now, which may be ahead of the projection by a batch or two. Merged by start
time, the hub's copy wins. Bounds are inclusive (`from_ns <= start <= to_ns`), the result is
oldest first and keeps the newest `limit`. Awaits the read-model port only; no I/O library.
"""

from __future__ import annotations

from tradehall.kernel.ids import Symbol
from tradehall.marketdata.hub import MarketDataHub
from tradehall.service.ports import CandleRecord, ReadModel

MAX_CANDLES = 5000


async def candle_history(read_model: ReadModel, hub: MarketDataHub, symbol: Symbol,
                         interval_s: int, *, from_ns: int | None = None,
                         to_ns: int | None = None, limit: int = 500) -> list[CandleRecord]:
    """Return the candles starting in `[from_ns, to_ns]`, the newest `limit`, oldest first."""
    limit = max(1, min(limit, MAX_CANDLES))
    stored = await read_model.candles(symbol, interval_s, from_ns=from_ns, to_ns=to_ns,
                                      limit=limit)
    live = hub.candles(symbol, interval_s, from_ns, None if to_ns is None else to_ns + 1)
    merged = {c.start_ns: c for c in stored}
    merged.update((c.start_ns, c) for c in live)
    return [merged[start] for start in sorted(merged)][-limit:]
