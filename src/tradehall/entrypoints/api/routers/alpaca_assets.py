"""Alpaca `/v2/assets`: the platform's instruments as Alpaca assets (mapping in alpaca_mapping).

Public reference data, but like Alpaca it needs credentials. Filters: `status`, `asset_class`,
`exchange`, `attributes` (comma-separated; `margin` marks margin instruments).
"""

from __future__ import annotations

from fastapi import APIRouter

from tradehall.entrypoints.api.deps import PlatformDep, PrincipalDep
from tradehall.entrypoints.api.errors import error_responses
from tradehall.entrypoints.api.routers import alpaca_mapping as m
from tradehall.entrypoints.api.schemas import alpaca as s

router = APIRouter(prefix="/v2", tags=["alpaca: assets"])


@router.get("/assets", summary="List assets", response_model=list[s.AlpacaAsset],
            responses=error_responses(401, 422))
async def list_assets(platform: PlatformDep, _: PrincipalDep, status: str | None = None,
                      asset_class: str | None = None, exchange: str | None = None,
                      attributes: str | None = None) -> list[s.AlpacaAsset]:
    """Every instrument, filtered like Alpaca's asset list."""
    wanted = {a.strip() for a in attributes.split(",") if a.strip()} if attributes else set()
    assets = [m.render_asset(inst) for _, inst in sorted(platform.refdata.instruments.items())]
    return [a for a in assets
            if (status is None or a.status == status)
            and (asset_class is None or a.asset_class == asset_class)
            and (exchange is None or a.exchange == exchange)
            and wanted <= set(a.attributes)]


@router.get("/assets/{symbol_or_asset_id:path}", summary="Get an asset",
            response_model=s.AlpacaAsset, responses=error_responses(401, 404))
async def get_asset(platform: PlatformDep, _: PrincipalDep,
                    symbol_or_asset_id: str) -> s.AlpacaAsset:
    """One asset by symbol (`BTC/USD`, `BTC-USD`, `BTCUSD`, `AAPL`) or asset id."""
    return m.render_asset(m.resolve_symbol(platform.refdata, symbol_or_asset_id))
