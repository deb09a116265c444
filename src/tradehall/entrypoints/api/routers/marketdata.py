"""Native market-data REST API under `/v1/markets`: book, trades, tickers, candles.

The bodies are the very objects the WebSocket sends on the matching channel (same structs,
same rendering in `ws/render.py`), encoded once with msgspec; their JSON schema is generated
from the structs for the OpenAPI document. Unknown symbols answer 404 `unknown_symbol`, bad
parameters 422 with the parameter named. Reads the market-data hub and the read model only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Query
from fastapi.responses import Response

from tradehall.entrypoints.api.deps import PlatformDep
from tradehall.entrypoints.api.errors import ApiError, error_responses
from tradehall.entrypoints.api.ws import protocol as p
from tradehall.entrypoints.api.ws import render
from tradehall.entrypoints.api.ws.feed import market_data
from tradehall.kernel.clock import NANOS_PER_SECOND
from tradehall.kernel.ids import Symbol
from tradehall.marketdata.candles import INTERVALS
from tradehall.marketdata.history import MAX_CANDLES, candle_history

router = APIRouter(prefix="/v1/markets", tags=["market data"])
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Tickers(msgspec.Struct, frozen=True, kw_only=True):
    data: list[p.TickerOut]


class CandleRow(msgspec.Struct, frozen=True, kw_only=True):
    start: str
    open: str
    high: str
    low: str
    close: str
    volume: str
    trades: int


class Candles(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    interval: str
    candles: list[CandleRow]


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """Resolve msgspec's local `$defs` references so the schema stands alone in OpenAPI."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    resolved: dict[str, Any] = walk(schema)
    return resolved


def documented(kind: type, *errors: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for a msgspec body plus the error statuses."""
    ok = {"description": "OK", "content": {"application/json": {
        "schema": _inline(msgspec.json.schema(kind))}}}
    return {200: ok, **error_responses(*errors)}


def json(body: object) -> Response:
    """Encode a body with msgspec (one pass, no pydantic round trip)."""
    return Response(msgspec.json.encode(body), media_type="application/json")


def parse_time(value: str | None, field: str) -> int | None:
    """Unix seconds (integer) or RFC 3339 text to UTC nanoseconds."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return int(text) * NANOS_PER_SECOND
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(422, "invalid_time", f"{field} must be Unix seconds or RFC 3339 text",
                       field) from None
    if moment.tzinfo is None:
        raise ApiError(422, "invalid_time", f"{field} needs a time zone (use Z for UTC)", field)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * NANOS_PER_SECOND + delta.microseconds * 1000


@router.get("/tickers", summary="Tickers of every instrument",
            responses=documented(Tickers), response_class=Response)
async def tickers(platform: PlatformDep) -> Response:
    """Every instrument's ticker (24 h window in engine time)."""
    hub = market_data(platform).hub
    refdata = platform.refdata
    data = [render.ticker(refdata.instrument(symbol), hub.ticker(symbol))
            for symbol in sorted(refdata.instruments)]
    return json(Tickers(data=data))


@router.get("/{symbol}/book", summary="Order book", response_class=Response,
            responses=documented(p.BookSnapshot, 404, 422))
async def book(platform: PlatformDep, symbol: str,
               depth: Annotated[int, Query(ge=1, le=1000)] = 20) -> Response:
    """The best `depth` levels per side, with the book seq the WebSocket deltas continue."""
    inst = platform.refdata.instrument(symbol)
    hub = market_data(platform).hub
    if depth > hub.config.book_depth:
        raise ApiError(422, "out_of_range", f"depth is at most {hub.config.book_depth}", "depth")
    return json(render.book_snapshot(inst, hub.book(Symbol(symbol), depth)))


@router.get("/{symbol}/trades", summary="Recent trades", response_class=Response,
            responses=documented(p.Trades, 404, 422))
async def trades(platform: PlatformDep, symbol: str,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
    """The most recent public trades, newest first."""
    inst = platform.refdata.instrument(symbol)
    hub = market_data(platform).hub
    return json(render.trades(inst, symbol, hub.trades(Symbol(symbol), limit)))


@router.get("/{symbol}/ticker", summary="Ticker", response_class=Response,
            responses=documented(p.TickerOut, 404))
async def ticker(platform: PlatformDep, symbol: str) -> Response:
    """Last trade, best bid and ask, and the rolling 24 h open, high, low, volume, change."""
    inst = platform.refdata.instrument(symbol)
    return json(render.ticker(inst, market_data(platform).hub.ticker(Symbol(symbol))))


@router.get("/{symbol}/candles", summary="OHLCV candles", response_class=Response,
            responses=documented(Candles, 404, 422))
async def candles(
    platform: PlatformDep, symbol: str,
    interval: Annotated[Literal["1m", "5m", "15m", "1h", "4h", "1d"], Query()] = "1m",
    from_: Annotated[str | None, Query(alias="from", description="Unix seconds or RFC 3339; "
                                       "candles starting at or after it")] = None,
    to: Annotated[str | None, Query(description="Unix seconds or RFC 3339; candles starting "
                                    "at or before it")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_CANDLES)] = 500,
) -> Response:
    """Candles oldest first; the newest `limit` within the range. Empty intervals have none."""
    inst = platform.refdata.instrument(symbol)
    from_ns, to_ns = parse_time(from_, "from"), parse_time(to, "to")
    if from_ns is not None and to_ns is not None and from_ns > to_ns:
        raise ApiError(422, "invalid_range", "from must not be after to", "from")
    interval_s = INTERVALS[interval]
    records = await candle_history(platform.read_model, market_data(platform).hub,
                                   Symbol(symbol), interval_s, from_ns=from_ns, to_ns=to_ns,
                                   limit=limit)
    fp = inst.format_price
    rows = [CandleRow(start=render.timestamp(r.start_ns), open=fp(r.open), high=fp(r.high),
                      low=fp(r.low), close=fp(r.close), volume=inst.format_qty(r.volume),
                      trades=r.trades) for r in records]
    return json(Candles(symbol=symbol, interval=interval, candles=rows))
