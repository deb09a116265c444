"""`ManualFill`: the desk's off-book trade between an account and the house.

It settles like a trade at the dealer's price (funds, fees, positions, conservation), never
touches the public book nor its last price, ends with both sides filled, is refused with a
reason when either side cannot take it, answers a repeat like a repeated order, and replays to
the same state (the codec carries it)."""

from __future__ import annotations

from tests.kit.factories import (
    ABC,
    ALICE,
    BOB,
    CAROL,
    PERP,
    SPOT,
    T0,
    USD,
    buy,
    make_engine,
    make_instrument,
    make_margin_instrument,
    sell,
)
from tests.kit.invariants import check_engine
from tradehall.engine import queries
from tradehall.engine.codec import decode_command, encode_command
from tradehall.engine.matcher import MatchingEngine
from tradehall.engine.state import state_hash
from tradehall.kernel.ids import AccountId, AssetCode, ClientOrderId, Symbol
from tradehall.trading import commands as c
from tradehall.trading import events as e
from tradehall.trading.model import Side

HOUSE = AccountId("house")
INSTRUMENTS = [make_instrument(maker_fee="0.001", taker_fee="0.002"), make_margin_instrument()]


def engine_with_house() -> MatchingEngine:
    return make_engine(instruments=INSTRUMENTS, accounts=(ALICE, BOB, CAROL, HOUSE))


def fill(account: AccountId, side: Side, qty: int, price: int, *, symbol: str = PERP,
         cid: str = "fb-1", reduce_only: bool = False,
         counterparty: AccountId = HOUSE) -> c.ManualFill:
    return c.ManualFill(account=account, client_order_id=ClientOrderId(cid),
                        symbol=Symbol(symbol), side=side, qty=qty, price=price,
                        counterparty=counterparty, reduce_only=reduce_only)


def totals(engine: MatchingEngine) -> dict[AssetCode, int]:
    return dict(engine.ledger.totals())


def net(engine: MatchingEngine, account: AccountId, symbol: str = PERP) -> int:
    return next((p.net_qty for p in queries.positions(engine, account) if p.symbol == symbol),
                0)


def test_a_margin_close_settles_against_the_house_off_the_book() -> None:
    engine = engine_with_house()
    engine.apply(sell(BOB, "b1", 10, 100_00, symbol=PERP), T0)
    engine.apply(buy(ALICE, "a1", 10, 100_00, symbol=PERP), T0 + 1)
    engine.apply(buy(CAROL, "c1", 5, 90_00, symbol=PERP), T0 + 2)  # a public bid stays put
    before = totals(engine)
    depth = queries.book_depth(engine, Symbol(PERP), 10)

    events = engine.apply(fill(ALICE, Side.SELL, 10, 95_00, reduce_only=True), T0 + 3)

    [trade] = [ev for ev in events if isinstance(ev, e.Trade)]
    assert (trade.price, trade.qty, trade.taker_account, trade.maker_account) == (
        95_00, 10, ALICE, HOUSE)
    assert trade.taker_client_order_id == "fb-1"
    assert trade.maker_client_order_id == "fb-1~h"
    assert net(engine, ALICE) == 0
    assert net(engine, HOUSE) == 10
    assert queries.book_depth(engine, Symbol(PERP), 10) == depth
    assert queries.open_orders(engine, ALICE) == []
    assert queries.open_orders(engine, HOUSE) == []
    assert totals(engine) == before
    check_engine(engine)


def test_both_sides_end_filled_and_the_trade_reports_nothing_left() -> None:
    engine = engine_with_house()

    events = engine.apply(fill(ALICE, Side.BUY, 3, 95_00), T0)

    [trade] = [ev for ev in events if isinstance(ev, e.Trade)]
    assert (trade.maker_leaves_qty, trade.taker_leaves_qty) == (0, 0)
    assert trade.off_book
    assert not [ev for ev in events if isinstance(ev, e.OrderCanceled)]
    assert queries.last_price(engine, Symbol(PERP)) is None  # the book has not traded
    check_engine(engine)


def test_a_spot_sale_moves_the_asset_and_the_cash_with_fees() -> None:
    engine = engine_with_house()
    alice_abc = {b.asset: b for b in queries.balances(engine, ALICE)}[ABC].available
    before = totals(engine)

    events = engine.apply(fill(ALICE, Side.SELL, 4, 50_00, symbol=SPOT), T0)

    [trade] = [ev for ev in events if isinstance(ev, e.Trade)]
    balances = {b.asset: b for b in queries.balances(engine, ALICE)}
    house = {b.asset: b for b in queries.balances(engine, HOUSE)}
    assert balances[ABC].available == alice_abc - 4
    assert trade.notional == 200_00
    assert trade.taker_fee == 200_00 * 2 // 1000
    assert balances[USD].available == 10_000_000_00 + 200_00 - trade.taker_fee
    assert house[ABC].available == 1_000 + 4
    assert totals(engine) == before
    check_engine(engine)


def test_refusals_name_the_reason_and_change_nothing() -> None:
    engine = engine_with_house()
    engine.apply(sell(BOB, "b1", 10, 100_00, symbol=PERP), T0)
    engine.apply(buy(ALICE, "a1", 10, 100_00, symbol=PERP), T0 + 1)
    poor = AccountId("poor")
    engine.apply(c.AdvanceTime(), T0 + 2)  # engine time is part of the state
    cases = [
        (fill(ALICE, Side.SELL, 11, 95_00, reduce_only=True), "reduce_only_would_increase"),
        (fill(ALICE, Side.SELL, 1, 0), "invalid_price"),
        (fill(HOUSE, Side.SELL, 1, 95_00), "invalid_counterparty"),
        (fill(ALICE, Side.SELL, 1, 95_00, symbol="NOPE"), "unknown_symbol"),
        (fill(ALICE, Side.SELL, 1, 95_00, counterparty=AccountId("@fees")), "invalid_account"),
        (fill(poor, Side.BUY, 1, 95_00), "insufficient_funds"),
    ]
    for command, reason in cases:
        snapshot = state_hash(engine)
        events = engine.apply(command, T0 + 2)
        [rejected] = [ev for ev in events if isinstance(ev, e.OrderRejected)]
        assert rejected.reason == reason, (command, events)
        assert state_hash(engine) == snapshot, reason
    check_engine(engine)


def test_a_house_without_funds_trades_nothing() -> None:
    engine = make_engine(instruments=INSTRUMENTS, accounts=(ALICE, BOB))
    before = totals(engine)

    events = engine.apply(fill(ALICE, Side.SELL, 4, 50_00, symbol=SPOT,
                               counterparty=AccountId("empty")), T0)

    kinds = [type(ev).__name__ for ev in events]
    assert kinds == ["OrderAccepted", "OrderRejected", "OrderCanceled"]
    canceled = events[-1]
    assert isinstance(canceled, e.OrderCanceled)
    assert canceled.reason == "counterparty_insufficient_funds"
    assert totals(engine) == before
    assert {b.asset: b.held for b in queries.balances(engine, ALICE)}[ABC] == 0
    check_engine(engine)


def test_a_repeat_answers_the_original_and_other_content_is_refused() -> None:
    engine = engine_with_house()
    first = engine.apply(fill(ALICE, Side.SELL, 4, 50_00, symbol=SPOT), T0)
    again = engine.apply(fill(ALICE, Side.SELL, 4, 50_00, symbol=SPOT), T0 + 1)
    other = engine.apply(fill(ALICE, Side.SELL, 5, 50_00, symbol=SPOT), T0 + 2)

    accepted = next(ev for ev in first if isinstance(ev, e.OrderAccepted))
    assert again == [e.OrderDuplicate(order_id=accepted.order_id, account=ALICE,
                                      client_order_id=ClientOrderId("fb-1"))]
    assert [ev.reason for ev in other if isinstance(ev, e.OrderRejected)] == [
        "duplicate_client_order_id"]


def test_a_journaled_manual_fill_replays_to_the_same_state() -> None:
    commands: list[c.EngineCommand] = [
        sell(BOB, "b1", 10, 100_00, symbol=PERP), buy(ALICE, "a1", 10, 100_00, symbol=PERP),
        fill(ALICE, Side.SELL, 6, 97_00, reduce_only=True),
        fill(CAROL, Side.BUY, 3, 51_00, symbol=SPOT, cid="fb-2")]
    live, replayed = engine_with_house(), engine_with_house()
    for i, command in enumerate(commands):
        live.apply(command, T0 + i)
        replayed.apply(decode_command(encode_command(command)), T0 + i)

    assert state_hash(live) == state_hash(replayed)
    assert net(live, ALICE) == 4
    assert net(live, HOUSE) == 6
