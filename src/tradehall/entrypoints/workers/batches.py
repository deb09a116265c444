"""Build the `EventBatch` an engine publishes after a journaled batch of commands.

Shared by the embedded engine thread and the scale-out engine node, so both publish the same
stream: each command's results, the top-of-book changes of every symbol the commands touched
(numbered per symbol by the `DepthTracker`) and the balances of every account they touched.
"""

from __future__ import annotations

from tradehall.engine import queries
from tradehall.engine.matcher import MatchingEngine
from tradehall.kernel.ids import FEE_ACCOUNT, INSURANCE_ACCOUNT, SYSTEM_ACCOUNTS, AccountId, Symbol
from tradehall.marketdata.depth import DepthTracker
from tradehall.service.messages import BalanceSnapshot, BookUpdate, CommandResult, EventBatch
from tradehall.trading import events as e


class BatchBuilder:
    """Turns results into event batches against one engine, tracking the published depth."""

    def __init__(self, depth: DepthTracker) -> None:
        self.depth = depth

    def build(self, engine: MatchingEngine, results: list[CommandResult], *, last_seq: int,
              all_symbols: bool = False,
              more_accounts: set[AccountId] | None = None) -> EventBatch:
        """The batch of `results` (which may be empty: then it carries only depth and balances
        as of `last_seq`)."""
        symbols, accounts = touched(results)
        if more_accounts:
            accounts |= more_accounts
        if all_symbols:
            symbols = {v.spec.symbol for v in queries.instruments(engine)}
        last = results[-1] if results else None
        seq = last.seq if last else last_seq
        ts = last.ts_ns if last else engine.now_ns
        books: list[BookUpdate] = []
        depth = self.depth.depth
        for symbol in sorted(symbols):
            bids, asks = queries.book_depth(engine, symbol, depth)
            update = self.depth.update(symbol, bids, asks, seq, ts)
            if update is not None:
                books.append(update)
        balances = [BalanceSnapshot(account, b.asset, b.available, b.held)
                    for account in sorted(accounts)
                    for b in queries.balances(engine, account)]
        first = results[0].seq if results else seq
        return EventBatch(first_seq=first, last_seq=seq, results=results, books=books,
                          balances=balances)


def touched(results: list[CommandResult]) -> tuple[set[Symbol], set[AccountId]]:
    """Symbols whose book and accounts whose balances a run of results may have changed."""
    symbols: set[Symbol] = set()
    accounts: set[AccountId] = set()
    for result in results:
        for ev in result.events:
            if isinstance(ev, e.Trade):
                symbols.add(ev.symbol)
                accounts.add(ev.maker_account)
                accounts.add(ev.taker_account)
                if ev.maker_fee or ev.taker_fee:
                    accounts.add(FEE_ACCOUNT)
            elif isinstance(ev, e.OrderAccepted | e.OrderCanceled | e.OrderExpired
                            | e.OrderAmended | e.StopTriggered):
                symbols.add(ev.symbol)
                accounts.add(ev.account)
            elif isinstance(ev, e.Deposited | e.Withdrawn | e.PositionChanged):
                accounts.add(ev.account)
            elif isinstance(ev, e.InstrumentAdded):
                symbols.add(ev.spec.symbol)
            elif isinstance(ev, e.LiquidationTriggered | e.LossShortfall):
                accounts.add(INSURANCE_ACCOUNT)  # a liquidation fee paid in, a shortfall paid
    # The insurance fund's and the fees' balances are published (operators read them like an
    # account's, and collect the fees); the contra accounts' are not.
    accounts -= _UNPUBLISHED
    return symbols, accounts


_UNPUBLISHED = SYSTEM_ACCOUNTS - {INSURANCE_ACCOUNT, FEE_ACCOUNT}
