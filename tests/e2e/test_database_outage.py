"""PostgreSQL out of reach: the API answers 503 `database_unavailable`, then recovers alone.

The API process (the fallback role: the API over the database, no engine) reaches a fresh
PostgreSQL database through a TCP proxy on loopback; cutting the proxy drops every connection
and refuses new ones, as when the database host dies.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.kit import services
from tests.kit.netproxy import TcpProxy
from tests.kit.server import running_platform

pytestmark = [pytest.mark.postgres]
postgres_server = services.postgres_server
postgres_database = services.postgres_database


def _through(proxy: TcpProxy, url: str) -> str:
    scheme, rest = url.split("://", 1)
    credentials, location = rest.split("@", 1)
    database = location.split("/", 1)[1]
    return f"{scheme}://{credentials}@127.0.0.1:{proxy.port}/{database}"


async def test_database_out_of_reach_answers_503_and_recovers(postgres_database: str,
                                                              tmp_path: Path) -> None:
    # Arrange
    proxy = TcpProxy("127.0.0.1", 5432)
    await proxy.start()
    try:
        async with running_platform(tmp_path, database_url=_through(proxy, postgres_database),
                                    market=False, role="fallback") as server:
            user = await server.create_user("ursula", deposits={})
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
                before = await client.get("/v1/balances", headers=user.headers)

                # Act: the database host goes away
                await proxy.cut()
                down = await client.get("/v1/balances", headers=user.headers)
                login = await client.post("/v1/auth/login", json={
                    "username": "ursula", "password": user.password})

                # ... and comes back: no restart of anything
                await proxy.restore()
                after = None
                for _ in range(50):
                    after = await client.get("/v1/balances", headers=user.headers)
                    if after.status_code == 200:
                        break
                    await asyncio.sleep(0.1)
    finally:
        await proxy.cut()

    # Assert
    assert before.status_code == 200, before.text
    assert down.status_code == 503, down.text
    assert down.json() == {"code": "database_unavailable",
                           "message": "the database does not answer; retry shortly",
                           "field": None}
    assert int(down.headers["Retry-After"]) >= 1
    assert login.status_code == 503, login.text
    assert login.json()["code"] == "database_unavailable"
    assert after is not None
    assert after.status_code == 200, after.text
