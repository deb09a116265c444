"""Liveness and readiness: `/healthz` answers 200 once the platform accepts orders."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tradehall.entrypoints.api.deps import PlatformDep

router = APIRouter(tags=["health"])
_REFRESH_S = 0.5


@router.get("/healthz", summary="Ready to accept orders")
async def healthz(platform: PlatformDep) -> JSONResponse:
    """Answer 200 when the engine accepts commands (in the fallback role: when the database
    answers), 503 otherwise."""
    if platform.role == "fallback":
        ready = platform.fallback.modes.reachable
    else:
        ready = platform.engine.is_ready()
    # Another process may project: read its progress, but never let the database decide
    # readiness (only the engine does) or hold the probe.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(platform.read_model.refresh(), _REFRESH_S)
    body = {"status": "ok" if ready else "unavailable", "role": platform.role,
            "engine_seq": platform.engine.last_seq,
            "projected_seq": platform.read_model.last_seq}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/livez", summary="The process is alive")
async def livez() -> dict[str, str]:
    """Answer 200 while the process serves requests."""
    return {"status": "ok"}
