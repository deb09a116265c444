"""`tradehall demo`: the engine's throughput demo, without the API.

Builds a small market, pushes a generated order flow through the journaled engine, prints what
happened, then proves recovery reproduces the same state. The live demo market with users and
market makers is `tradehall serve` (`entrypoints/demo/`)."""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from rich.console import Console
from rich.table import Table

from tradehall.engine import orderflow
from tradehall.engine.state import state_hash
from tradehall.engine.wire_input import EdgeRejected, decode_op, to_command
from tradehall.entrypoints import demo_flow
from tradehall.entrypoints.workers.engine_host import EngineHost, EngineHostConfig
from tradehall.trading import events as e
from tradehall.trading.commands import EngineCommand


def demo(
    data_dir: Annotated[Path, typer.Option(help="Folder for the demo's journal (wiped first).")]
    = Path("var/demo"),
    orders: Annotated[int, typer.Option(help="Commands in the generated flow.")] = 200_000,
    accounts: Annotated[int, typer.Option(help="Funded demo accounts.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the generated flow.")] = 1,
) -> None:
    """Throughput demo of the engine alone: a generated flow through the journal, a summary."""
    console = Console()
    shutil.rmtree(data_dir, ignore_errors=True)
    ops = [*demo_flow.reference_data(), *demo_flow.funding(accounts),
           *demo_flow.order_flow(seed, orders, accounts)]
    build = "compiled with mypyc" if str(orderflow.__file__).endswith(".so") else "plain Python"
    console.print(f"[bold]tradehall demo[/bold]: {len(ops):,} commands, "
                  f"{len(demo_flow.INSTRUMENTS)} instruments, {accounts} accounts, "
                  f"journal in {data_dir}/, engine {build}")
    counts: Counter[str] = Counter()
    volume: Counter[str] = Counter()
    started = time.perf_counter()
    with EngineHost.open(EngineHostConfig(data_dir=data_dir)) as host:
        batch: list[tuple[EngineCommand, int]] = []
        for i, raw in enumerate(ops):
            try:
                command = to_command(decode_op(msgspec.json.encode(raw)), host.engine)
            except EdgeRejected:
                counts["refused_at_edge"] += 1
                continue
            batch.append((command, i))
            # Reference data must be applied before the orders that use it are converted.
            if len(batch) == 4096 or i == len(ops) - 1 or raw["op"] in ("asset", "instrument"):
                _tally(host.submit(batch), counts, volume)
                batch = []
        elapsed = time.perf_counter() - started
        host.snapshot()
        live_hash = state_hash(host.engine)
        host.engine.ledger.check_invariants()
        _print_summary(console, host, counts, volume, elapsed)
    with EngineHost.open(EngineHostConfig(data_dir=data_dir)) as again:
        same = state_hash(again.engine) == live_hash
    console.print(f"state hash {live_hash[:16]}…; reopened from snapshot + journal: "
                  + ("[green]identical[/green]" if same else "[red]DIFFERENT[/red]"))
    console.print("ledger: every asset sums to zero, no negative balance [green]ok[/green]")
    if not same:
        raise typer.Exit(1)


def _tally(results: list[list[e.EngineEvent]], counts: Counter[str],
           volume: Counter[str]) -> None:
    for events in results:
        for event in events:
            name = type(event).__name__
            counts[name] += 1
            if isinstance(event, e.Trade):
                volume[event.symbol] += event.qty


def _print_summary(console: Console, host: EngineHost, counts: Counter[str],
                   volume: Counter[str], elapsed: float) -> None:
    engine = host.engine
    console.print(f"{host.seq:,} commands parsed from decimal strings, journaled (fsync group "
                  f"commit) and applied in "
                  f"{elapsed:.2f} s: {host.seq / elapsed:,.0f} commands/s")
    table = Table(title="Market after the flow")
    for column in ("symbol", "kind", "best bid", "best ask", "last", "volume", "resting"):
        table.add_column(column)
    for symbol, inst in engine.instruments.items():
        book = engine.book(symbol)
        bid, ask = book.best_bid(), book.best_ask()
        last = engine.last_price.get(symbol)
        resting = sum(level.count for side in (book.bids, book.asks) for level in side.values())
        table.add_row(symbol, inst.kind.value,
                      inst.format_price(bid.price) if bid else "-",
                      inst.format_price(ask.price) if ask else "-",
                      inst.format_price(last) if last else "-",
                      inst.format_qty(volume[symbol]), f"{resting:,}")
    console.print(table)
    events = Table(title="Events")
    events.add_column("event")
    events.add_column("count", justify="right")
    for name, count in counts.most_common():
        events.add_row(name, f"{count:,}")
    console.print(events)
