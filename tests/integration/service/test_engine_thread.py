"""The embedded engine behind the EnginePort: real journal, real thread, in-process bus."""

from __future__ import annotations

import asyncio
import errno
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest

from tests.kit.market import ASSETS, INSTRUMENTS
from tradehall.adapters.inproc.bus import InprocEventBus
from tradehall.entrypoints.workers.engine_host import EngineHost, EngineHostConfig
from tradehall.entrypoints.workers.engine_thread import EngineThread, EngineThreadConfig
from tradehall.journal import writer as writer_module
from tradehall.journal.files import OsFileOps
from tradehall.journal.snapshot import list_snapshots
from tradehall.kernel.clock import TestClock
from tradehall.kernel.errors import Conflict, InvalidInput, NotFound, Rejected, TemporaryError
from tradehall.kernel.ids import AccountId, AssetCode, ClientOrderId
from tradehall.service.messages import CommandResult, EventBatch
from tradehall.service.refdata import ReferenceData
from tradehall.service.trading import PlaceOrder, TradingService
from tradehall.trading import commands as c
from tradehall.trading import events as e

ALICE = AccountId("alice")
BOB = AccountId("bob")
T0 = 1_800_000_000 * 10**9


class Harness:
    def __init__(self, data_dir: Path, *, fsync: bool = False) -> None:
        self.bus = InprocEventBus()
        self.refdata = ReferenceData()
        self.batches: list[EventBatch] = []
        config = EngineThreadConfig(host=EngineHostConfig(data_dir=data_dir, fsync=fsync),
                                    book_depth=5)
        self.engine = EngineThread(config, TestClock(T0), self._publish)
        self.trading = TradingService(self.engine, self.refdata)

    def _publish(self, batch: EventBatch) -> None:
        self.refdata.apply(batch)
        self.batches.append(batch)
        self.bus.publish(batch)

    async def start(self, projection_seq: int | None = None) -> None:
        await self.engine.start(projection_seq=projection_seq)
        self.refdata.load(*self.engine.reference_data())

    async def setup(self) -> None:
        cmds: list[c.EngineCommand] = [c.AddAsset(asset=AssetCode(a), scale=s)
                                       for a, s in ASSETS.items()]
        cmds += [c.AddInstrument(spec=spec) for spec in INSTRUMENTS]
        await self.engine.execute_many(cmds)
        for account in (ALICE, BOB):
            await self.trading.deposit(account, "USD", "1000000")
            await self.trading.deposit(account, "BTC", "10")


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(tmp_path)
    await h.start()
    await h.setup()
    yield h
    await h.engine.stop()


async def test_place_order_when_it_crosses_publishes_trade_depth_and_balances(
        harness: Harness) -> None:
    # Arrange
    sell = PlaceOrder(symbol="BTC-USD", side="sell", qty="0.5", price="60000.00",
                      client_order_id="s1")
    buy = PlaceOrder(symbol="BTC-USD", side="buy", qty="0.2", order_type="market",
                     time_in_force="ioc", client_order_id="b1")

    # Act
    resting = await harness.trading.place_order(ALICE, sell)
    taken = await harness.trading.place_order(BOB, buy)
    await asyncio.sleep(0)

    # Assert
    assert resting.accepted is not None
    assert not resting.trades
    assert taken.filled_qty == 2000  # lots of 0.0001
    last = harness.batches[-1]
    assert last.last_seq == taken.result.seq
    [book] = [b for b in last.books if b.symbol == "BTC-USD"]
    assert [(lv.price, lv.qty) for lv in book.asks] == [(6_000_000, 3000)]
    accounts = {(b.account, b.asset) for b in last.balances}
    assert {(ALICE, "BTC"), (ALICE, "USD"), (BOB, "BTC"), (BOB, "USD")} <= accounts


async def test_place_order_when_refused_raises_with_the_engine_reason(harness: Harness) -> None:
    trading = harness.trading
    with pytest.raises(InvalidInput) as off_tick:
        await trading.place_order(ALICE, PlaceOrder(symbol="BTC-USD", side="buy", qty="1",
                                                    price="100.001"))
    with pytest.raises(NotFound):
        await trading.place_order(ALICE, PlaceOrder(symbol="NOPE", side="buy", qty="1",
                                                    price="1"))
    with pytest.raises(Rejected) as funds:
        await trading.place_order(ALICE, PlaceOrder(symbol="BTC-USD", side="buy", qty="1000",
                                                    price="60000"))
    with pytest.raises(InvalidInput) as side:
        await trading.place_order(ALICE, PlaceOrder(symbol="BTC-USD", side="up", qty="1",
                                                    price="1"))
    await trading.place_order(ALICE, PlaceOrder(symbol="BTC-USD", side="buy", qty="1",
                                                price="100", client_order_id="dup"))
    again = await trading.place_order(ALICE, PlaceOrder(symbol="BTC-USD", side="buy", qty="1",
                                                        price="100", client_order_id="dup"))
    with pytest.raises(Conflict):
        await trading.place_order(ALICE, PlaceOrder(symbol="BTC-USD", side="buy", qty="2",
                                                    price="100", client_order_id="dup"))
    with pytest.raises(NotFound):
        await trading.cancel_order(BOB, again.order_id)  # not Bob's order

    assert off_tick.value.code == "too_many_decimals"
    assert funds.value.code == "insufficient_funds"
    assert side.value.code == "invalid_value"
    assert again.duplicate


async def test_amend_and_cancel_when_resting_change_the_book(harness: Harness) -> None:
    trading = harness.trading
    placed = await trading.place_order(ALICE, PlaceOrder(symbol="AAPL", side="buy", qty="10",
                                                         price="190.00", client_order_id="a"))
    amended = await trading.amend_order(ALICE, "AAPL", ClientOrderId("a"), qty="4")
    canceled = await trading.cancel_order(ALICE, placed.order_id)

    assert any(isinstance(ev, e.OrderAmended) and ev.remaining_qty == 4
               for ev in amended.events)
    assert any(isinstance(ev, e.OrderCanceled) for ev in canceled.events)
    with pytest.raises(NotFound):
        await trading.cancel_order(ALICE, placed.order_id)


async def test_restart_when_projection_is_behind_republishes_the_missing_commands(
        tmp_path: Path) -> None:
    # Arrange: a first run with a snapshot on stop
    first = Harness(tmp_path)
    await first.start()
    await first.setup()
    await first.trading.place_order(ALICE, PlaceOrder(symbol="ETH-USD", side="buy", qty="1",
                                                      price="3000", client_order_id="e1"))
    last_seq = first.engine.last_seq
    await first.engine.stop()

    # Act: a second run whose projection only reached seq 3
    second = Harness(tmp_path)
    await second.start(projection_seq=3)
    await asyncio.sleep(0)
    await second.engine.stop()

    # Assert
    seqs = [r.seq for b in second.batches for r in b.results]
    assert seqs == list(range(1, last_seq + 1))
    books = {u.symbol for b in second.batches for u in b.books}
    assert books == {"BTC-USD", "ETH-USD", "EUR-USD", "AAPL"}
    assert "ETH-USD" in second.refdata.instruments


async def test_execute_when_engine_not_started_is_a_temporary_error(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    with pytest.raises(TemporaryError):
        await h.engine.execute(c.AdvanceTime())


async def test_execute_when_the_journal_fails_answers_unavailable_and_stops(
        harness: Harness) -> None:
    # Arrange: the journal's writer is closed under the engine, so the next append fails
    host = harness.engine.host
    assert host is not None
    host.writer.close()

    # Act / Assert: the caller is told at once (not left waiting), and later callers too
    with pytest.raises(TemporaryError):
        await asyncio.wait_for(harness.engine.execute(c.AdvanceTime()), timeout=10)
    assert not harness.engine.is_ready()
    assert harness.engine.failure is not None
    with pytest.raises(TemporaryError):
        await harness.engine.execute(c.AdvanceTime())


async def test_stop_when_run_many_times_keeps_the_three_newest_snapshots(tmp_path: Path) -> None:
    # Each stop writes a snapshot; the host keeps the newest three, as in `tradehall serve`.
    seqs: list[int] = []
    for run in range(5):
        h = Harness(tmp_path)
        await h.start()
        if run == 0:
            await h.setup()
        await h.engine.execute(c.AdvanceTime())
        seqs.append(h.engine.last_seq)
        await h.engine.stop()

    assert [entry.seq for entry in list_snapshots(tmp_path)] == seqs[-3:]


class _GatedFsync(OsFileOps):
    """The journal's file calls, except that once armed every fsync waits for `gate` (and then
    fails when `fail` is set): a disk that is slow, or that breaks, on demand."""

    armed = False
    fail = False
    gate = threading.Event()
    in_fsync = threading.Event()

    def fsync(self, fd: int) -> None:
        cls = type(self)
        if cls.armed:
            cls.in_fsync.set()
            assert cls.gate.wait(10), "test gate never opened"
            if cls.fail:
                raise OSError(errno.EIO, "injected I/O error")
        super().fsync(fd)


@pytest.fixture
async def gated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    monkeypatch.setattr(_GatedFsync, "gate", threading.Event())
    monkeypatch.setattr(_GatedFsync, "in_fsync", threading.Event())
    monkeypatch.setattr(writer_module, "OsFileOps", _GatedFsync)
    h = Harness(tmp_path, fsync=True)
    await h.start()
    await h.setup()
    yield h
    _GatedFsync.gate.set()
    await h.engine.stop()


async def _until(check: Callable[[], bool]) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in 5 s")


def _hold_first_apply(host: EngineHost, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Make the engine's next `apply_batch` wait for the returned event (once), so that a
    test can queue the next command while the first batch is being started."""
    release = threading.Event()
    original = host.engine.apply_batch
    calls = [0]

    def apply_batch(batch: Sequence[tuple[c.EngineCommand, int]]) -> list[list[e.EngineEvent]]:
        calls[0] += 1
        if calls[0] == 1:
            assert release.wait(10), "test never released the first batch"
        return original(batch)

    monkeypatch.setattr(host.engine, "apply_batch", apply_batch)
    return release


async def _two_in_flight(h: Harness, monkeypatch: pytest.MonkeyPatch, first_cmd: c.EngineCommand,
                         second_cmd: c.EngineCommand,
                         ) -> tuple[int, asyncio.Task[CommandResult], asyncio.Task[CommandResult]]:
    """Start `first_cmd` with its fsync held, queue `second_cmd` behind it, and return once
    the engine thread has journaled and applied both: (the first's seq, the two futures)."""
    host = h.engine.host
    assert host is not None
    seq_a = host.seq + 1
    monkeypatch.setattr(_GatedFsync, "armed", True)
    release = _hold_first_apply(host, monkeypatch)
    first = asyncio.create_task(h.engine.execute(first_cmd))
    await _until(_GatedFsync.in_fsync.is_set)  # the committer holds the first batch's fsync
    second = asyncio.create_task(h.engine.execute(second_cmd))
    await asyncio.sleep(0.05)  # the second command reaches the engine's queue
    release.set()
    await _until(lambda: host.seq == seq_a + 1)  # both journaled and applied
    return seq_a, first, second


async def test_execute_when_a_batch_waits_for_its_fsync_applies_the_next_and_holds_both(
        gated: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange: the first batch's fsync is held while the second is applied
    published = len(gated.batches)
    seq_a, first, second = await _two_in_flight(
        gated, monkeypatch, c.Deposit(account=ALICE, asset=AssetCode("USD"), amount=100),
        c.Deposit(account=BOB, asset=AssetCode("USD"), amount=200))

    # Assert: nothing leaves before its batch is durable, then both, in order
    await asyncio.sleep(0.05)
    assert not first.done()
    assert not second.done()
    assert len(gated.batches) == published

    # Act
    _GatedFsync.gate.set()

    # Assert
    await asyncio.wait_for(asyncio.gather(first, second), timeout=10)
    new = gated.batches[published:]
    assert [(b.first_seq, b.last_seq) for b in new] == [(seq_a, seq_a), (seq_a + 1, seq_a + 1)]
    assert gated.engine.last_seq == seq_a + 1


async def test_execute_when_the_fsync_fails_with_two_batches_in_flight_answers_both_unavailable(
        gated: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange: the held fsync will fail
    monkeypatch.setattr(_GatedFsync, "fail", True)
    published = len(gated.batches)
    _, first, second = await _two_in_flight(gated, monkeypatch, c.AdvanceTime(),
                                            c.AdvanceTime())

    # Act
    _GatedFsync.gate.set()

    # Assert: neither is acknowledged, nothing is published, later callers are refused
    for pending in (first, second):
        with pytest.raises(TemporaryError):
            await asyncio.wait_for(pending, timeout=10)
    assert len(gated.batches) == published
    assert not gated.engine.is_ready()
    with pytest.raises(TemporaryError):
        await gated.engine.execute(c.AdvanceTime())
