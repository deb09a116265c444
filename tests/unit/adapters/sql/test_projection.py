"""The pure fold of the SQL projector: UUIDs, spot cost basis, candle buckets, balances."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from tests.kit.factories import ALICE, BOB, SPOT, T0, USD, make_instrument
from tradehall.adapters.sql.projection import (
    CANDLE_INTERVALS,
    ProjectionCache,
    bucket_start,
    fold,
    order_uuid,
)
from tradehall.kernel import ids
from tradehall.kernel.ids import ClientOrderId, OrderId, Symbol, TradeId
from tradehall.service.messages import BalanceSnapshot, CommandResult
from tradehall.trading import events as e
from tradehall.trading.model import OrderType, SelfTradePrevention, Side, TimeInForce

MINUTE = 60 * 10**9


@given(st.integers(min_value=0, max_value=2**63))
def test_order_uuid_when_computed_fast_equals_kernel_uuid(order_id: int) -> None:
    assert order_uuid(order_id) == ids.order_uuid(OrderId(order_id))


def _cache() -> ProjectionCache:
    cache = ProjectionCache()
    cache.loaded = True
    fold([CommandResult(1, T0, [e.InstrumentAdded(spec=make_instrument())])], [], cache, 1)
    return cache


def _accept(order_id: int, account: str, side: Side, qty: int) -> e.OrderAccepted:
    return e.OrderAccepted(
        order_id=OrderId(order_id), account=ids.AccountId(account),
        client_order_id=ClientOrderId(f"c{order_id}"), symbol=Symbol(SPOT), side=side,
        order_type=OrderType.LIMIT, qty=qty, price=100, stop_price=None,
        time_in_force=TimeInForce.GTC, post_only=False, reduce_only=False,
        stp=SelfTradePrevention.CANCEL_NEWEST, hold_asset=USD, held=0)


def _trade(trade_id: int, price: int, qty: int, maker: int, taker: int,
           taker_side: Side = Side.BUY) -> e.Trade:
    return e.Trade(
        trade_id=TradeId(trade_id), symbol=Symbol(SPOT), price=price, qty=qty,
        notional=price * qty, taker_side=taker_side, maker_order_id=OrderId(maker),
        maker_account=BOB, maker_client_order_id=ClientOrderId(f"c{maker}"), maker_fee=0,
        maker_leaves_qty=1_000, taker_order_id=OrderId(taker), taker_account=ALICE,
        taker_client_order_id=ClientOrderId(f"c{taker}"), taker_fee=0, taker_leaves_qty=1_000)


def test_fold_when_spot_bought_and_sold_keeps_average_cost() -> None:
    # Arrange
    cache = _cache()
    results = [CommandResult(2, T0, [_accept(1, "bob", Side.SELL, 10_000),
                                     _accept(2, "alice", Side.BUY, 10_000),
                                     _accept(3, "bob", Side.BUY, 10_000)]),
               CommandResult(3, T0, [_trade(1, 100, 10, maker=1, taker=2),
                                     _trade(2, 200, 10, maker=1, taker=2)]),
               CommandResult(4, T0, [_trade(3, 300, 5, maker=3, taker=2,
                                            taker_side=Side.SELL)])]

    # Act
    changes = fold(results, [], cache, 4)

    # Assert: alice bought 20 for 3,000 tick-lots, sold 5: a quarter of the basis goes
    alice = changes.positions[("alice", SPOT)]
    assert (alice["net_qty"], alice["cost_ticks"]) == (15, 2_250)
    # Bob sold 20 he never bought (deposited): no holding; then bought 5 at 300
    bob = changes.positions[("bob", SPOT)]
    assert (bob["net_qty"], bob["cost_ticks"]) == (5, 1_500)


def test_fold_when_trades_cross_a_minute_writes_both_buckets() -> None:
    # Arrange
    cache = _cache()
    start = bucket_start(T0, 60)
    results = [CommandResult(2, start, [_accept(1, "bob", Side.SELL, 10_000),
                                        _accept(2, "alice", Side.BUY, 10_000)]),
               CommandResult(3, start + 1, [_trade(1, 100, 1, 1, 2), _trade(2, 90, 2, 1, 2)]),
               CommandResult(4, start + MINUTE, [_trade(3, 110, 3, 1, 2)])]

    # Act
    changes = fold(results, [], cache, 4)

    # Assert
    minute = {k[2]: v for k, v in changes.candles.items() if k[1] == 60}
    assert minute[start] | {} == {"symbol": SPOT, "interval_s": 60, "start_ns": start,
                                  "open": 100, "high": 100, "low": 90, "close": 90,
                                  "volume": 3, "trades": 2}
    assert (minute[start + MINUTE]["open"], minute[start + MINUTE]["trades"]) == (110, 1)
    hourly = [v for k, v in changes.candles.items() if k[1] == 3_600]
    assert [(c["volume"], c["trades"], c["high"]) for c in hourly] == [(6, 3, 110)]
    assert {k[1] for k in changes.candles} == set(CANDLE_INTERVALS)


def test_fold_when_balances_reported_twice_keeps_the_later() -> None:
    cache = _cache()
    snaps = [(5, BalanceSnapshot(ALICE, USD, 10, 0)), (9, BalanceSnapshot(ALICE, USD, 7, 3))]
    changes = fold([], snaps, cache, 9)
    assert changes.balances == {("alice", "USD"): {"account": "alice", "asset": "USD",
                                                   "available": 7, "held": 3, "seq": 9}}


def test_fold_when_a_loss_falls_short_reports_it_with_its_seq_and_writes_no_row() -> None:
    # Arrange
    cache = _cache()
    shortfall = e.LossShortfall(account=ALICE, symbol=Symbol("XYZ-PERP"), asset=USD,
                                shortfall=45_00, covered=20_00, uncovered=25_00)

    # Act
    changes = fold([CommandResult(7, T0, [shortfall])], [], cache, 7)

    # Assert
    assert changes.shortfalls == [(7, shortfall)]
    assert changes.row_count() == 0


def test_fold_when_a_desk_fill_is_off_book_writes_its_fills_but_no_candle() -> None:
    # Arrange
    cache = _cache()
    opened = [CommandResult(2, T0, [_accept(1, "bob", Side.SELL, 10_000),
                                    _accept(2, "alice", Side.BUY, 10_000)])]
    fold(opened, [], cache, 2)
    desk = msgspec.structs.replace(_trade(1, 60_00, 3, maker=1, taker=2), off_book=True)

    # Act
    changes = fold([CommandResult(3, T0 + MINUTE, [desk])], [], cache, 3)

    # Assert
    assert [(f["liquidity"], f["price"], f["qty"]) for f in changes.fills] == [
        ("maker", 60_00, 3), ("taker", 60_00, 3)]
    assert changes.candles == {}
    assert Symbol(SPOT) not in cache.candles
