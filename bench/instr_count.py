"""Driver for repeatable instruction counts of the engine and the host under callgrind.

Wall-clock figures on the shared 2-core machine vary by ±25%; `valgrind --tool=callgrind`
counts instructions, which do not depend on the load. Generating a stream under valgrind is
slow, so `dump` writes one to msgpack files first (not under valgrind); `run` replays setup and
warm-up, then the first `--count` measured commands, into a bare engine or, with `--host N`,
through `EngineHost.submit` in batches of N (fsync off, temporary directory). Run `run` twice,
with `--count 0` and `--count 20000`, and divide the difference of the two totals by 20,000:
instructions per measured command, setup and start-up cancelled out. Writes only into `--dir`
(`dump`) or a temporary directory it removes (`run --host`).
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
from pathlib import Path

import msgspec

from streams import SHAPES, Timed, build_stream
from tradehall.engine.matcher import MatchingEngine
from tradehall.engine.state import state_hash
from tradehall.entrypoints.workers.engine_host import EngineHost, EngineHostConfig
from tradehall.trading.commands import EngineCommand

PARTS = ("setup", "warmup", "measured")


def dump(book: str, count: int, folder: Path) -> None:
    """Generate the stream and write its three parts."""
    stream = build_stream(SHAPES[book], seed=1, warmup=100_000, count=count)
    encoder = msgspec.msgpack.Encoder()
    folder.mkdir(parents=True, exist_ok=True)
    for name, part in zip(PARTS, (stream.setup, stream.warmup, stream.measured), strict=True):
        (folder / f"{book}-{name}.bin").write_bytes(encoder.encode(part))


def load(book: str, folder: Path) -> dict[str, list[Timed]]:
    """Read the three parts written by `dump`."""
    decoder = msgspec.msgpack.Decoder(list[tuple[EngineCommand, int]])
    return {name: decoder.decode((folder / f"{book}-{name}.bin").read_bytes())
            for name in PARTS}


def run_engine(parts: dict[str, list[Timed]], count: int) -> str:
    """Apply setup, warm-up and `count` measured commands; return the state hash."""
    engine = MatchingEngine()
    apply = engine.apply
    for cmd, ts in parts["setup"] + parts["warmup"]:
        apply(cmd, ts)
    gc.collect()
    gc.freeze()
    for cmd, ts in parts["measured"][:count]:
        apply(cmd, ts)
    return state_hash(engine)


def run_host(parts: dict[str, list[Timed]], count: int, batch: int) -> None:
    """Submit everything through a host in batches (fsync off)."""
    with tempfile.TemporaryDirectory(prefix="instr-count-") as tmp, EngineHost.open(
            EngineHostConfig(data_dir=tmp, fsync=False)) as host:
        before = parts["setup"] + parts["warmup"]
        for i in range(0, len(before), 4_096):
            host.submit(before[i:i + 4_096])
        gc.collect()
        gc.freeze()
        measured = parts["measured"][:count]
        for i in range(0, len(measured), batch):
            host.submit(measured[i:i + batch])


def main() -> int:
    """Parse the command line and run one mode."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("mode", choices=["dump", "run"])
    parser.add_argument("--book", choices=list(SHAPES), default="thin")
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--dir", type=Path, required=True, help="where the dumped stream is")
    parser.add_argument("--host", type=int, default=0, metavar="BATCH",
                        help="go through EngineHost.submit in batches of BATCH")
    args = parser.parse_args()
    if args.mode == "dump":
        dump(args.book, max(args.count, 20_000), args.dir)
        return 0
    parts = load(args.book, args.dir)
    if args.host:
        run_host(parts, args.count, args.host)
    else:
        print(run_engine(parts, args.count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
