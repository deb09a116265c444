"""Which balances an event batch publishes: the accounts a run of results touched, the fee and
insurance buckets operators read, never the contra accounts."""

from __future__ import annotations

from tradehall.entrypoints.workers.batches import touched
from tradehall.kernel.ids import (
    CLEARING_ACCOUNT,
    CUSTODY_ACCOUNT,
    FEE_ACCOUNT,
    AccountId,
    AssetCode,
    ClientOrderId,
    OrderId,
    Symbol,
    TradeId,
)
from tradehall.service.messages import CommandResult
from tradehall.trading import events as e
from tradehall.trading.model import Side

ALICE, BOB = AccountId("alice"), AccountId("bob")
SYMBOL = Symbol("ABC-USD")
USD = AssetCode("USD")


def _trade(maker_fee: int, taker_fee: int) -> e.Trade:
    return e.Trade(TradeId(1), SYMBOL, 100, 1, 100, Side.BUY, OrderId(1), BOB,
                   ClientOrderId("b1"), maker_fee, 0, OrderId(2), ALICE, ClientOrderId("a1"),
                   taker_fee, 0)


def test_touched_when_a_trade_pays_fees_publishes_the_fee_bucket() -> None:
    symbols, accounts = touched([CommandResult(1, 0, [_trade(0, 2)])])

    assert symbols == {SYMBOL}
    assert accounts == {ALICE, BOB, FEE_ACCOUNT}


def test_touched_when_a_trade_pays_no_fee_leaves_the_fee_bucket_out() -> None:
    _, accounts = touched([CommandResult(1, 0, [_trade(0, 0)])])

    assert accounts == {ALICE, BOB}


def test_touched_never_publishes_the_contra_accounts() -> None:
    results = [CommandResult(1, 0, [e.Deposited(account=CUSTODY_ACCOUNT, asset=USD,
                                                amount=1, available=1),
                                    e.Deposited(account=CLEARING_ACCOUNT, asset=USD,
                                                amount=1, available=1)])]

    _, accounts = touched(results)

    assert accounts == set()
