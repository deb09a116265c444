"""A batch feed for projection tests: an engine whose results are wrapped into `EventBatch`es.

Mirrors what `entrypoints/workers/engine_thread.py` publishes (results in seq order, the
balances of every account the batch touched after it) without threads or a journal, so a test
can cut one stream into batches of any size and deliver them as it likes. Pure: runs the
engine only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tests.kit.factories import ASSET_SCALES, T0
from tests.kit.streams import STREAM_DEPOSITS, STREAM_INSTRUMENTS
from tradehall.engine import queries
from tradehall.engine.matcher import MatchingEngine
from tradehall.kernel.ids import SYSTEM_ACCOUNTS, AccountId
from tradehall.service.messages import BalanceSnapshot, CommandResult, EventBatch
from tradehall.trading import commands as c
from tradehall.trading import events as e

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
