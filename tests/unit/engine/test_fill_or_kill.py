"""Property tests of fill-or-kill orders: the check before matching is exact.

Each FOK decision is compared with its IOC twin: the same order with time in force IOC, run
on a copy of the engine from just before the command that decided it (for a stop, the copy's
stop is made IOC). The FOK must fill if and only if the twin fills completely, and then with
the same events; otherwise it must not trade at all. Both books run every stream, with every
engine invariant checked after each command.

Two strategies. `fok_scenes` builds the hard cases on purpose, scene after scene: the FOK
account holds a position at one price while the last trade is at another (so closing it
realizes a gain or a loss), makers rest in the book (some of the FOK account's own, some
reduce-only), the FOK account's available cash is trimmed to a few dollars, then a FOK order
arrives, or a FOK stop placed before the makers is triggered (a stop sell holds margin at its
protection price and may fill well above it). `fok_streams` mixes the same ingredients at
random.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.kit.factories import (
    ABC,
    ALICE,
    BOB,
    CAROL,
    DAVE,
    PERP,
    SPOT,
    T0,
    USD,
    XYZ,
    cancel,
    cancel_all,
    deposit,
    make_engine,
    make_instrument,
    make_margin_instrument,
    order,
    withdraw,
)
from tests.kit.invariants import check_engine
from tests.kit.scenario import describe
from tests.kit.streams import FillTracker
from tradehall.engine.book import OrderBook
from tradehall.engine.matcher import MatchingEngine
from tradehall.engine.reference_book import ReferenceBook
from tradehall.engine.state import EngineState, encode_state, restore
from tradehall.kernel.ids import INSURANCE_ACCOUNT, AccountId, OrderId
from tradehall.trading import commands as c
from tradehall.trading import events as e
from tradehall.trading.model import OrderType, SelfTradePrevention, Side, TimeInForce

INSTRUMENTS = (
    # A wide collar: a stop sell holds margin at half its stop and may fill well above that.
    make_margin_instrument(maker_fee="0.001", taker_fee="0.002", stop_collar="0.5"),
    make_instrument(maker_fee="0.001", taker_fee="0.002"),
)
ACCOUNTS = (ALICE, BOB, CAROL, DAVE)
DEPOSITS = {USD: 300_00, ABC: 10, XYZ: 0}
# Wide enough that a position opened at one end and closed at the other loses more than its
# margin (10%).
PRICES = tuple(range(80_00, 120_01, 5_00))
STP = SelfTradePrevention
FOK = TimeInForce.FOK
FOK_STP = (STP.NONE, STP.CANCEL_OLDEST, STP.NONE, STP.CANCEL_NEWEST, STP.CANCEL_BOTH)


@dataclass(frozen=True)
class Trim:
    """A test step: withdraw all but `keep` of an account's available USD."""

    account: AccountId
    keep: int


Step = c.EngineCommand | Trim
Stream = list[tuple[int, Step]]


# -- Scenes ------------------------------------------------------------------------------------


@st.composite
def fok_scenes(draw: st.DrawFn, max_scenes: int = 3) -> Stream:
    """Draw one to `max_scenes` scenes, each ending in a FOK decision."""
    steps: list[Step] = []
    for number in range(draw(st.integers(min_value=1, max_value=max_scenes))):
        steps += draw(_scene(number))
    return [(T0 + i, step) for i, step in enumerate(steps)]


def _side(is_buy: bool) -> Side:
    return Side.BUY if is_buy else Side.SELL


def _dave_trades_at(price: int, coid: Callable[[], str]) -> tuple[Step, Step]:
    # Dave trades with himself (STP none) to set the last price without a position; his
    # resting half goes first so that it is the one his second half meets.
    return (order(DAVE, coid(), Side.BUY, 1, price, symbol=PERP, stp=STP.NONE),
            order(DAVE, coid(), Side.SELL, 1, price, symbol=PERP, stp=STP.NONE))


@st.composite
def _scene(draw: st.DrawFn, number: int) -> list[Step]:
    ids: list[str] = []

    def coid() -> str:
        ids.append(f"x{number}_{len(ids)}")
        return ids[-1]

    taker = ALICE
    stop = draw(st.booleans())
    # The FOK's side (its makers rest on the other); sell stops most, as they may fill above
    # the price they hold margin at.
    is_buy = draw(st.sampled_from((False, False, True) if stop else (False, True)))
    # Where the FOK trades; a stop waits for it on the far side of the last price.
    fill_at = draw(st.sampled_from(PRICES[1:-1]))
    last = draw(st.sampled_from([p for p in PRICES if (p < fill_at if is_buy else p > fill_at)])
                ) if stop else fill_at
    steps: list[Step] = [cancel_all(account) for account in ACCOUNTS]
    # The taker's position, mostly one the FOK closes and flips, opened away from where the
    # FOK trades: closing realizes a gain or a loss (a loss larger than its margin, often).
    held_qty = draw(st.sampled_from((1, 2, 1, 0, 4)))
    long = draw(st.sampled_from((not is_buy, not is_buy, is_buy)))
    if held_qty:
        at = max(1_00, fill_at + draw(st.sampled_from((1, -1))) * draw(st.integers(1, 8)) * 10_00)
        other = draw(st.sampled_from((BOB, CAROL)))
        steps += [order(taker, coid(), _side(long), held_qty, at, symbol=PERP),
                  order(other, coid(), _side(not long), held_qty, at, symbol=PERP)]
    steps += _dave_trades_at(last, coid)
    makers: list[Step] = []
    depth = 0
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        maker = draw(st.sampled_from((BOB, CAROL, taker, BOB, CAROL)))
        offset = draw(st.integers(min_value=0, max_value=2)) * 5_00
        qty = draw(st.integers(min_value=1, max_value=6))
        depth += qty
        makers.append(order(maker, coid(), _side(not is_buy), qty,
                            fill_at + offset if is_buy else fill_at - offset, symbol=PERP,
                            reduce_only=draw(st.integers(0, 3)) == 3))
    # The FOK closes what it may and opens up to about what the makers offer.
    reduce_only = held_qty > 0 and long != is_buy and draw(st.integers(0, 3)) == 3
    qty = draw(st.integers(min_value=1, max_value=held_qty)) if reduce_only else (
        held_qty * (long != is_buy) + depth - draw(st.integers(min_value=0, max_value=depth)))
    limit = draw(st.sampled_from((None, fill_at + 10_00 if is_buy else fill_at - 10_00)))
    fok = order(taker, coid(), _side(is_buy), max(qty, 1), limit,
                stop=fill_at if stop else None, symbol=PERP, tif=FOK,
                stp=draw(st.sampled_from(FOK_STP)), reduce_only=reduce_only)
    # Cash trimmed to a few dollars: enough or just short for what the FOK must top up.
    trim = Trim(taker, draw(st.integers(min_value=0, max_value=60)) * 1_00)
    if stop:
        rest, take = _dave_trades_at(fill_at, coid)
        steps += [fok, rest]
        shrink = draw(st.integers(min_value=0, max_value=held_qty)) if reduce_only else 0
        if shrink:
            # The position shrinks while the stop waits (a trade at the last price).
            steps += [order(BOB, coid(), _side(long), shrink, last, symbol=PERP),
                      order(taker, coid(), _side(not long), shrink, last, symbol=PERP,
                            tif=TimeInForce.IOC)]
        steps += [*makers, trim, take]
    else:
        steps += [*makers, trim, fok]
    # Give the cash back for the next scene.
    steps.append(deposit(taker, USD, 300_00))
    return steps


# -- Random streams ----------------------------------------------------------------------------

KINDS = ("rest", "fok", "rest", "ioc", "rest", "fok_market", "rest", "fok_stop", "fok_stop",
         "cancel", "deposit", "withdraw", "trim")


@st.composite
def fok_streams(draw: st.DrawFn, max_commands: int = 40) -> Stream:
    """Draw a random stream of margin-heavy commands, about a third of them FOK orders."""
    stream: Stream = []
    used: list[tuple[AccountId, str]] = []
    for index in range(draw(st.integers(min_value=5, max_value=max_commands))):
        stream.append((T0 + index, _draw_step(draw, index, used)))
    return stream


def _draw_step(draw: st.DrawFn, index: int, used: list[tuple[AccountId, str]]) -> Step:
    kind = draw(st.sampled_from(KINDS))
    account = ACCOUNTS[(index + draw(st.integers(0, len(ACCOUNTS) - 1))) % len(ACCOUNTS)]
    if kind == "cancel" and used:
        who, coid = used[-1 - draw(st.integers(0, min(len(used), 6) - 1))]
        return cancel(who, coid)
    if kind == "trim":
        return Trim(account, draw(st.integers(min_value=0, max_value=30)) * 1_00)
    if kind in ("deposit", "withdraw", "cancel"):
        amount = draw(st.integers(min_value=1, max_value=60_00))
        return (withdraw if kind == "withdraw" else deposit)(account, USD, amount)
    symbol = PERP if draw(st.integers(0, 4)) else SPOT
    is_buy = (index + draw(st.integers(0, 1))) % 2 == 0
    step = draw(st.integers(0, len(PRICES) - 1))
    if kind == "rest":
        # Resting orders mostly stay on their side of the middle and build depth.
        step = (step + len(PRICES) // 2) % len(PRICES)
    price: int | None = PRICES[-1 - step] if is_buy else PRICES[step]
    stop: int | None = None
    tif, stp = TimeInForce.GTC, STP.CANCEL_NEWEST
    if kind == "ioc":
        tif = TimeInForce.IOC
    elif kind != "rest":
        tif, stp = FOK, draw(st.sampled_from(FOK_STP))
    if kind == "fok_market":
        price = None
    elif kind == "fok_stop":
        stop_step = draw(st.integers(0, len(PRICES) - 1))
        stop = PRICES[stop_step] if is_buy else PRICES[-1 - stop_step]
        price = draw(st.sampled_from([None, price]))
    coid = f"o{index}"
    used.append((account, coid))
    order_type = None if stop is None else OrderType.STOP if price is None else (
        OrderType.STOP_LIMIT)
    return order(account, coid, _side(is_buy), draw(st.integers(min_value=1, max_value=8)),
                 price, stop=stop, symbol=symbol, tif=tif, stp=stp,
                 reduce_only=symbol == PERP and draw(st.integers(0, 3)) == 3,
                 order_type=order_type)


# -- Running and the IOC twin ------------------------------------------------------------------


def _new_engine(book: type[OrderBook] | type[ReferenceBook]) -> MatchingEngine:
    engine = make_engine(book, instruments=INSTRUMENTS, accounts=ACCOUNTS, deposits=DEPOSITS)
    # A small insurance fund: shortfalls in a FOK's match are covered, in part or in full,
    # which must not change what the check decides (it never reads the fund).
    engine.apply(deposit(INSURANCE_ACCOUNT, USD, 20_00), 0)
    return engine


def _command(engine: MatchingEngine, step: Step) -> c.EngineCommand | None:
    if not isinstance(step, Trim):
        return step
    bal = engine.ledger.peek(step.account, USD)
    surplus = 0 if bal is None else bal.available - step.keep
    return withdraw(step.account, USD, surplus) if surplus > 0 else None


def _first_fok_decision(events: list[e.EngineEvent], tracker: FillTracker) -> int | None:
    # Index of the event where the first FOK order decided by this command traded or died.
    for index, ev in enumerate(events):
        if isinstance(ev, e.Trade) and tracker.terms[ev.taker_order_id].time_in_force == FOK:
            return index
        if isinstance(ev, e.OrderCanceled) and ev.reason == "fok_unfillable":
            return index
    return None


def _decided_order(event: e.EngineEvent) -> OrderId:
    if isinstance(event, e.Trade):
        return event.taker_order_id
    assert isinstance(event, e.OrderCanceled)
    return event.order_id


def _as_ioc(command: c.SubmitOrder) -> c.SubmitOrder:
    return msgspec.structs.replace(command, time_in_force=TimeInForce.IOC)


def _twin_events(before: bytes, command: c.EngineCommand, ts: int,
                 order_id: OrderId) -> list[e.EngineEvent]:
    state = msgspec.msgpack.decode(before, type=EngineState)
    if any(row.order_id == order_id for row in state.orders):
        # A waiting stop: the copy's stop becomes IOC.
        rows = [msgspec.structs.replace(row, command=_as_ioc(row.command))
                if row.order_id == order_id else row for row in state.orders]
        state = msgspec.structs.replace(state, orders=rows)
    else:
        assert isinstance(command, c.SubmitOrder)
        command = _as_ioc(command)
    twin = restore(msgspec.msgpack.encode(state))
    return twin.apply(command, ts)


def check_fok_decision(before: bytes, command: c.EngineCommand, ts: int,
                       events: list[e.EngineEvent], tracker: FillTracker) -> None:
    """Compare the first FOK decision of a command with the IOC twin of that order."""
    index = _first_fok_decision(events, tracker)
    if index is None:
        return
    order_id = _decided_order(events[index])
    twin = _twin_events(before, command, ts, order_id)
    # The FOK's acceptance (when it is this command's order) is the only event that differs.
    mine = [msgspec.structs.replace(ev, time_in_force=TimeInForce.IOC)
            if isinstance(ev, e.OrderAccepted) and ev.order_id == order_id else ev
            for ev in events]
    where = f"{command}\nFOK:\n{describe(events)}\nIOC twin:\n{describe(twin)}"
    assert mine[:index] == twin[:index], f"twin differs before the FOK decision: {where}"
    twin_filled = sum(ev.qty for ev in twin
                      if isinstance(ev, e.Trade) and ev.taker_order_id == order_id)
    if twin_filled == tracker.qty[order_id]:
        assert mine == twin, f"FOK killed or filled unlike its IOC twin: {where}"
    else:
        assert isinstance(events[index], e.OrderCanceled), (
            f"FOK traded though its twin could not fill all: {where}")


def run_fok_stream(stream: Stream) -> None:
    """Run a stream on both books, checking invariants and every FOK against its twin."""
    fast, reference = _new_engine(OrderBook), _new_engine(ReferenceBook)
    tracker = FillTracker()
    for step, (ts, item) in enumerate(stream):
        command = _command(fast, item)
        if command is None:
            continue
        before = encode_state(fast)
        events = fast.apply(command, ts)
        where = f"step {step}: {command}\n{describe(events)}"
        assert reference.apply(command, ts) == events, f"reference book differs at {where}"
        tracker.observe(events)
        tracker.check_engine(fast)
        check_engine(fast)
        check_engine(reference)
        check_fok_decision(before, command, ts, events, tracker)


@settings(max_examples=400)
@given(fok_scenes())
def test_fok_when_positions_makers_and_cash_are_set_up_fills_exactly_as_its_ioc_twin(
        stream: Stream) -> None:
    run_fok_stream(stream)


@settings(max_examples=200)
@given(fok_streams())
def test_fok_when_fed_random_margin_heavy_streams_fills_exactly_as_its_ioc_twin(
        stream: Stream) -> None:
    run_fok_stream(stream)
