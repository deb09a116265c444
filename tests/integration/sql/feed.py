"""A batch feed for projection tests: an engine whose results are wrapped into `EventBatch`es.

Mirrors what `entrypoints/workers/engine_thread.py` publishes (results in seq order, the
balances of every account the batch touched after it) without threads or a journal, so a test
can cut one stream into batches of any size and deliver them as it likes. Pure: runs the
engine only.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from tests.kit.factories import ASSET_SCALES, PERP, SPOT, T0, amend, cancel, order
from tests.kit.streams import STREAM_DEPOSITS, STREAM_INSTRUMENTS
from tradehall.engine import queries
from tradehall.engine.matcher import MatchingEngine
from tradehall.kernel.ids import SYSTEM_ACCOUNTS, AccountId, Symbol
from tradehall.service.messages import BalanceSnapshot, CommandResult, EventBatch
from tradehall.trading import commands as c
from tradehall.trading import events as e
from tradehall.trading.model import Side

Timed = tuple[int, c.EngineCommand]


def setup_commands(accounts: Iterable[AccountId]) -> list[Timed]:
    """Assets, the streams' spot and margin instruments, and deposits for every account."""
    out: list[Timed] = [(T0, c.AddAsset(asset=asset, scale=scale))
                        for asset, scale in ASSET_SCALES.items()]
    out += [(T0, c.AddInstrument(spec=spec)) for spec in STREAM_INSTRUMENTS]
    out += [(T0, c.Deposit(account=account, asset=asset, amount=amount))
            for account in accounts for asset, amount in STREAM_DEPOSITS.items()]
    return out


class BatchFeed:
    """Applies commands to one engine and returns each group of them as an `EventBatch`."""

    def __init__(self) -> None:
        self.engine = MatchingEngine()
        self.seq = 0

    def batch(self, commands: Sequence[Timed]) -> EventBatch:
        results = []
        for ts, command in commands:
            self.seq += 1
            results.append(CommandResult(self.seq, ts, self.engine.apply(command, ts)))
        accounts = sorted(_accounts(results))
        balances = [BalanceSnapshot(account, b.asset, b.available, b.held)
                    for account in accounts for b in queries.balances(self.engine, account)]
        first = results[0].seq if results else self.seq
        return EventBatch(first_seq=first, last_seq=self.seq, results=results, books=[],
                          balances=balances)

    def batches(self, commands: Sequence[Timed], size: int) -> list[EventBatch]:
        """Cut commands into batches of `size`."""
        return [self.batch(commands[i:i + size]) for i in range(0, len(commands), size)]


def _accounts(results: Sequence[CommandResult]) -> set[AccountId]:
    out: set[AccountId] = set()
    for result in results:
        for ev in result.events:
            if isinstance(ev, e.Trade):
                out |= {ev.maker_account, ev.taker_account}
            elif isinstance(ev, e.OrderAccepted | e.OrderCanceled | e.OrderExpired
                        | e.OrderAmended | e.Deposited | e.Withdrawn | e.PositionChanged):
                out.add(ev.account)
    return out - SYSTEM_ACCOUNTS


def random_commands(seed: int, count: int, accounts: Sequence[AccountId]) -> list[c.EngineCommand]:
    """A seeded mix of limit, market and stop orders, cancels and amends on both instruments."""
    rng = random.Random(seed)
    placed: list[tuple[AccountId, str, Symbol]] = []
    out: list[c.EngineCommand] = []
    for i in range(count):
        account = rng.choice(accounts)
        roll = rng.random()
        if roll < 0.25 and placed:
            owner, coid, _ = rng.choice(placed)
            out.append(cancel(owner, coid))
        elif roll < 0.32 and placed:
            owner, coid, _ = rng.choice(placed)
            out.append(amend(owner, coid, qty=rng.randint(1, 6)))
        else:
            symbol = Symbol(rng.choice((SPOT, PERP)))
            side = rng.choice((Side.BUY, Side.SELL))
            kind = rng.random()
            price = None if kind < 0.1 else 99_00 + 25 * rng.randint(0, 8)
            stop = 99_00 + 25 * rng.randint(0, 8) if 0.1 <= kind < 0.15 else None
            coid = f"r{i}"
            out.append(order(account, coid, side, rng.randint(1, 5), price, stop=stop,
                             symbol=symbol))
            placed.append((account, coid, symbol))
    return out
