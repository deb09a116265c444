"""A small engine-host data directory with many segments and several snapshots, for journal tests.

Builds it through `EngineHost` (so records, snapshots and segment rolls are exactly what a
running host writes) with small segments and fsync off. Writes only under the folder it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.kit.factories import ABC, ALICE, BOB, T0, USD, buy, deposit, make_instrument, sell
from tradehall.engine.state import state_hash
from tradehall.entrypoints.workers.engine_host import EngineHost, EngineHostConfig
from tradehall.trading import commands as c
from tradehall.trading.commands import EngineCommand

SEGMENT_BYTES = 600  # a few records per segment, so there are many segments


@dataclass(frozen=True, slots=True)
class HostJournal:
    """What `write_host_journal` built: the config, snapshot seqs and the final state."""

    config: EngineHostConfig
    snapshot_seqs: tuple[int, ...]
    last_seq: int
    state_hash: str


def host_config(root: Path, *, snapshots_kept: int = 0) -> EngineHostConfig:
    """The host configuration the helper and the tests open the folder with."""
    return EngineHostConfig(data_dir=root, fsync=False, segment_max_bytes=SEGMENT_BYTES,
                            snapshots_kept=snapshots_kept)


def _setup() -> list[EngineCommand]:
    return [c.AddAsset(asset=USD, scale=2), c.AddAsset(asset=ABC, scale=0),
            c.AddInstrument(spec=make_instrument()),
            deposit(ALICE, USD, 10_000_000), deposit(ALICE, ABC, 1_000),
            deposit(BOB, USD, 10_000_000), deposit(BOB, ABC, 1_000)]


def _round(n: int) -> list[EngineCommand]:
    # One resting buy and a sell that fills half of it: trades, holds and open orders change.
    return [buy(ALICE, f"b{n}", 2, 100_00 + n), sell(BOB, f"s{n}", 1, 100_00 + n)]


def write_host_journal(root: Path, *, snapshots: int = 4, rounds_between: int = 5) -> HostJournal:
    """Write setup, then `snapshots` times: some commands and a snapshot; then more commands."""
    seqs: list[int] = []
    ts = T0
    with EngineHost.open(host_config(root)) as host:
        host.submit([(cmd, ts) for cmd in _setup()])
        n = 0
        for _ in range(snapshots):
            for _ in range(rounds_between):
                n += 1
                ts += 1
                host.submit([(cmd, ts) for cmd in _round(n)])
            host.snapshot()
            seqs.append(host.seq)
        for _ in range(rounds_between):
            n += 1
            ts += 1
            host.submit([(cmd, ts) for cmd in _round(n)])
        return HostJournal(host.config, tuple(seqs), host.seq, state_hash(host.engine))
