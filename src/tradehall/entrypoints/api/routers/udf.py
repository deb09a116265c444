"""TradingView UDF datafeed: `/udf/config`, `/udf/symbols`, `/udf/search`, `/udf/history`,
`/udf/time`.

UDF is the one place where prices leave as JSON numbers, because the charting library requires
them: each number is derived from the exact integer (ticks, lots) only here, through its exact
decimal (`Decimal` -> `float`), so it is the nearest double of the decimal price. `pricescale`
and `minmov` describe the tick exactly, so the chart rounds back to the grid. History follows
the UDF rules: `from` inclusive, `to` exclusive, `countback` (when given) wins over `from`;
`{"s": "no_data", "nextTime": t}` points at the newest bar before the range when there is
one. Errors keep the API's error shape and add UDF's `s: "error"` and `errmsg`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from tradehall.entrypoints.api.deps import PlatformDep
from tradehall.entrypoints.api.ws.feed import market_data
from tradehall.kernel.clock import NANOS_PER_SECOND
from tradehall.kernel.ids import Symbol
from tradehall.marketdata.history import MAX_CANDLES, candle_history
from tradehall.trading.instrument import Instrument
from tradehall.trading.model import InstrumentKind

router = APIRouter(prefix="/udf", tags=["tradingview udf"])

RESOLUTIONS: dict[str, int] = {"1": 60, "5": 300, "15": 900, "60": 3600, "240": 14_400,
                               "1D": 86_400, "D": 86_400}
_PUBLISHED = ["1", "5", "15", "60", "240", "1D"]
EXCHANGE = "TRADEHALL"
_TYPES = {InstrumentKind.SPOT: "crypto", InstrumentKind.MARGIN: "forex",
          InstrumentKind.BINARY_OPTION: "option"}


def _udf_error(status: int, code: str, message: str, field: str | None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "field": field, "s": "error",
                         "errmsg": message}, status_code=status)


def _instrument(platform: PlatformDep, symbol: str) -> Instrument | JSONResponse:
    name = symbol.removeprefix(f"{EXCHANGE}:")
    inst = platform.refdata.instruments.get(Symbol(name))
    if inst is None:
        return _udf_error(404, "unknown_symbol", f"instrument {name} is not defined", "symbol")
    return inst


def _kind(inst: Instrument) -> str:
    if inst.kind is InstrumentKind.SPOT and inst.quote == "USD" and inst.base_per_lot == 1:
        return "stock"  # whole-unit spot lots in USD: shares
    return _TYPES[inst.kind]


def price_format(tick: Decimal) -> tuple[int, int]:
    """`(pricescale, minmov)` so that `minmov / pricescale` equals the tick exactly."""
    exponent = tick.normalize().as_tuple().exponent
    decimals = max(0, -exponent) if isinstance(exponent, int) else 0
    scale = 10**decimals
    return scale, int(tick * scale)


def _number(value: Decimal) -> float:
    return float(value)


def symbol_info(inst: Instrument) -> dict[str, Any]:
    """The UDF symbol description of an instrument."""
    pricescale, minmov = price_format(inst.tick_size)
    lot_exp = inst.lot_size.normalize().as_tuple().exponent
    return {
        "name": inst.symbol, "ticker": inst.symbol, "full_name": f"{EXCHANGE}:{inst.symbol}",
        "description": f"{inst.base} / {inst.quote}", "type": _kind(inst),
        "session": "24x7", "timezone": "Etc/UTC", "exchange": EXCHANGE,
        "listed_exchange": EXCHANGE, "minmov": minmov, "pricescale": pricescale,
        "has_intraday": True, "has_daily": True, "has_weekly_and_monthly": False,
        "intraday_multipliers": ["1", "5", "15", "60", "240"],
        "supported_resolutions": _PUBLISHED, "currency_code": inst.quote,
        "volume_precision": max(0, -lot_exp) if isinstance(lot_exp, int) else 0,
        "data_status": "streaming",
    }


@router.get("/config", summary="Datafeed configuration")
async def config() -> dict[str, Any]:
    """What the datafeed supports (UDF `config`)."""
    return {"supported_resolutions": _PUBLISHED, "supports_group_request": False,
            "supports_marks": False, "supports_search": True, "supports_timescale_marks": False,
            "supports_time": True,
            "exchanges": [{"value": EXCHANGE, "name": EXCHANGE, "desc": "tradehall"}],
            "symbols_types": [{"name": "All types", "value": ""},
                              *({"name": t, "value": t} for t in ("crypto", "forex", "stock"))]}


@router.get("/time", summary="Server time", response_class=PlainTextResponse)
async def server_time(platform: PlatformDep) -> str:
    """Unix seconds, as plain text (UDF `time`)."""
    return str(platform.clock.now_ns() // NANOS_PER_SECOND)


@router.get("/symbols", summary="Resolve a symbol", response_model=None)
async def symbols(platform: PlatformDep,
                  symbol: Annotated[str, Query(min_length=1, max_length=64)]) -> Response:
    """The symbol's description (UDF `symbols`); `TRADEHALL:` prefixes are accepted."""
    inst = _instrument(platform, symbol)
    if isinstance(inst, JSONResponse):
        return inst
    return JSONResponse(symbol_info(inst))


@router.get("/search", summary="Search symbols")
async def search(platform: PlatformDep, query: Annotated[str, Query(max_length=64)] = "",
                 type_: Annotated[str, Query(alias="type", max_length=32)] = "",
                 exchange: Annotated[str, Query(max_length=32)] = "",
                 limit: Annotated[int, Query(ge=1, le=1000)] = 30) -> list[dict[str, str]]:
    """Instruments whose symbol or description contains the query (UDF `search`)."""
    needle = query.strip().upper()
    out = []
    for name in sorted(platform.refdata.instruments):
        inst = platform.refdata.instruments[name]
        info = symbol_info(inst)
        if needle and needle not in name.upper() and needle not in info["description"].upper():
            continue
        if (type_ and info["type"] != type_) or (exchange and exchange != EXCHANGE):
            continue
        out.append({"symbol": name, "full_name": info["full_name"], "ticker": name,
                    "description": info["description"], "exchange": EXCHANGE,
                    "type": info["type"]})
        if len(out) >= limit:
            break
    return out


@router.get("/history", summary="Bars", response_model=None)
async def history(
    platform: PlatformDep,
    symbol: Annotated[str, Query(min_length=1, max_length=64)],
    resolution: Annotated[str, Query(max_length=8)],
    from_: Annotated[int, Query(alias="from", ge=0)],
    to: Annotated[int, Query(ge=0)],
    countback: Annotated[int | None, Query(ge=1, le=MAX_CANDLES)] = None,
) -> Response:
    """OHLCV bars in `[from, to)` (or the `countback` bars before `to`), UDF `history`."""
    inst = _instrument(platform, symbol)
    if isinstance(inst, JSONResponse):
        return inst
    interval_s = RESOLUTIONS.get(resolution)
    if interval_s is None:
        return _udf_error(422, "unknown_resolution",
                          f"resolution must be one of {', '.join(_PUBLISHED)}", "resolution")
    if from_ > to:
        return _udf_error(422, "invalid_range", "from must not be after to", "from")
    hub = market_data(platform).hub
    to_ns = to * NANOS_PER_SECOND - 1  # `to` is exclusive
    from_ns = None if countback is not None else from_ * NANOS_PER_SECOND
    bars = await candle_history(platform.read_model, hub, inst.symbol, interval_s,
                                from_ns=from_ns, to_ns=to_ns, limit=countback or MAX_CANDLES)
    if not bars:
        earlier = await candle_history(platform.read_model, hub, inst.symbol, interval_s,
                                       to_ns=(from_ns if from_ns is not None else to_ns + 1) - 1,
                                       limit=1)
        body: dict[str, Any] = {"s": "no_data"}
        if earlier:
            body["nextTime"] = earlier[-1].start_ns // NANOS_PER_SECOND
        return JSONResponse(body)
    tick, lot = inst.tick_size, inst.lot_size
    return JSONResponse({
        "s": "ok", "t": [b.start_ns // NANOS_PER_SECOND for b in bars],
        "o": [_number(b.open * tick) for b in bars], "h": [_number(b.high * tick) for b in bars],
        "l": [_number(b.low * tick) for b in bars], "c": [_number(b.close * tick) for b in bars],
        "v": [_number(b.volume * lot) for b in bars],
    })
