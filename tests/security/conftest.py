"""Fixtures of the security tests: a real platform on loopback and an HTTP client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.kit.server import RunningServer, running_platform


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A platform with the test market, served by uvicorn on a free loopback port."""
    async with running_platform(tmp_path) as srv:
        yield srv


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client with the server's base URL."""
    async with httpx.AsyncClient(base_url=server.base_url) as c:
        yield c
