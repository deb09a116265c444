"""Top-of-book tracking: turn successive depth views of a symbol into sequenced deltas.

The engine host calls `DepthTracker.update` with the best levels of every symbol a batch
touched; it returns only the levels that changed (a level that left the view comes back with
`qty == 0`), numbered per symbol without gaps. Diffing the top of the book after each batch,
instead of re-deriving it from events, keeps the market-data view exactly equal to the engine's
book whatever the events were. Pure: no I/O.
"""

from __future__ import annotations

from tradehall.engine.queries import LevelView
from tradehall.kernel.ids import Symbol
from tradehall.service.messages import BookUpdate, MarketSnapshot

Side = dict[int, LevelView]


class DepthTracker:
    """The last published top `depth` levels of each symbol and its update counter."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self._views: dict[Symbol, tuple[Side, Side]] = {}
        self._seq: dict[Symbol, int] = {}

    def update(self, symbol: Symbol, bids: list[LevelView], asks: list[LevelView],
               engine_seq: int, ts_ns: int) -> BookUpdate | None:
        """Record the symbol's new top levels; return what changed, or None if nothing did."""
        old_bids, old_asks = self._views.get(symbol, ({}, {}))
        new_bids = {lv.price: lv for lv in bids}
        new_asks = {lv.price: lv for lv in asks}
        bid_changes = _diff(old_bids, new_bids)
        ask_changes = _diff(old_asks, new_asks)
        if not bid_changes and not ask_changes and symbol in self._views:
            return None
        self._views[symbol] = (new_bids, new_asks)
        seq = self._seq.get(symbol, 0) + 1
        self._seq[symbol] = seq
        return BookUpdate(symbol=symbol, seq=seq, engine_seq=engine_seq, ts_ns=ts_ns,
                          bids=bid_changes, asks=ask_changes)


    def follow(self, update: BookUpdate) -> bool:
        """Mirror an update another tracker published (a standby engine follows the leader's
        view this way); False if it is not the next one of its symbol (skipped when older)."""
        current = self._seq.get(update.symbol, 0)
        if update.seq <= current:
            return True
        if update.seq != current + 1:
            return False
        bids, asks = self._views.setdefault(update.symbol, ({}, {}))
        apply_update(bids, asks, update)
        self._seq[update.symbol] = update.seq
        return True

    def snapshot(self, engine_seq: int, ts_ns: int) -> MarketSnapshot:
        """Every symbol's whole view at its update seq."""
        books = [BookUpdate(symbol=symbol, seq=self._seq[symbol], engine_seq=engine_seq,
                            ts_ns=ts_ns, bids=sorted(bids.values(), key=_price_desc),
                            asks=sorted(asks.values(), key=_price))
                 for symbol, (bids, asks) in sorted(self._views.items())]
        return MarketSnapshot(engine_seq=engine_seq, ts_ns=ts_ns, books=books)

    def seed(self, snapshot: MarketSnapshot) -> None:
        """Take a published snapshot as the current views (replacing what was there)."""
        self._views = {b.symbol: ({lv.price: lv for lv in b.bids}, {lv.price: lv for lv in b.asks})
                       for b in snapshot.books}
        self._seq = {b.symbol: b.seq for b in snapshot.books}


def _price(lv: LevelView) -> int:
    return lv.price


def _price_desc(lv: LevelView) -> int:
    return -lv.price


def _diff(old: Side, new: Side) -> list[LevelView]:
    changes = [lv for price, lv in new.items() if old.get(price) != lv]
    changes += [LevelView(price, 0, 0) for price in old if price not in new]
    changes.sort(key=lambda lv: lv.price)
    return changes


def apply_update(bids: Side, asks: Side, update: BookUpdate) -> None:
    """Apply a delta to a consumer's copy of the view (the inverse of `DepthTracker.update`)."""
    for side, changes in ((bids, update.bids), (asks, update.asks)):
        for lv in changes:
            if lv.qty == 0:
                side.pop(lv.price, None)
            else:
                side[lv.price] = lv
