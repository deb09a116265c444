"""Scenario tables, exchange-core style: rows of (command, expected events) and state probes.

A `Scenario` is a name, an optional engine setup and a list of steps. A step is either a
`(command, [expected, ...])` pair, whose events must match the expectations one for one and in
order (an expectation names the event type and only the fields worth checking), or a probe
(`BookIs`, `BalanceIs`, `PositionIs`, `LastPriceIs`, `Unchanged`) that inspects the engine after
the previous command. Commands run one engine-time nanosecond apart unless wrapped in
`at(ts, command)`. Every command is followed by the full `check_engine` invariant sweep.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec
import pytest

from tests.kit.factories import T0, make_engine
from tests.kit.invariants import check_engine
from tradehall.engine.matcher import BookFactory, MatchingEngine
from tradehall.engine.state import EngineState, capture
from tradehall.kernel.ids import AccountId, AssetCode, ClientOrderId, Symbol
from tradehall.trading import commands as c
from tradehall.trading import events as e
from tradehall.trading.model import InstrumentSpec


@dataclass(frozen=True)
class Expect:
    """An expected event: its type tag and the fields that must have the given values."""

    tag: str
    fields: Mapping[str, object]

    def mismatch(self, event: e.EngineEvent) -> str | None:
        """Return why `event` does not match, or None when it does."""
        tag = event_tag(event)
        if tag != self.tag:
            return f"expected {self.tag}, got {tag}"
        wrong = [f"{name}={getattr(event, name)!r} (want {want!r})"
                 for name, want in self.fields.items() if getattr(event, name) != want]
        return f"{tag}: " + ", ".join(wrong) if wrong else None

    def __repr__(self) -> str:
        return f"{self.tag}({', '.join(f'{k}={v!r}' for k, v in self.fields.items())})"


class Probe(Protocol):
    """A check of engine state between commands."""

    def check(self, engine: MatchingEngine, before: EngineState) -> None: ...


@dataclass(frozen=True)
class Timed:
    """A command applied at an explicit engine time."""

    ts: int
    command: c.EngineCommand


Step = tuple[c.EngineCommand | Timed, Sequence[Expect]] | Probe


@dataclass(frozen=True)
class Scenario:
    """A named table of steps and the engine it runs on."""

    name: str
    steps: Sequence[Step]
    instruments: Sequence[InstrumentSpec] | None = None
    deposits: Mapping[AssetCode, int] | None = None
    accounts: Sequence[AccountId] | None = None
    known_bug: str | None = None  # marks the table xfail (strict) until the bug is fixed

    def __str__(self) -> str:
        return self.name


def scenario_params(scenarios: Sequence[Scenario]) -> list[Any]:
    """Return pytest params for scenario tables, known bugs marked strict xfail."""
    return [pytest.param(s, id=s.name, marks=[pytest.mark.xfail(reason=s.known_bug,
                                                                 strict=True)])
            if s.known_bug else pytest.param(s, id=s.name) for s in scenarios]


def at(ts: int, command: c.EngineCommand) -> Timed:
    """Apply `command` at engine time `ts`."""
    return Timed(ts, command)


def event_tag(event: e.EngineEvent) -> str:
    """Return the tag of an event (`trade`, `order_accepted`, ...)."""
    tag = type(event).__struct_config__.tag
    assert isinstance(tag, str)
    return tag


def describe(events: Sequence[e.EngineEvent]) -> str:
    """Render events one per line for assertion messages."""
    return "\n".join(f"  {event_tag(ev)} {msgspec.to_builtins(ev)}" for ev in events)


def run_scenario(scenario: Scenario, book_factory: BookFactory) -> MatchingEngine:
    """Run every step of a scenario on a fresh engine; return the engine."""
    kwargs: dict[str, Any] = {}
    if scenario.instruments is not None:
        kwargs["instruments"] = scenario.instruments
    if scenario.deposits is not None:
        kwargs["deposits"] = scenario.deposits
    if scenario.accounts is not None:
        kwargs["accounts"] = scenario.accounts
    engine = make_engine(book_factory, **kwargs)
    ts = T0
    before = capture(engine)
    for index, step in enumerate(scenario.steps):
        where = f"{scenario.name}, step {index}"
        if not isinstance(step, tuple):
            try:
                step.check(engine, before)
            except AssertionError as exc:
                raise AssertionError(f"{where}: {exc}") from None
            continue
        action, expected = step
        if isinstance(action, Timed):
            ts, command = action.ts, action.command
        else:
            ts, command = ts + 1, action
        before = capture(engine)
        events = engine.apply(command, ts)
        assert_events(events, expected, where)
        check_engine(engine)
    return engine


def assert_events(events: Sequence[e.EngineEvent], expected: Sequence[Expect],
                  where: str) -> None:
    """Assert events match expectations one for one."""
    pairs = enumerate(zip(events, expected, strict=False))
    problems = [f"#{i}: {problem}" for i, (event, want) in pairs
                if (problem := want.mismatch(event)) is not None]
    if len(events) != len(expected):
        problems.append(f"{len(events)} events, {len(expected)} expected")
    if problems:
        raise AssertionError(f"{where}: " + "; ".join(problems) + "\nexpected:\n"
                             + "\n".join(f"  {x!r}" for x in expected)
                             + "\nactual:\n" + describe(events))


# -- Expectations ------------------------------------------------------------------------------


def ev(tag: str, **fields: object) -> Expect:
    """Expect an event of type `tag` with the given fields."""
    return Expect(tag, fields)


def accepted(client_order_id: str, **fields: object) -> Expect:
    """Expect OrderAccepted."""
    return ev("order_accepted", client_order_id=client_order_id, **fields)


def rejected(client_order_id: str, reason: str, **fields: object) -> Expect:
    """Expect OrderRejected with a reason code."""
    return ev("order_rejected", client_order_id=client_order_id, reason=reason, **fields)


def duplicate(client_order_id: str, **fields: object) -> Expect:
    """Expect OrderDuplicate."""
    return ev("order_duplicate", client_order_id=client_order_id, **fields)


def trade(qty: int, price: int, *, maker: str, taker: str, **fields: object) -> Expect:
    """Expect a Trade between two client order ids."""
    return ev("trade", qty=qty, price=price, maker_client_order_id=maker,
              taker_client_order_id=taker, **fields)


def canceled(client_order_id: str, reason: str, **fields: object) -> Expect:
    """Expect OrderCanceled with a reason code."""
    return ev("order_canceled", client_order_id=client_order_id, reason=reason, **fields)


def expired(client_order_id: str, **fields: object) -> Expect:
    """Expect OrderExpired."""
    return ev("order_expired", client_order_id=client_order_id, **fields)


def amended(client_order_id: str, **fields: object) -> Expect:
    """Expect OrderAmended."""
    return ev("order_amended", client_order_id=client_order_id, **fields)


def triggered(client_order_id: str, **fields: object) -> Expect:
    """Expect StopTriggered."""
    return ev("stop_triggered", client_order_id=client_order_id, **fields)


def command_rejected(command: str, reason: str, **fields: object) -> Expect:
    """Expect CommandRejected for a non-order command."""
    return ev("command_rejected", command=command, reason=reason, **fields)


def deposited(account: AccountId, amount: int, **fields: object) -> Expect:
    """Expect Deposited."""
    return ev("deposited", account=account, amount=amount, **fields)


def withdrawn(account: AccountId, amount: int, **fields: object) -> Expect:
    """Expect Withdrawn."""
    return ev("withdrawn", account=account, amount=amount, **fields)


def position(account: AccountId, net_qty: int, **fields: object) -> Expect:
    """Expect PositionChanged for an account."""
    return ev("position_changed", account=account, net_qty=net_qty, **fields)


# -- Probes ------------------------------------------------------------------------------------


Queue = Sequence[tuple[str, int]]


@dataclass(frozen=True)
class BookIs:
    """The book holds exactly these levels, best first, each as [(client order id, leaves)]."""

    symbol: str
    bids: Sequence[tuple[int, Queue]] = ()
    asks: Sequence[tuple[int, Queue]] = ()

    def check(self, engine: MatchingEngine, before: EngineState) -> None:
        book = engine.books[Symbol(self.symbol)]
        for name, buy_side, want in (("bids", True, self.bids), ("asks", False, self.asks)):
            have = [(level.price, [(o.client_order_id, o.leaves) for o in level.orders()])
                    for level in book.levels(buy_side)]
            expected = [(price, list(queue)) for price, queue in want]
            assert have == expected, f"{self.symbol} {name}: {have} != {expected}"


@dataclass(frozen=True)
class BalanceIs:
    """A balance has these amounts (None: not checked)."""

    account: AccountId
    asset: AssetCode
    available: int | None = None
    held: int | None = None

    def check(self, engine: MatchingEngine, before: EngineState) -> None:
        bal = engine.ledger.peek(self.account, self.asset)
        have = (0, 0) if bal is None else (bal.available, bal.held)
        want = (have[0] if self.available is None else self.available,
                have[1] if self.held is None else self.held)
        assert have == want, f"{self.account}/{self.asset} (available, held) {have} != {want}"


@dataclass(frozen=True)
class PositionIs:
    """A margin position has these values (None: not checked)."""

    account: AccountId
    symbol: str
    net_qty: int
    cost_ticks: int | None = None
    realized_pnl: int | None = None
    margin: int | None = None

    def check(self, engine: MatchingEngine, before: EngineState) -> None:
        pos = engine.position(self.account, Symbol(self.symbol))
        assert pos is not None, f"no position for {self.account} in {self.symbol}"
        for name in ("net_qty", "cost_ticks", "realized_pnl", "margin"):
            want = getattr(self, name)
            assert want is None or getattr(pos, name) == want, (
                f"{self.account} {self.symbol} {name} {getattr(pos, name)} != {want}")


@dataclass(frozen=True)
class LastPriceIs:
    """The symbol's last trade price (what stops, liquidations, bands and the collar use)."""

    symbol: str
    price: int | None

    def check(self, engine: MatchingEngine, before: EngineState) -> None:
        have = engine.last_price.get(Symbol(self.symbol))
        assert have == self.price, f"{self.symbol} last price {have} != {self.price}"


@dataclass(frozen=True)
class IsOpen:
    """Whether an account's order is still live (resting or waiting for its trigger)."""

    account: AccountId
    client_order_id: str
    is_open: bool = True

    def check(self, engine: MatchingEngine, before: EngineState) -> None:
        live = engine.open_order(self.account, ClientOrderId(self.client_order_id)) is not None
        assert live == self.is_open, f"{self.account}/{self.client_order_id} open={live}"


class Unchanged:
    """The previous command left the engine's canonical state exactly as it found it."""

    def check(self, engine: MatchingEngine, before: EngineState) -> None:
        after = capture(engine)
        # Engine time moves with every command; nothing else may.
        changed = sorted(key for key in EngineState.__struct_fields__
                         if key != "now_ns" and getattr(after, key) != getattr(before, key))
        assert not changed, f"state changed in {changed}"


UNCHANGED = Unchanged()
