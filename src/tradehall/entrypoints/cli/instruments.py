"""`tradehall instruments`: define assets and instruments, halt or resume them, list them.

Each change is an engine command (journaled, replayed, the same on every engine node), sent
through the platform started for the job (`offline.py`): on a stopped data directory, or, in a
scale-out deployment, as one more API process whose commands go through the command stream.
The engine checks the definition (grid, fees, margin rate) and a refusal is one line naming
its reason; numbers are decimal strings, never floats.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated

import typer
from msgspec import UNSET, UnsetType

from tradehall.entrypoints.cli.offline import (
    DEFAULT_DATA_DIR,
    DataDir,
    fail,
    run,
    started_platform,
)
from tradehall.kernel.errors import InvalidInput
from tradehall.kernel.ids import AssetCode, Symbol
from tradehall.trading import commands as c
from tradehall.trading import events as e
from tradehall.trading.instrument import Instrument
from tradehall.trading.model import InstrumentKind, InstrumentSpec, InstrumentStatus

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tradehall.trading.commands import EngineCommand

app = typer.Typer(help="Define assets and instruments, halt or resume trading, list them.",
                  no_args_is_help=True)

DecimalOpt = Annotated[str | None, typer.Option(help="Decimal string.")]


def _decimal(name: str, value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise fail(f"--{name.replace('_', '-')}: {value!r} is not a decimal number") from None
    if not number.is_finite():
        raise fail(f"--{name.replace('_', '-')}: {value!r} is not a finite number")
    return number


def _check_spec(spec: InstrumentSpec, scales: Mapping[AssetCode, int]) -> None:
    # The engine would refuse it too, but only after journaling the command.
    try:
        Instrument(spec, scales[spec.base], scales[spec.quote])
    except InvalidInput as exc:
        raise fail(f"{exc.code}: {exc.message}") from None


def _execute(command: EngineCommand, data_dir: DataDir, assets: tuple[str, ...] = (),
             symbol: str | None = None) -> list[e.EngineEvent]:
    async def job() -> list[e.EngineEvent]:
        async with started_platform(data_dir) as platform:
            if symbol is not None:
                platform.refdata.instrument(symbol)  # unknown_symbol before anything is sent
            for asset in assets:
                # The engine would define a missing asset with a default scale (replay files
                # rely on it); from an operator that is a typo, so it is refused here.
                if asset not in platform.refdata.asset_scales:
                    raise fail(f"asset {asset} is not defined: add it first with `tradehall "
                               f"instruments add-asset {asset} SCALE`")
            if isinstance(command, c.AddInstrument):
                _check_spec(command.spec, platform.refdata.asset_scales)
            result = await platform.engine.execute(command)
            await platform.read_model.wait_for(result.seq, 30.0)
            return result.events

    events = run(job, data_dir)
    for event in events:
        if isinstance(event, e.CommandRejected):
            raise fail(f"{event.reason}: {event.message}")
    return events


@app.command("add-asset")
def add_asset(
    code: Annotated[str, typer.Argument(help="Asset code, e.g. USD, BTC, AAPL.")],
    scale: Annotated[int, typer.Argument(help="Decimals of its smallest unit (USD: 2).",
                                         min=0, max=18)],
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Define an asset with its decimal scale."""
    _execute(c.AddAsset(asset=AssetCode(code), scale=scale), data_dir)
    typer.echo(f"asset {code} added with {scale} decimals")


@app.command("add")
def add(
    symbol: Annotated[str, typer.Argument(help="Instrument symbol, e.g. BTC-USD.")],
    base: Annotated[str, typer.Option(help="Base asset (what is bought and sold).")],
    quote: Annotated[str, typer.Option(help="Quote asset (what prices are in).")],
    tick_size: Annotated[str, typer.Option(help="Price grid, e.g. 0.01.")],
    lot_size: Annotated[str, typer.Option(help="Quantity grid, e.g. 0.0001.")],
    kind: Annotated[str, typer.Option(help="spot or margin.")] = "spot",
    min_qty: DecimalOpt = None,
    max_qty: DecimalOpt = None,
    price_band: DecimalOpt = None,
    maker_fee: Annotated[str, typer.Option(help="Fee rate of the resting side.")] = "0",
    taker_fee: Annotated[str, typer.Option(help="Fee rate of the incoming side.")] = "0",
    margin_rate: DecimalOpt = None,
    maintenance_margin_rate: DecimalOpt = None,
    liquidation_fee_rate: Annotated[str | None, typer.Option(
        help="Fee rate a liquidation charges the liquidated account instead of the taker "
             "fee, paid into the insurance fund; needs --maintenance-margin-rate.")] = None,
    stop_collar: Annotated[str, typer.Option(help="Furthest a triggered stop may trade "
                                             "from its trigger, as a fraction.")] = "0.05",
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Define an instrument (it trades at once); the engine checks it."""
    if kind not in (InstrumentKind.SPOT, InstrumentKind.MARGIN):
        raise fail(f"--kind must be spot or margin, not {kind!r}")
    spec = InstrumentSpec(
        symbol=Symbol(symbol), kind=InstrumentKind(kind), base=AssetCode(base),
        quote=AssetCode(quote), tick_size=_required("tick_size", tick_size),
        lot_size=_required("lot_size", lot_size), min_qty=_decimal("min_qty", min_qty),
        max_qty=_decimal("max_qty", max_qty), price_band=_decimal("price_band", price_band),
        maker_fee=_required("maker_fee", maker_fee),
        taker_fee=_required("taker_fee", taker_fee),
        margin_rate=_decimal("margin_rate", margin_rate),
        maintenance_margin_rate=_unset_if_none(_decimal("maintenance_margin_rate",
                                                        maintenance_margin_rate)),
        liquidation_fee_rate=_unset_if_none(_decimal("liquidation_fee_rate",
                                                     liquidation_fee_rate)),
        stop_collar=_required("stop_collar", stop_collar))
    _execute(c.AddInstrument(spec=spec), data_dir, assets=(base, quote))
    typer.echo(f"instrument {symbol} added ({kind} {base}/{quote}, tick {tick_size}, "
               f"lot {lot_size})")


def _unset_if_none(value: Decimal | None) -> Decimal | UnsetType:
    # Left out of the spec's encoding when not given, like every instrument before the field.
    return UNSET if value is None else value


def _required(name: str, value: str) -> Decimal:
    number = _decimal(name, value)
    assert number is not None
    return number


@app.command("status")
def status(
    symbol: Annotated[str, typer.Argument(help="Instrument symbol.")],
    new_status: Annotated[str, typer.Argument(metavar="STATUS",
                                              help="trading, halted or close_only.")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Halt an instrument, let it only reduce positions (close_only), or resume trading."""
    try:
        target = InstrumentStatus(new_status)
    except ValueError:
        raise fail(f"STATUS must be trading, halted or close_only, not {new_status!r}"
                   ) from None
    _execute(c.SetInstrumentStatus(symbol=Symbol(symbol), status=target), data_dir,
             symbol=symbol)
    typer.echo(f"instrument {symbol} is {target}")


@app.command("list")
def list_instruments(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list.")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """List the instruments with their grids, fees and status."""

    async def job() -> list[dict[str, str]]:
        async with started_platform(data_dir) as platform:
            return [{"symbol": i.spec.symbol, "kind": i.spec.kind, "base": i.spec.base,
                     "quote": i.spec.quote, "tick_size": str(i.spec.tick_size),
                     "lot_size": str(i.spec.lot_size), "maker_fee": str(i.spec.maker_fee),
                     "taker_fee": str(i.spec.taker_fee), "status": str(i.status)}
                    for _, i in sorted(platform.refdata.instruments.items())]

    rows = run(job, data_dir)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    if not rows:
        typer.echo("no instruments")
    for row in rows:
        typer.echo(f"{row['symbol']:<12} {row['kind']:<7} {row['base']}/{row['quote']}  "
                   f"tick {row['tick_size']}  lot {row['lot_size']}  fees "
                   f"{row['maker_fee']}/{row['taker_fee']}  {row['status']}")
