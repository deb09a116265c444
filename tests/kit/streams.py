"""Random command streams for property tests, and trackers that check events against them.

`command_streams(config)` is a hypothesis strategy of `[(ts, command), ...]` over a few
accounts and the kit's spot and margin instruments: limit orders in every time in force,
market, post-only, reduce-only, stop and stop-limit orders, random STP modes, about 30%
cancels (by client id, by engine id, cancel-all), amends, deposits, withdrawals (a third of
them to or from the insurance fund), status changes and time jumps across midnight. Cancels
and amends name client order ids used earlier in the stream, so they often hit live orders.
Prices sit on a narrow grid so books cross often. `FillTracker` follows the events of one
engine and asserts no order is overfilled and that leaves quantities reported by trades
agree with the fills so far; `FundTracker` that the insurance fund moves only as the events
say. Pure: builds values and checks them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hypothesis import strategies as st

from tests.kit.factories import (
    ABC,
    ALICE,
    BOB,
    CAROL,
    DAY_NS,
    PERP,
    SPOT,
    T0,
    USD,
    amend,
    cancel,
    cancel_all,
    deposit,
    make_instrument,
    make_margin_instrument,
    order,
    set_status,
    withdraw,
)
from tradehall.engine.liquidation import LIQUIDATION_PREFIX
from tradehall.engine.matcher import MatchingEngine
from tradehall.engine.orders import OrderState
from tradehall.kernel.ids import (
    INSURANCE_ACCOUNT,
    AccountId,
    AssetCode,
    ClientOrderId,
    OrderId,
    Symbol,
)
from tradehall.trading import commands as c
from tradehall.trading import events as e
from tradehall.trading.model import (
    InstrumentSpec,
    InstrumentStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)

Stream = list[tuple[int, c.EngineCommand]]

STREAM_INSTRUMENTS: Sequence[InstrumentSpec] = (
    make_instrument(maker_fee="0.001", taker_fee="0.002", price_band="0.015"),
    # Maintenance just under the 10% initial margin: a move of about half a percent, well
    # inside the streams' price range, liquidates a position; its fee feeds the fund.
    make_margin_instrument(maker_fee="0.001", taker_fee="0.002", maintenance_margin_rate="0.095",
                           liquidation_fee_rate="0.005"),
)
# 1% margin, liquidated at 0.5%: the 5% stop collar lets a liquidation lose more than the
# margin, so with little cash losses are capped and the insurance fund pays shortfalls.
LEVERAGED = Symbol("XYZ-LEV")
LEVERAGED_INSTRUMENT = make_margin_instrument(
    LEVERAGED, margin_rate="0.01", taker_fee="0.001", maintenance_margin_rate="0.005",
    liquidation_fee_rate="0.01")
# Enough for a handful of orders each, so funds run out now and then.
STREAM_DEPOSITS: dict[AssetCode, int] = {USD: 2_500_00, ABC: 15}


@dataclass(frozen=True)
class StreamConfig:
    """Shape of a random stream."""

    accounts: Sequence[AccountId] = (ALICE, BOB, CAROL)
    symbols: Sequence[str] = (SPOT, PERP)
    prices: Sequence[int] = tuple(range(99_00, 101_01, 25))  # 99.00 to 101.00
    max_qty: int = 8
    max_commands: int = 80
    deposits: Mapping[AssetCode, int] = field(default_factory=lambda: dict(STREAM_DEPOSITS))
    extra_kinds: Sequence[str] = ()  # added to the default mix of step kinds


# Relative weights of the kinds of step; cancels are about 30% of all steps.
_KINDS = (
    ["limit"] * 12 + ["market", "stop", "stop_limit"] + ["cancel"] * 7 + ["cancel_id"]
    + ["cancel_all"] + ["amend"] * 3 + ["deposit", "withdraw", "time", "status", "close"]
)
_TIFS = [TimeInForce.GTC] * 6 + [TimeInForce.DAY, TimeInForce.IOC, TimeInForce.FOK]
_STATUSES = [InstrumentStatus.TRADING] * 4 + [InstrumentStatus.HALTED,
                                              InstrumentStatus.CLOSE_ONLY]
_STP_MODES = [SelfTradePrevention.CANCEL_NEWEST, SelfTradePrevention.NONE,
              SelfTradePrevention.CANCEL_OLDEST, SelfTradePrevention.CANCEL_BOTH]


@st.composite
def command_streams(draw: st.DrawFn, config: StreamConfig | None = None) -> Stream:
    """Draw a stream of timestamped engine commands."""
    cfg = config or StreamConfig()
    size = draw(st.integers(min_value=min(10, cfg.max_commands), max_value=cfg.max_commands))
    used: list[tuple[AccountId, str]] = []
    stream: Stream = []
    kinds = _KINDS + list(cfg.extra_kinds)
    ts = T0
    for index in range(size):
        kind = draw(st.sampled_from(kinds))
        ts += draw(st.integers(min_value=0, max_value=1_000))
        if kind == "time":
            ts += draw(st.sampled_from([3_600 * 10**9, DAY_NS]))
            command: c.EngineCommand = c.AdvanceTime()
        else:
            command = _draw_command(draw, cfg, kind, index, used)
        stream.append((ts, command))
    return stream


def _draw_command(draw: st.DrawFn, cfg: StreamConfig, kind: str, index: int,
                  used: list[tuple[AccountId, str]]) -> c.EngineCommand:
    # Hypothesis prefers the first choice of everything, so the first choices are made the
    # interesting ones: rotating accounts, alternating sides, crossing prices, recent orders.
    account = cfg.accounts[(index + draw(st.integers(0, len(cfg.accounts) - 1)))
                           % len(cfg.accounts)]
    if kind in ("cancel", "amend") and used:
        account, coid = used[-1 - draw(st.integers(0, min(len(used), 8) - 1))]
        if kind == "cancel":
            return cancel(account, coid)
        qty = draw(st.none() | st.integers(min_value=1, max_value=cfg.max_qty))
        price = draw(st.none() | st.sampled_from(cfg.prices))
        return amend(account, coid, qty=qty, price=price)
    if kind == "cancel_id":
        return cancel(account, order_id=draw(st.integers(min_value=1, max_value=index + 1)))
    if kind == "cancel_all":
        return cancel_all(account, draw(st.none() | st.sampled_from(cfg.symbols)))
    if kind in ("deposit", "withdraw"):
        if _one_in(draw, 3):
            account = INSURANCE_ACCOUNT  # the operator funds the insurance fund
        asset = draw(st.sampled_from([USD, ABC]))
        amount = draw(st.integers(min_value=1, max_value=2_000_00 if asset == USD else 20))
        return (deposit if kind == "deposit" else withdraw)(account, asset, amount)
    if kind == "close":
        coid = f"close{index}"
        used.append((account, coid))
        return c.ClosePosition(account=account, symbol=Symbol(draw(st.sampled_from(cfg.symbols))),
                               client_order_id=ClientOrderId(coid))
    if kind == "status":
        return set_status(draw(st.sampled_from(cfg.symbols)), draw(st.sampled_from(_STATUSES)))
    return _draw_order(draw, cfg, kind, account, index, used)


def _draw_order(draw: st.DrawFn, cfg: StreamConfig, kind: str, account: AccountId,
                index: int, used: list[tuple[AccountId, str]]) -> c.SubmitOrder:
    symbol = cfg.symbols[(index + draw(st.integers(0, len(cfg.symbols) - 1)))
                         % len(cfg.symbols)]
    # Mostly fresh client ids; now and then a reused one (duplicate or conflicting resubmit).
    if used and _one_in(draw, 20):
        account, coid = draw(st.sampled_from(used))
    else:
        coid = f"o{index}"
        used.append((account, coid))
    is_buy = (index + draw(st.integers(0, 1))) % 2 == 0
    # Aggressiveness 0 is the most aggressive price: buys high, sells low.
    step = draw(st.integers(0, len(cfg.prices) - 1))
    price: int | None = cfg.prices[-1 - step] if is_buy else cfg.prices[step]
    stop: int | None = None
    tif = draw(st.sampled_from(_TIFS))
    post_only = False
    if kind == "market":
        price = None
        tif = draw(st.sampled_from([TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK]))
    elif kind in ("stop", "stop_limit"):
        # A buy stop sits above the market, a sell stop below, at first choice.
        stop_step = draw(st.integers(0, len(cfg.prices) - 1))
        stop = cfg.prices[-1 - stop_step] if is_buy else cfg.prices[stop_step]
        price = None if kind == "stop" else price
    else:
        post_only = _one_in(draw, 10)
    order_type = {"market": OrderType.MARKET, "stop": OrderType.STOP,
                  "stop_limit": OrderType.STOP_LIMIT}.get(kind, OrderType.LIMIT)
    return order(
        account, coid, Side.BUY if is_buy else Side.SELL,
        draw(st.integers(min_value=1, max_value=cfg.max_qty)), price, stop=stop,
        symbol=symbol, tif=tif, post_only=post_only,
        reduce_only=symbol != SPOT and _one_in(draw, 6),
        stp=draw(st.sampled_from(_STP_MODES)), order_type=order_type)


def _one_in(draw: st.DrawFn, n: int) -> bool:
    # True about once in n draws, and False for hypothesis's simplest choice.
    return draw(st.integers(min_value=0, max_value=n - 1)) == n - 1


class FillTracker:
    """Follows one engine's events and checks each against the orders' terms.

    Asserts: no order fills beyond its quantity; trade leaves agree with the fills so far; a
    FOK order fills completely or not at all; a post-only order never takes; an order whose
    STP mode is not `none` never trades with its own account as taker; a taker trades at
    its limit or better, a maker at its own price; IOC, FOK and market orders never rest.
    """

    def __init__(self) -> None:
        self.qty: dict[OrderId, int] = {}
        self.filled: dict[OrderId, int] = {}
        self.terms: dict[OrderId, e.OrderAccepted] = {}
        self.limit: dict[OrderId, int | None] = {}
        self.done: set[OrderId] = set()

    def observe(self, events: Sequence[e.EngineEvent]) -> None:
        """Check and record a command's events."""
        for event in events:
            if isinstance(event, e.OrderAccepted):
                assert event.order_id not in self.qty, f"order id reused: {event}"
                self.qty[event.order_id] = event.qty
                self.filled[event.order_id] = 0
                self.terms[event.order_id] = event
                self.limit[event.order_id] = event.price
            elif isinstance(event, e.OrderAmended):
                self._live(event.order_id)
                self.qty[event.order_id] = self.filled[event.order_id] + event.remaining_qty
                self.limit[event.order_id] = event.price
            elif isinstance(event, e.Trade):
                self._trade(event)
            elif isinstance(event, e.OrderCanceled | e.OrderExpired):
                self._live(event.order_id)
                assert event.remaining_qty == self._leaves(event.order_id), event
                if self.terms[event.order_id].time_in_force == TimeInForce.FOK:
                    assert self.filled[event.order_id] == 0, f"FOK filled in part: {event}"
                self.done.add(event.order_id)

    def _trade(self, t: e.Trade) -> None:
        assert t.qty > 0, t
        assert t.notional > 0, t
        assert t.maker_fee >= 0, t
        assert t.taker_fee >= 0, t
        assert t.maker_order_id != t.taker_order_id, t
        taker = self.terms[t.taker_order_id]
        assert not taker.post_only, f"post-only order took liquidity: {t}"
        assert t.maker_account != t.taker_account or taker.stp == SelfTradePrevention.NONE, (
            f"self-trade despite STP {taker.stp}: {t}")
        assert t.price == self.limit[t.maker_order_id], f"maker traded off its price: {t}"
        limit = self.limit[t.taker_order_id]
        if limit is not None and taker.order_type == OrderType.LIMIT:
            assert t.price <= limit if taker.side == Side.BUY else t.price >= limit, (
                f"taker traded through its limit {limit}: {t}")
        for order_id, leaves in ((t.maker_order_id, t.maker_leaves_qty),
                                 (t.taker_order_id, t.taker_leaves_qty)):
            self._live(order_id)
            self.filled[order_id] += t.qty
            assert self.filled[order_id] <= self.qty[order_id], f"overfill of {order_id}: {t}"
            assert leaves == self._leaves(order_id), f"leaves disagree with fills: {t}"
            if leaves == 0:
                self.done.add(order_id)

    def _live(self, order_id: OrderId) -> None:
        assert order_id in self.qty, f"event for unknown order {order_id}"
        assert order_id not in self.done, f"event for finished order {order_id}"

    def _leaves(self, order_id: OrderId) -> int:
        return self.qty[order_id] - self.filled[order_id]

    def check_engine(self, engine: MatchingEngine) -> None:
        """Assert every live order agrees with the events seen."""
        for order_id, o in engine.orders_by_id.items():
            assert order_id not in self.done, f"finished order still live: {o}"
            assert o.filled == self.filled[order_id], o
            assert o.leaves == self._leaves(order_id), o
            assert o.price == self.limit[order_id], o
            if o.state is OrderState.RESTING:
                assert o.order_type != OrderType.MARKET, f"market order rests: {o}"
                assert o.time_in_force not in _NO_REST, f"{o.time_in_force} order rests: {o}"
        for order_id in self.qty.keys() - self.done:
            assert order_id in engine.orders_by_id, f"order {order_id} vanished silently"


_NO_REST = (TimeInForce.IOC, TimeInForce.FOK)


class FundTracker:
    """Follows one engine's events and accounts for the insurance fund with them alone.

    The fund changes only by operator deposits and withdrawals, liquidation fees (the taker
    fee of a liquidation order's trade) and what it covers of shortfalls; a shortfall is
    covered as far as the fund goes (`covered == min(shortfall, fund)`), the rest uncovered.
    """

    def __init__(self, quotes: Mapping[str, AssetCode]) -> None:
        self.quotes = quotes  # symbol -> quote asset
        self.fund: dict[AssetCode, int] = {}
        self.shortfalls = 0
        self.fees = 0

    def observe(self, events: Sequence[e.EngineEvent]) -> None:
        """Check and record a command's events."""
        fund = self.fund
        for event in events:
            if isinstance(event, e.Deposited | e.Withdrawn):
                if event.account == INSURANCE_ACCOUNT:
                    sign = 1 if isinstance(event, e.Deposited) else -1
                    fund[event.asset] = fund.get(event.asset, 0) + sign * event.amount
                    assert fund[event.asset] == event.available, event
            elif isinstance(event, e.Trade):
                if event.taker_client_order_id.startswith(LIQUIDATION_PREFIX):
                    asset = self.quotes[event.symbol]
                    fund[asset] = fund.get(asset, 0) + event.taker_fee
                    self.fees += event.taker_fee > 0
            elif isinstance(event, e.LossShortfall):
                have = fund.get(event.asset, 0)
                assert event.shortfall > 0, event
                assert event.covered == min(event.shortfall, have), (event, have)
                assert event.covered + event.uncovered == event.shortfall, event
                fund[event.asset] = have - event.covered
                self.shortfalls += 1

    def check_engine(self, engine: MatchingEngine) -> None:
        """Assert the engine's fund holds what the events say, and never less than zero."""
        for asset, amount in self.fund.items():
            bal = engine.ledger.peek(INSURANCE_ACCOUNT, asset)
            assert (0 if bal is None else bal.available) == amount, (asset, self.fund)
        for bal in engine.ledger:
            if bal.account == INSURANCE_ACCOUNT:
                assert bal.available == self.fund.get(bal.asset, 0), (bal.asset, self.fund)
                assert bal.available >= 0, bal.asset
                assert bal.held == 0, bal.asset
