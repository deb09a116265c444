"""Native positions and fills: open positions and holdings, closing one, the fill history.

A position is closed with a market order through the trading use case (reduce-only on margin);
the answer is the same as placing an order. Fills page newest first by an opaque cursor over
(seq, trade id, liquidity). Only the caller's rows are ever read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from tradehall.entrypoints.api.deps import PlatformDep, PrincipalDep
from tradehall.entrypoints.api.errors import error_responses
from tradehall.entrypoints.api.routers import native_render as render
from tradehall.entrypoints.api.routers.native_common import (
    MAX_LIMIT,
    caught_up,
    cursor_scope,
    decode_cursor,
    encode_cursor,
    keyset_page,
    owned_order,
    summaries_from_docstrings,
)
from tradehall.entrypoints.api.routers.native_orders import placed
from tradehall.entrypoints.api.schemas import native as s
from tradehall.kernel.errors import NotFound
from tradehall.service.ports import FillRecord

router = APIRouter(prefix="/v1", tags=["positions and fills"])


@router.get("/positions", response_model=s.PositionsPublic, responses=error_responses(401))
async def list_positions(platform: PlatformDep, principal: PrincipalDep) -> s.PositionsPublic:
    """List the caller's open positions (margin) and holdings (spot)."""
    await caught_up(platform)
    records = await platform.read_model.positions(principal.account)
    return s.PositionsPublic(data=[render.position(platform.refdata, r)
                                   for r in sorted(records, key=lambda r: r.symbol)
                                   if r.net_qty != 0])


@router.post("/positions/{symbol}/close", response_model=s.OrderPlaced, status_code=201,
             responses=error_responses(401, 403, 404, 409, 422, 503))
async def close_position(symbol: str, platform: PlatformDep, principal: PrincipalDep,
                         body: Annotated[s.PositionClose | None, Body()] = None,
                         ) -> s.OrderPlaced:
    """Close all (or `qty` of) a position with a market order; answer with that order."""
    inst = platform.refdata.instrument(symbol)
    await caught_up(platform)
    records = await platform.read_model.positions(principal.account)
    net = next((r.net_qty for r in records if r.symbol == inst.symbol), 0)
    if net == 0:
        raise NotFound(f"no open position in {inst.symbol}", code="no_position")
    outcome = await platform.trading.close_position(
        principal.account, inst.symbol, net_qty=net, qty=None if body is None else body.qty,
        client_order_id=None if body is None else body.client_order_id)
    return await placed(platform, principal.account, outcome)


@router.get("/fills", response_model=s.FillsPublic, responses=error_responses(401, 404, 422))
async def list_fills(
    platform: PlatformDep, principal: PrincipalDep,
    symbol: Annotated[str | None, Query(max_length=32, description="only this symbol")] = None,
    order_id: Annotated[str | None, Query(max_length=64,
                                          description="only this order (UUID)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")] = 100,
    cursor: Annotated[str | None, Query(max_length=256,
                                        description="`next_cursor` of the previous page")] = None,
) -> s.FillsPublic:
    """List the caller's fills, newest first, a page at a time."""
    scope = cursor_scope("fills", symbol, order_id)
    after = decode_cursor(scope, cursor, 3)
    sym = None if symbol is None else platform.refdata.instrument(symbol).symbol
    engine_id = None if order_id is None else (
        await owned_order(platform, principal, order_id)).order_id
    await caught_up(platform)

    async def fetch(n: int) -> list[FillRecord]:
        before = None if after is None else after[0] + 1
        return await platform.read_model.list_fills(principal.account, symbol=sym,
                                                    order_id=engine_id, before_seq=before,
                                                    limit=n)

    def key(r: FillRecord) -> tuple[int, ...]:
        return (r.seq, r.trade_id, 1 if r.liquidity == "taker" else 0)

    page, next_key = await keyset_page(fetch, key, limit, after)
    instrument = platform.refdata.instrument
    return s.FillsPublic(
        data=[render.fill_record(instrument(r.symbol), r) for r in page],
        next_cursor=None if next_key is None else encode_cursor(scope, next_key))


summaries_from_docstrings(router)
