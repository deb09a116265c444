"""What the engine side publishes after each journaled batch: results, depth and balances.

An `EventBatch` is the unit of the event stream. It leaves the engine host only after its
commands are durable, in sequence order, and carries everything the read side needs so that no
consumer re-derives the engine's money rules: each command's events, the top-of-book changes of
every symbol the batch touched, and the balances of every account it touched. Integers inside,
as in the engine. Pure data.
"""

from __future__ import annotations

import msgspec

from tradehall.engine.queries import LevelView
from tradehall.kernel.ids import AccountId, AssetCode, Symbol
from tradehall.trading.events import EngineEvent


class CommandResult(msgspec.Struct, frozen=True, gc=False):
    """The events one journaled command caused, at its sequence number and engine time."""

    seq: int
    ts_ns: int
    events: list[EngineEvent]


class BookUpdate(msgspec.Struct, frozen=True, gc=False):
    """Changes to the top `depth` levels of one symbol's book caused by one batch.

    `seq` counts the symbol's updates from 1 without gaps, so a client that sees a jump knows
    it missed one and must take a fresh snapshot. A level with `qty == 0` left the view.
    """

    symbol: Symbol
    seq: int
    engine_seq: int
    ts_ns: int
    bids: list[LevelView]
    asks: list[LevelView]


class BalanceSnapshot(msgspec.Struct, frozen=True, gc=False):
    """An account's amounts of one asset right after a batch."""

    account: AccountId
    asset: AssetCode
    available: int
    held: int


class EventBatch(msgspec.Struct, frozen=True, gc=False):
    """One journaled batch: results in sequence order, then depth and balance changes."""

    first_seq: int
    last_seq: int
    results: list[CommandResult]
    books: list[BookUpdate]
    balances: list[BalanceSnapshot]


class MarketSnapshot(msgspec.Struct, frozen=True, gc=False):
    """Every symbol's whole published book view after command `engine_seq`.

    Each book carries all its levels (bids best first) and its symbol's update seq, so a
    consumer that starts mid-stream takes it and then applies only updates after that seq.
    """

    engine_seq: int
    ts_ns: int
    books: list[BookUpdate]
