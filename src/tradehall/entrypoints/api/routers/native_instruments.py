"""Native reference data: instruments with their grid, limits and fees, and assets.

Public (no credentials needed): the same definitions every client must know to build a valid
order. Read from the edge's `ReferenceData`, which follows the engine's events. Read-only.
"""

from __future__ import annotations

from fastapi import APIRouter

from tradehall.entrypoints.api.deps import PlatformDep
from tradehall.entrypoints.api.errors import error_responses
from tradehall.entrypoints.api.routers import native_render as render
from tradehall.entrypoints.api.routers.native_common import summaries_from_docstrings
from tradehall.entrypoints.api.schemas import native as s

router = APIRouter(prefix="/v1", tags=["reference data"])


@router.get("/instruments", response_model=s.InstrumentsPublic)
async def list_instruments(platform: PlatformDep) -> s.InstrumentsPublic:
    """List every instrument with its tick and lot sizes, limits, fees and status."""
    instruments = platform.refdata.instruments
    return s.InstrumentsPublic(data=[render.instrument(instruments[symbol])
                                     for symbol in sorted(instruments)])


@router.get("/instruments/{symbol}", response_model=s.InstrumentPublic,
            responses=error_responses(404, 422))
async def get_instrument(symbol: str, platform: PlatformDep) -> s.InstrumentPublic:
    """Get one instrument by symbol (`unknown_symbol` when it is not defined)."""
    return render.instrument(platform.refdata.instrument(symbol.upper()))


@router.get("/assets", response_model=s.AssetsPublic)
async def list_assets(platform: PlatformDep) -> s.AssetsPublic:
    """List every asset with the number of decimals of its minor unit."""
    scales = platform.refdata.asset_scales
    return s.AssetsPublic(data=[s.AssetPublic(code=code, scale=scales[code])
                                for code in sorted(scales)])


summaries_from_docstrings(router)
