"""The demo market's pure parts: the seeded price walk, the quote ladder, the order tracker."""

from __future__ import annotations

import asyncio
import random

import pytest

from tradehall.entrypoints.demo import catalog
from tradehall.entrypoints.demo.makers import CommandBudget
from tradehall.entrypoints.demo.tracker import OrderTracker
from tradehall.entrypoints.demo.walk import PriceWalk
from tradehall.kernel.ids import AccountId, AssetCode, ClientOrderId, OrderId, Symbol, TradeId
from tradehall.service.messages import CommandResult, EventBatch
from tradehall.trading import events as e
from tradehall.trading.model import OrderType, SelfTradePrevention, Side, TimeInForce

MAKER = AccountId("demo:mm-btc-usd")
BTC = Symbol("BTC-USD")


@pytest.mark.parametrize("inst", catalog.INSTRUMENTS, ids=lambda i: i.symbol)
def test_walk_when_run_for_a_day_of_requotes_stays_well_inside_the_price_band(
        inst: catalog.DemoInstrument) -> None:
    # Arrange
    walk = PriceWalk(inst, random.Random(1))
    band = inst.spec.price_band
    assert band is not None

    # Act
    path = [walk.step() for _ in range(86_400)]

    # Assert: the pull to the anchor keeps it within half the band
    limit = walk.anchor * band / 2
    assert max(abs(p - walk.anchor) for p in path) < limit
    assert len(set(path)) > 100  # it does move


def test_walk_when_seeded_alike_gives_the_same_path() -> None:
    # Arrange
    inst = catalog.BY_SYMBOL["ETH-USD"]
    first, second = PriceWalk(inst, random.Random(9)), PriceWalk(inst, random.Random(9))

    # Act / Assert
    assert [first.step() for _ in range(500)] == [second.step() for _ in range(500)]


@pytest.mark.parametrize("inst", catalog.INSTRUMENTS, ids=lambda i: i.symbol)
def test_ladder_when_built_is_two_sided_ordered_and_never_crossed(
        inst: catalog.DemoInstrument) -> None:
    # Arrange
    walk = PriceWalk(inst, random.Random(3))
    levels = 5

    for _ in range(200):
        walk.step()
        sizes = walk.sizes(levels)

        # Act
        quotes = walk.ladder(levels, sizes)

        # Assert
        bids = [q.price for q in quotes if q.side is Side.BUY]
        asks = [q.price for q in quotes if q.side is Side.SELL]
        assert len(bids) == len(asks) == levels
        assert bids == sorted(bids, reverse=True)
        assert asks == sorted(asks)
        assert len(set(bids)) == len(set(asks)) == levels
        assert bids[0] < walk.mid < asks[0]
        low, high = inst.quote_lots
        assert all(low <= q.qty <= high for q in quotes)


def _accepted(coid: str, order_id: int, qty: int, price: int) -> e.OrderAccepted:
    return e.OrderAccepted(
        order_id=OrderId(order_id), account=MAKER, client_order_id=ClientOrderId(coid),
        symbol=BTC, side=Side.BUY, order_type=OrderType.LIMIT, qty=qty, price=price,
        stop_price=None, time_in_force=TimeInForce.GTC, post_only=False, reduce_only=False,
        stp=SelfTradePrevention.CANCEL_NEWEST, hold_asset=AssetCode("USD"), held=1)


def _trade(coid: str, order_id: int, qty: int, leaves: int) -> e.Trade:
    return e.Trade(
        trade_id=TradeId(order_id * 10 + leaves), symbol=BTC, price=100, qty=qty, notional=1,
        taker_side=Side.SELL, maker_order_id=OrderId(order_id), maker_account=MAKER,
        maker_client_order_id=ClientOrderId(coid), maker_fee=0, maker_leaves_qty=leaves,
        taker_order_id=OrderId(999), taker_account=AccountId("bob"),
        taker_client_order_id=ClientOrderId("t"), taker_fee=0, taker_leaves_qty=0)


def _batch(seq: int, *events: e.EngineEvent) -> EventBatch:
    return EventBatch(first_seq=seq, last_seq=seq, results=[CommandResult(seq, 1, list(events))],
                      books=[], balances=[])


async def test_tracker_when_orders_fill_and_cancel_keeps_only_live_ones() -> None:
    # Arrange
    tracker = OrderTracker({MAKER})

    # Act
    tracker.apply(_batch(1, _accepted("a", 1, 10, 100), _accepted("b", 2, 5, 99)))
    tracker.apply(_batch(2, _trade("a", 1, 4, 6), _trade("b", 2, 5, 0)))
    tracker.apply(_batch(3, _accepted("c", 3, 7, 98)))
    tracker.apply(_batch(4, e.OrderCanceled(
        order_id=OrderId(3), account=MAKER, client_order_id=ClientOrderId("c"), symbol=BTC,
        remaining_qty=7, reason="canceled")))

    # Assert
    live = tracker.live(MAKER, BTC)
    assert [(o.client_order_id, o.leaves, o.filled) for o in live] == [("a", 6, 4)]
    assert tracker.last_price[BTC] == 100
    assert tracker.trades == 2
    assert await tracker.wait_for(4, timeout_s=0.01)
    assert not await tracker.wait_for(5, timeout_s=0.01)


async def test_tracker_when_the_batch_arrives_later_wakes_the_waiter() -> None:
    # Arrange
    tracker = OrderTracker({MAKER})
    waiter = asyncio.create_task(tracker.wait_for(1, timeout_s=2))
    await asyncio.sleep(0)

    # Act
    tracker.apply(_batch(1, _accepted("a", 1, 10, 100)))

    # Assert
    assert await waiter


async def test_budget_when_drained_waits_for_the_rate() -> None:
    # Arrange
    budget = CommandBudget(rate=100.0)
    loop = asyncio.get_running_loop()
    await budget.take(100)
    started = loop.time()

    # Act
    await budget.take(20)

    # Assert: 20 commands at 100/s take about 0.2 s
    assert 0.1 < loop.time() - started < 1.0
