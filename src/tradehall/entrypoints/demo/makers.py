"""The demo's live market: market makers on every demo instrument and a taker flow.

Each maker is an asyncio task that owns one account and one instrument. Every requote it moves
its mid one random-walk step and brings its ladder (several levels each side) to the new prices:
a level that still rests is amended, one that was filled away is placed again. It sends the
commands of one requote together through the `EnginePort` (one group commit) in an order that
never crosses its own quotes. The taker task sends a small market order now and then, so
trades, tickers and candles move. On stop the makers' quotes are canceled. A shared token
bucket bounds the commands per second, so a laptop stays idle-ish. Randomness comes only from
`random.Random` seeded by the caller. Never talks HTTP; never touches the engine but through
its port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass

from tradehall.adapters.tasks import stop_task
from tradehall.entrypoints.demo.catalog import INSTRUMENTS, TAKER_ACCOUNT, DemoInstrument
from tradehall.entrypoints.demo.tracker import LiveOrder, OrderTracker
from tradehall.entrypoints.demo.walk import PriceWalk, Quote
from tradehall.kernel.errors import TemporaryError
from tradehall.kernel.ids import ClientOrderId, Symbol
from tradehall.service.ports import EnginePort, EventBus
from tradehall.trading import commands as c
from tradehall.trading.model import OrderType, Side, TimeInForce

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DemoMarketConfig:
    """How busy the demo market is."""

    seed: int = 7
    levels: int = 5  # quote levels per side
    requote_interval_s: float = 1.0  # per instrument, jittered
    taker_interval_s: float = 1.5  # mean time between taker orders
    max_commands_per_s: float = 40.0


class CommandBudget:
    """A token bucket shared by the demo tasks: at most `rate` commands per second."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._tokens = rate
        self._stamp: float | None = None

    async def take(self, n: int) -> None:
        """Wait until `n` commands may be sent."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            if self._stamp is not None:
                self._tokens = min(self.rate, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= n or self._tokens >= self.rate:
                self._tokens -= n
                return
            await asyncio.sleep((n - self._tokens) / self.rate)


class MarketMaker:
    """Keeps a two-sided ladder on one instrument and walks its mid."""

    def __init__(self, inst: DemoInstrument, engine: EnginePort, tracker: OrderTracker,
                 budget: CommandBudget, config: DemoMarketConfig, rng: random.Random,
                 run_id: str, start_mid: int | None) -> None:
        self.inst = inst
        self.account = inst.maker_account
        self._engine = engine
        self._tracker = tracker
        self._budget = budget
        self._config = config
        self._rng = rng
        self.walk = PriceWalk(inst, rng, start_mid)
        self._run_id = run_id
        self._next_id = 0
        self._levels: dict[tuple[Side, int], ClientOrderId] = {}
        self._sizes: list[int] = self.walk.sizes(config.levels)
        self._last_seq = 0

    @property
    def mid(self) -> int:
        return self.walk.mid

    async def run(self) -> None:
        """Cancel what a previous run left, then requote until cancelled."""
        result = await self._engine.execute(c.CancelAll(account=self.account,
                                                        symbol=self.inst.symbol))
        self._last_seq = result.seq
        while True:
            try:
                await self.requote()
            except TemporaryError:
                return  # the engine is stopping
            jitter = self._rng.uniform(0.7, 1.3)
            await asyncio.sleep(self._config.requote_interval_s * jitter)

    async def requote(self) -> None:
        """Move the mid one step and bring the ladder to it."""
        await self._tracker.wait_for(self._last_seq)
        before = self.walk.mid
        self.walk.step()
        if self._rng.random() < 0.1:
            self._sizes = self.walk.sizes(self._config.levels)
        quotes = self.walk.ladder(self._config.levels, self._sizes)
        # Moving up, the asks go first; moving down, the bids: the ladder never crosses itself.
        first = Side.SELL if self.walk.mid >= before else Side.BUY
        quotes.sort(key=lambda q: (q.side != first, q.level))
        commands = [cmd for q in quotes if (cmd := self._command(q)) is not None]
        if not commands:
            return
        await self._budget.take(len(commands))
        results = await self._engine.execute_many(commands)
        self._last_seq = results[-1].seq

    def _command(self, quote: Quote) -> c.SubmitOrder | c.AmendOrder | None:
        key = (quote.side, quote.level)
        coid = self._levels.get(key)
        order = None if coid is None else self._live(coid)
        if order is not None:
            if order.price == quote.price and order.leaves >= quote.qty:
                return None
            return c.AmendOrder(account=self.account, client_order_id=order.client_order_id,
                                price=quote.price, qty=order.filled + quote.qty)
        self._next_id += 1
        coid = ClientOrderId(f"mm-{self._run_id}-{self._next_id}")
        self._levels[key] = coid
        return c.SubmitOrder(account=self.account, client_order_id=coid,
                             symbol=self.inst.symbol, side=quote.side, qty=quote.qty,
                             price=quote.price)

    def _live(self, coid: ClientOrderId) -> LiveOrder | None:
        return self._tracker.orders.get((self.account, coid))


class TakerFlow:
    """Sends a small market order on a random demo instrument now and then."""

    def __init__(self, engine: EnginePort, budget: CommandBudget, config: DemoMarketConfig,
                 rng: random.Random, run_id: str, walks: Mapping[Symbol, PriceWalk]) -> None:
        self._engine = engine
        self._budget = budget
        self._config = config
        self._rng = rng
        self._run_id = run_id
        self.walks = walks
        self._next_id = 0

    async def run(self) -> None:
        """Trade until cancelled."""
        symbols = sorted(self.walks)
        while True:
            await asyncio.sleep(self._rng.expovariate(1 / self._config.taker_interval_s))
            walk = self.walks[self._rng.choice(symbols)]
            self._next_id += 1
            order = c.SubmitOrder(
                account=TAKER_ACCOUNT, client_order_id=ClientOrderId(
                    f"tk-{self._run_id}-{self._next_id}"),
                symbol=walk.inst.symbol, side=self._rng.choice((Side.BUY, Side.SELL)),
                order_type=OrderType.MARKET, time_in_force=TimeInForce.IOC,
                qty=walk.take_qty())
            await self._budget.take(1)
            try:
                await self._engine.execute(order)
            except TemporaryError:
                return


class DemoMarket:
    """Starts and stops the makers, the taker and the tracker that feeds them."""

    def __init__(self, engine: EnginePort, bus: EventBus, config: DemoMarketConfig,
                 run_id: str) -> None:
        self.config = config
        self._engine = engine
        self._bus = bus
        self._run_id = run_id
        accounts = {inst.maker_account for inst in INSTRUMENTS}
        self.tracker = OrderTracker(accounts)
        self.makers: list[MarketMaker] = []
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, start_prices: Mapping[Symbol, int]) -> None:
        """Start every task; `start_prices` gives the mids to resume from (last trades)."""
        if self._tasks:
            return
        rng = random.Random(self.config.seed)
        budget = CommandBudget(self.config.max_commands_per_s)
        subscription = self._bus.subscribe("demo-market")
        self._tasks.append(asyncio.create_task(self.tracker.run(subscription),
                                               name="demo-tracker"))
        self._subscription = subscription
        walks: dict[Symbol, PriceWalk] = {}
        for inst in INSTRUMENTS:
            maker = MarketMaker(inst, self._engine, self.tracker, budget, self.config,
                                random.Random(rng.getrandbits(64)), self._run_id,
                                start_prices.get(inst.symbol))
            self.makers.append(maker)
            walks[inst.symbol] = maker.walk
            self._tasks.append(asyncio.create_task(maker.run(), name=f"demo-mm-{inst.symbol}"))
        taker = TakerFlow(self._engine, budget, self.config, random.Random(rng.getrandbits(64)),
                          self._run_id, walks)
        self._tasks.append(asyncio.create_task(taker.run(), name="demo-taker"))
        for task in self._tasks:
            task.add_done_callback(_log_failure)

    async def stop(self) -> None:
        """Cancel every task, then the makers' quotes (a platform restarted without the demo
        must not show quotes nobody maintains)."""
        tasks, self._tasks = self._tasks, []
        # A maker's `tracker.wait_for` and the engine port's waits can swallow a cancel
        # (gh-86296); failures were logged when the tasks ended.
        await asyncio.gather(*(stop_task(task) for task in tasks), return_exceptions=True)
        if not tasks:
            return
        self._subscription.close()
        cancels = [c.CancelAll(account=maker.account, symbol=maker.inst.symbol)
                   for maker in self.makers]
        with contextlib.suppress(TemporaryError):
            await self._engine.execute_many(cancels)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        _log.error("demo task %s failed", task.get_name(), exc_info=task.exception())
