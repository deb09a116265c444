"""The engine host's recovery hooks (an older snapshot on request, replayed events handed back)
and its garbage collector setting."""

from __future__ import annotations

import gc
from decimal import Decimal
from pathlib import Path

import pytest

from tests.kit.factories import ALICE, BOB, T0, buy, sell
from tradehall.engine.state import state_hash
from tradehall.entrypoints.workers.engine_host import EngineHost, EngineHostConfig
from tradehall.kernel.ids import AssetCode, Symbol
from tradehall.trading import commands as c
from tradehall.trading import events as e
from tradehall.trading.model import InstrumentSpec


def _setup() -> list[c.EngineCommand]:
    cmds: list[c.EngineCommand] = [
        c.AddAsset(asset=AssetCode("USD"), scale=2), c.AddAsset(asset=AssetCode("ABC"), scale=0),
        c.AddInstrument(spec=InstrumentSpec(symbol=Symbol("ABC-USD"), base=AssetCode("ABC"),
                                            quote=AssetCode("USD"),
                                            tick_size=Decimal("0.01"), lot_size=Decimal(1)))]
    for account in (ALICE, BOB):
        cmds += [c.Deposit(account=account, asset=AssetCode("USD"), amount=1_000_000),
                 c.Deposit(account=account, asset=AssetCode("ABC"), amount=100)]
    return cmds


def test_open_when_asked_for_an_older_snapshot_replays_and_reports_every_later_command(
        tmp_path: Path) -> None:
    # Arrange: a journal with a snapshot at seq 7 and three commands after it
    config = EngineHostConfig(data_dir=tmp_path, fsync=False)
    with EngineHost.open(config) as host:
        host.submit([(cmd, T0) for cmd in _setup()])
        host.snapshot()
        host.submit([(buy(ALICE, "b1", 2, 100_00), T0 + 1), (sell(BOB, "s1", 1, 100_00), T0 + 2),
                     (sell(BOB, "s2", 1, 100_00), T0 + 3)])
        expected = state_hash(host.engine)
    seen: list[tuple[int, list[e.EngineEvent]]] = []

    # Act
    with EngineHost.open(config, max_snapshot_seq=5,
                         on_replay=lambda seq, ts, events: seen.append((seq, events))) as host:
        recovery = host.recovery
        recovered = state_hash(host.engine)

    # Assert
    assert (recovery.snapshot_seq, recovery.replayed, recovery.last_seq) == (0, 10, 10)
    assert [seq for seq, _ in seen] == list(range(1, 11))
    assert sum(isinstance(ev, e.Trade) for _, events in seen for ev in events) == 2
    assert recovered == expected


def test_open_by_default_starts_from_the_newest_snapshot(tmp_path: Path) -> None:
    config = EngineHostConfig(data_dir=tmp_path, fsync=False)
    with EngineHost.open(config) as host:
        host.submit([(cmd, T0) for cmd in _setup()])
        host.snapshot()
        host.submit([(buy(ALICE, "b1", 2, 100_00), T0 + 1)])
    seen: list[int] = []

    with EngineHost.open(config, on_replay=lambda seq, ts, events: seen.append(seq)) as host:
        assert host.recovery.snapshot_seq == 7
    assert seen == [8]


@pytest.mark.parametrize(("before", "asked", "after"), [
    (700, 5_000, 5_000),     # raised to the host's setting
    (20_000, 5_000, 20_000),  # a process that chose more keeps it
    (700, 0, 700),           # 0 leaves the interpreter alone
])
def test_open_raises_the_young_gc_threshold_and_never_lowers_it(
        tmp_path: Path, before: int, asked: int, after: int) -> None:
    # Arrange
    saved = gc.get_threshold()
    gc.set_threshold(before, saved[1], saved[2])
    try:
        # Act
        with EngineHost.open(EngineHostConfig(data_dir=tmp_path, fsync=False,
                                              young_gc_threshold=asked)):
            threshold = gc.get_threshold()
    finally:
        gc.set_threshold(*saved)

    # Assert: only the youngest generation's threshold changes
    assert threshold == (after, saved[1], saved[2])


def test_config_when_the_young_gc_threshold_is_negative_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="young_gc_threshold"):
        EngineHostConfig(data_dir=tmp_path, young_gc_threshold=-1)


def test_start_when_two_batches_are_in_flight_gives_what_submit_gives_and_both_recover(
        tmp_path: Path) -> None:
    # Arrange: the same commands once through submit, once started two at a time
    orders = [(buy(ALICE, "b1", 2, 100_00), T0 + 1), (sell(BOB, "s1", 1, 100_00), T0 + 2),
              (sell(BOB, "s2", 1, 100_00), T0 + 3), (buy(ALICE, "b2", 1, 99_00), T0 + 4)]
    setup = [(cmd, T0) for cmd in _setup()]
    with EngineHost.open(EngineHostConfig(data_dir=tmp_path / "plain", fsync=False)) as host:
        host.submit(setup)
        expected = [host.submit(orders[:2]), host.submit(orders[2:])]
        expected_hash = state_hash(host.engine)
    config = EngineHostConfig(data_dir=tmp_path / "pipelined", fsync=True)

    # Act: start the second batch before completing the first
    with EngineHost.open(config) as host:
        host.submit(setup)
        first = host.start(orders[:2])
        second = host.start(orders[2:])
        host.complete(first)
        host.complete(second)
        seqs = [(first.first_seq, first.last_seq), (second.first_seq, second.last_seq)]

    # Assert: the same events and state, with consecutive seqs, all of it durable
    assert [first.results, second.results] == expected
    assert seqs == [(len(setup) + 1, len(setup) + 2), (len(setup) + 3, len(setup) + 4)]
    with EngineHost.open(config) as host:
        assert host.recovery.last_seq == len(setup) + 4
        assert state_hash(host.engine) == expected_hash
