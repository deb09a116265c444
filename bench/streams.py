"""Deterministic, realistic order streams for one symbol, shared by the engine benchmarks.

A seeded `random.Random` drives a trading crowd around a slowly moving mid price (a random
walk, one tick at a time): passive limit orders placed a few ticks away from the mid, some
marketable limits and market orders, about 30% cancels of live orders (the farther of two
random live orders, as traders pull stale quotes first), and a few amends (quantity down,
which keeps priority, or a price move, which loses it). Every one of the many accounts is
funded generously in setup, so risk checks always pass and measure their normal cost.

To cancel and amend only orders that are really live, the generator keeps a shadow
`MatchingEngine` and applies each command as it makes it; the engine is deterministic, so
a fresh engine fed the same list goes through exactly the same states. Generation is never
timed. A proportional controller on the cancel share holds the resting order count near the
shape's target, so the two shapes differ in depth, not in flow.

Owns nothing but stream generation: no timing, no files.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from tradehall.engine.matcher import MatchingEngine
from tradehall.engine.orders import Order
from tradehall.kernel.clock import NANOS_PER_DAY, NANOS_PER_SECOND
from tradehall.kernel.ids import AccountId, AssetCode, ClientOrderId, Symbol
from tradehall.trading import commands as c
from tradehall.trading import events as e
from tradehall.trading.model import InstrumentKind, InstrumentSpec, OrderType, Side, TimeInForce

SYMBOL = Symbol("BNC-USD")
BASE = AssetCode("BNC")
QUOTE = AssetCode("USD")
MID_TICKS = 100_00  # 100.00 USD at a tick of 0.01
T0 = 20_000 * NANOS_PER_DAY + 9 * 3_600 * NANOS_PER_SECOND  # 09:00 UTC on some day
STEP_NS = 1_000  # engine time between two commands
QUOTE_FUNDING = 10**14  # minor units per account (1e12 USD): no order is ever refused
BASE_FUNDING = 10**10  # lots per account

Timed = tuple[c.EngineCommand, int]


@dataclass(frozen=True, slots=True)
class BookShape:
    """Depth of a stream: how far from the mid orders rest and how many rest."""

    name: str
    half_width: int  # passive orders rest 1..half_width ticks from the mid on each side
    target_resting: int


SHAPES = {
    "thin": BookShape("thin", half_width=18, target_resting=500),
    "deep": BookShape("deep", half_width=130, target_resting=14_000),
}

# Shares of the non-cancel commands. The cancel share is set by the controller in `_step`; it
# settles at 26-28% of all commands (seed 1), the rest being these shares of what remains.
P_CANCEL = 0.30
P_AMEND = 0.045
P_MARKET = 0.06
P_MARKETABLE = 0.16
P_MOVE_MID = 0.02  # per command, the mid moves one tick up or down


@dataclass(slots=True)
class StreamStats:
    """What the shadow engine saw over the measured part of the stream."""

    commands: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    fills: int = 0
    rejects: int = 0
    samples: int = 0
    sum_levels: int = 0
    sum_resting: int = 0
    warm_levels: int = 0
    warm_resting: int = 0
    end_mid_ticks: int = 0
    kind_of: list[str] = field(default_factory=list)  # per measured command, in order

    @property
    def fills_per_command(self) -> float:
        """Trades per measured command."""
        return self.fills / self.commands if self.commands else 0.0

    @property
    def mean_levels(self) -> float:
        """Mean number of occupied price levels (both sides) over the measured part."""
        return self.sum_levels / self.samples if self.samples else 0.0

    @property
    def mean_resting(self) -> float:
        """Mean number of resting orders over the measured part."""
        return self.sum_resting / self.samples if self.samples else 0.0

    def share(self, kind: str) -> float:
        """Fraction of measured commands of one kind."""
        return self.kinds.get(kind, 0) / self.commands if self.commands else 0.0


@dataclass(frozen=True, slots=True)
class Stream:
    """A generated stream: setup (reference data, deposits), warm-up, measured commands."""

    shape: BookShape
    seed: int
    setup: list[Timed]
    warmup: list[Timed]
    measured: list[Timed]
    stats: StreamStats

    def describe(self) -> str:
        """One line with the stream's steady state, for the benchmark tables."""
        s = self.stats
        return (f"{self.shape.name}: seed {self.seed}, {len(self.setup):,} setup + "
                f"{len(self.warmup):,} warm-up + {len(self.measured):,} measured commands; "
                f"after warm-up {s.warm_levels} levels / {s.warm_resting:,} resting; measured "
                f"mean {s.mean_levels:.0f} levels / {s.mean_resting:,.0f} resting, "
                f"{s.fills_per_command:.2f} fills/command, cancels {s.share('cancel'):.0%}, "
                f"amends {s.share('amend'):.1%}, market {s.share('market'):.1%}, "
                f"marketable limits {s.share('marketable'):.1%}, rejects {s.rejects}")


def instrument_spec() -> InstrumentSpec:
    """The benchmark's spot instrument: tick 0.01 USD, whole lots, real fees and a band."""
    return InstrumentSpec(symbol=SYMBOL, kind=InstrumentKind.SPOT, base=BASE, quote=QUOTE,
                          tick_size=Decimal("0.01"), lot_size=Decimal(1),
                          price_band=Decimal("0.2"), maker_fee=Decimal("0.0005"),
                          taker_fee=Decimal("0.001"))


def account_ids(count: int) -> list[AccountId]:
    """Readable account ids, made once so every command shares the same string objects."""
    return [AccountId(f"acct{i:05d}") for i in range(count)]


def setup_commands(accounts: Sequence[AccountId]) -> list[c.EngineCommand]:
    """Assets, the instrument, and generous deposits for every account."""
    cmds: list[c.EngineCommand] = [c.AddAsset(asset=QUOTE, scale=2),
                                   c.AddAsset(asset=BASE, scale=0),
                                   c.AddInstrument(spec=instrument_spec())]
    for account in accounts:
        cmds.append(c.Deposit(account=account, asset=QUOTE, amount=QUOTE_FUNDING))
        cmds.append(c.Deposit(account=account, asset=BASE, amount=BASE_FUNDING))
    return cmds


class OrderCrowd:
    """The generator's state: rng, mid, live orders, and the shadow engine."""

    def __init__(self, shape: BookShape, seed: int, accounts: int) -> None:
        self.shape = shape
        self.rng = random.Random(seed)
        self.accounts = account_ids(accounts)
        self.engine = MatchingEngine()
        self.mid = MID_TICKS
        self.live: list[tuple[AccountId, ClientOrderId]] = []
        self.next_id = 0
        self.ts = T0
        self.steps = 0
        self.resting = 0

    # -- Feeding the shadow engine -----------------------------------------------------------

    def _emit(self, cmd: c.EngineCommand, out: list[Timed], stats: StreamStats | None,
             kind: str) -> None:
        ts = self.ts
        self.ts += STEP_NS
        out.append((cmd, ts))
        events = self.engine.apply(cmd, ts)
        if isinstance(cmd, c.SubmitOrder) and self.engine.open_order(
                cmd.account, cmd.client_order_id) is not None:
            self.live.append((cmd.account, cmd.client_order_id))
        if stats is not None:
            stats.commands += 1
            stats.kinds[kind] = stats.kinds.get(kind, 0) + 1
            stats.kind_of.append(kind)
            for event in events:
                if isinstance(event, e.Trade):
                    stats.fills += 1
                elif isinstance(event, e.OrderRejected | e.CommandRejected):
                    stats.rejects += 1

    def book_counts(self) -> tuple[int, int]:
        """Occupied price levels (both sides) and resting orders of the shadow book."""
        book = self.engine.book(SYMBOL)
        levels = len(book.bids) + len(book.asks)
        resting = sum(level.count for level in book.bids.values()) + sum(
            level.count for level in book.asks.values())
        return levels, resting

    # -- Choosing live orders ----------------------------------------------------------------

    def _pick_live(self) -> Order | None:
        """A random live order; entries that filled or were canceled are dropped lazily."""
        live, rng = self.live, self.rng
        while live:
            i = rng.randrange(len(live))
            account, coid = live[i]
            order = self.engine.open_order(account, coid)
            if order is not None and order.price is not None:
                return order
            live[i] = live[-1]
            live.pop()
        return None

    # -- Making commands ---------------------------------------------------------------------

    def _new_coid(self) -> ClientOrderId:
        self.next_id += 1
        return ClientOrderId(f"o{self.next_id}")

    def _best_prices(self) -> tuple[int | None, int | None]:
        book = self.engine.book(SYMBOL)
        bid, ask = book.best_bid(), book.best_ask()
        return (None if bid is None else bid.price), (None if ask is None else ask.price)

    def _passive(self) -> c.SubmitOrder:
        rng = self.rng
        is_buy = rng.random() < 0.5
        # Closer levels get more orders, as in real books.
        offset = 1 + int(self.shape.half_width * rng.random() ** 1.5)
        bid, ask = self._best_prices()
        if is_buy:
            price = self.mid - offset
            if ask is not None:
                price = min(price, ask - 1)
        else:
            price = self.mid + offset
            if bid is not None:
                price = max(price, bid + 1)
        return c.SubmitOrder(account=rng.choice(self.accounts), client_order_id=self._new_coid(),
                             symbol=SYMBOL, side=Side.BUY if is_buy else Side.SELL,
                             qty=rng.randint(1, 10), price=price)

    def _taker(self, market: bool) -> c.SubmitOrder:
        rng = self.rng
        is_buy = rng.random() < 0.5
        qty = rng.randint(1, 24)
        side = Side.BUY if is_buy else Side.SELL
        account, coid = rng.choice(self.accounts), self._new_coid()
        if market:
            return c.SubmitOrder(account=account, client_order_id=coid, symbol=SYMBOL,
                                 side=side, order_type=OrderType.MARKET, qty=qty)
        bid, ask = self._best_prices()
        through = rng.randint(0, 2)
        if is_buy:
            price = (self.mid if ask is None else ask) + through
        else:
            price = (self.mid if bid is None else bid) - through
        tif = TimeInForce.IOC if rng.random() < 0.5 else TimeInForce.GTC
        return c.SubmitOrder(account=account, client_order_id=coid, symbol=SYMBOL, side=side,
                             qty=qty, price=price, time_in_force=tif)

    def _cancel(self) -> c.CancelOrder | None:
        first, second = self._pick_live(), self._pick_live()
        if first is None or second is None:
            return None
        assert first.price is not None
        assert second.price is not None
        target = first if abs(first.price - self.mid) >= abs(second.price - self.mid) else second
        return c.CancelOrder(account=target.account, client_order_id=target.client_order_id)

    def _amend(self) -> c.AmendOrder | None:
        order = self._pick_live()
        if order is None:
            return None
        assert order.price is not None
        total = order.filled + order.leaves
        if order.leaves > 1 and self.rng.random() < 0.5:
            return c.AmendOrder(account=order.account, client_order_id=order.client_order_id,
                                qty=total - 1)
        away = self.rng.randint(1, 2)  # move the quote away from the market: stays passive
        price = order.price - away if order.is_buy else order.price + away
        return c.AmendOrder(account=order.account, client_order_id=order.client_order_id,
                            price=max(1, price))

    def _step(self, out: list[Timed], stats: StreamStats | None) -> None:
        rng = self.rng
        if rng.random() < P_MOVE_MID:
            self.mid += 1 if rng.random() < 0.5 else -1
        self.steps += 1
        if self.steps % 32 == 0:  # counting is not free on a deep book
            self.resting = self.book_counts()[1]
        p_cancel = min(0.6, P_CANCEL * (self.resting / self.shape.target_resting) ** 4)
        roll = rng.random()
        if roll < p_cancel:
            cancel = self._cancel()
            if cancel is not None:
                self._emit(cancel, out, stats, "cancel")
                return
        roll = rng.random()
        if roll < P_AMEND:
            amend = self._amend()
            if amend is not None:
                self._emit(amend, out, stats, "amend")
                return
        if roll < P_AMEND + P_MARKET:
            self._emit(self._taker(market=True), out, stats, "market")
        elif roll < P_AMEND + P_MARKET + P_MARKETABLE:
            self._emit(self._taker(market=False), out, stats, "marketable")
        else:
            self._emit(self._passive(), out, stats, "limit")


    # -- Public driving ----------------------------------------------------------------------

    def setup(self) -> list[Timed]:
        """Reference data and deposits (apply them first, once)."""
        out: list[Timed] = []
        for cmd in setup_commands(self.accounts):
            self._emit(cmd, out, None, "setup")
        return out

    def run(self, count: int, stats: StreamStats | None = None) -> list[Timed]:
        """The next `count` commands of the flow; sample the book into `stats` if given."""
        out: list[Timed] = []
        for _ in range(count):
            if stats is not None and stats.commands % 1_000 == 0:
                levels, resting = self.book_counts()
                stats.samples += 1
                stats.sum_levels += levels
                stats.sum_resting += resting
            self._step(out, stats)
        if stats is not None:
            stats.end_mid_ticks = self.mid
        return out


def build_stream(shape: BookShape, *, seed: int = 1, warmup: int = 100_000,
                 count: int = 500_000, accounts: int = 1_000) -> Stream:
    """Generate setup, `warmup` commands that build the book, then `count` measured ones."""
    crowd = OrderCrowd(shape, seed, accounts)
    setup = crowd.setup()
    warm = crowd.run(warmup)
    stats = StreamStats()
    stats.warm_levels, stats.warm_resting = crowd.book_counts()
    measured = crowd.run(count, stats)
    return Stream(shape, seed, setup, warm, measured, stats)


def fresh_engine(stream: Stream, *, with_warmup: bool = True) -> MatchingEngine:
    """An engine with the stream's setup (and warm-up) applied: the state the measure starts at."""
    engine = MatchingEngine()
    apply = engine.apply
    for cmd, ts in stream.setup:
        apply(cmd, ts)
    if with_warmup:
        for cmd, ts in stream.warmup:
            apply(cmd, ts)
    return engine


def add_stream_arguments(parser: argparse.ArgumentParser, *, books: Sequence[str],
                         default_book: str) -> None:
    """Add the options that choose the generated stream (book shape, seed, size of the flow)."""
    parser.add_argument("--book", choices=list(books), default=default_book)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--warmup", type=int, default=100_000,
                        help="commands that build the book before the measure (not timed)")
