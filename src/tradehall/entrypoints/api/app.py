"""The ASGI application: routers, error handlers, limits. Built around one `Platform`.

`create_app(platform)` includes every router; with `manage=True` the app's lifespan starts
and stops the platform (what `tradehall serve` uses), so uvicorn opens the port only once the
engine has recovered and closes it before the engine stops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

import tradehall
from tradehall.config import Settings
from tradehall.entrypoints.api import errors, metrics, permissions, route_index, security
from tradehall.entrypoints.api.routers import (
    account,
    admin_users,
    alerts,
    alpaca_account,
    alpaca_assets,
    alpaca_orders,
    alpaca_positions,
    api_keys,
    audit,
    auth,
    auth_external,
    desk,
    fallback,
    health,
    kyc,
    marketdata,
    native_funds,
    native_instruments,
    native_orders,
    native_positions,
    udf,
    wellknown,
)
from tradehall.entrypoints.api.ws import alpaca_stream
from tradehall.entrypoints.api.ws import endpoint as ws_endpoint
from tradehall.entrypoints.web import router as web

if TYPE_CHECKING:
    from tradehall.bootstrap import Platform


def create_app(platform: Platform, *, manage: bool = False) -> FastAPI:
    """Build the API app for a platform."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if manage:
            await platform.start()
        try:
            yield
        finally:
            if manage:
                await platform.stop()

    app = FastAPI(title="tradehall", version=tradehall.__version__, lifespan=lifespan,
                  description="Trading API of tradehall: Alpaca-compatible (`/v2`), native "
                              "(`/v1`), market data and WebSocket streams.")
    app.state.platform = platform
    errors.install(app)
    permissions.install(app)
    app.add_middleware(errors.BodyLimit, overrides={kyc.UPLOAD_PATH: kyc.MAX_UPLOAD_BODY})
    # Headers, CORS, per-IP limit, JSON depth (outside the body limit; the OpenAPI script
    # builds the app without a platform).
    security.install(app, platform.settings if platform is not None else Settings())
    # Outermost, so a request's time includes every check.
    app.state.metrics = metrics.ApiMetrics(platform)
    app.add_middleware(metrics.MetricsMiddleware, metrics=app.state.metrics)
    # -- Routers (one line per router; keep sorted by module) ----------------------------------
    app.include_router(account.router)
    app.include_router(admin_users.router)
    app.include_router(alerts.router)
    app.include_router(alpaca_account.router)
    app.include_router(alpaca_assets.router)
    app.include_router(alpaca_orders.router)
    app.include_router(alpaca_positions.router)
    app.include_router(alpaca_stream.router)
    app.include_router(api_keys.router)
    app.include_router(audit.router)
    app.include_router(auth.router)
    app.include_router(auth_external.router)
    app.include_router(desk.router)
    app.include_router(fallback.router)
    app.include_router(health.router)
    app.include_router(kyc.router)
    app.include_router(marketdata.router)
    app.include_router(metrics.router)
    app.include_router(native_funds.router)
    app.include_router(native_instruments.router)
    app.include_router(native_orders.router)
    app.include_router(native_positions.router)
    app.include_router(udf.router)
    app.include_router(web.router)
    app.include_router(wellknown.router)
    app.include_router(ws_endpoint.router)
    # -- end of routers ---------------------------------------------------------------------------
    route_index.install(app)
    return app
