"""Revocation across two API processes sharing one database and one Redis: a platform and a
fallback-role server on loopback over the same SQLite file and master key, each with its own
revocation notices. Their periodic re-reads are set to an hour, so only a notice can explain a
refusal seen in the other process within seconds. A revoked session or API key is refused by
the other process at once, and its WebSockets there (`/v1/ws`, `/stream`) close with 4001; so
do a locked user's. With Redis gone (a private server, killed), the processes keep working and
fall back to the periodic re-read and the WebSocket sweep; back, notices flow again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from tests.kit import ws_auth as kit
from tests.kit.private_redis import PrivateRedis
from tests.kit.private_redis import private_redis as private_redis
from tests.kit.server import RunningServer, TestUser, free_port, running_platform
from tests.kit.services import REDIS_HOST, REDIS_PORT, Service
from tests.kit.ws_auth import close_code
from tradehall.adapters.redis.revocation import RedisRevocationNotices
from tradehall.entrypoints.api.ws.connection import CLOSE_REVOKED
from tradehall.entrypoints.api.ws.revocation import revocation_guard
from tradehall.kernel.ids import random_token

pytestmark = pytest.mark.redis
SHARED_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
AT_ONCE_S = 2.0  # "at once": far below the 60 s re-read, with room for a loaded CI machine
HOUR = 3_600


class Process:
    """One API process as the test sees it: its server and an HTTP client on it."""

    def __init__(self, server: RunningServer, http: httpx.AsyncClient) -> None:
        self.server = server
        self.http = http

    def notices(self) -> RedisRevocationNotices:
        found = [c for c in self.server.platform.components
                 if isinstance(c, RedisRevocationNotices)]
        assert len(found) == 1
        return found[0]


@asynccontextmanager
async def two_processes(data_dir: Path, redis_url: str,
                        **settings: Any) -> AsyncIterator[tuple[Process, Process]]:
    shared: dict[str, Any] = {"redis_url": redis_url, "redis_prefix": f"test:{random_token(6)}:",
                              "session_upkeep_interval_s": HOUR, "api_key_cache_ttl_s": HOUR}
    shared.update(settings)
    async with running_platform(data_dir, market=False, **shared) as first, \
            running_platform(data_dir, market=False, role="fallback", **shared) as second, \
            httpx.AsyncClient(base_url=first.base_url, timeout=30) as first_http, \
            httpx.AsyncClient(base_url=second.base_url, timeout=30) as second_http:
        one, two = Process(first, first_http), Process(second, second_http)
        for process in (one, two):
            await asyncio.wait_for(process.notices().subscribed.wait(), 5)
        yield one, two


async def login(process: Process, user: TestUser) -> dict[str, str]:
    answer = await process.http.post("/v1/auth/login", json={"username": user.user.username,
                                                             "password": user.password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def ws_authenticated(process: Process, auth: dict[str, str]) -> ClientConnection:
    return await kit.ws_authenticated(process.server.ws_url, auth)


async def stream_authenticated(process: Process, user: TestUser) -> ClientConnection:
    return await kit.stream_authenticated(process.server.ws_url, user.key.key_id,
                                          user.key.secret)


async def lost_subscription(notices: RedisRevocationNotices) -> None:
    for _ in range(500):
        if not notices.subscribed.is_set():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the subscription outlived Redis")


async def status_within(request: Callable[[], Any], status: int, within_s: float) -> float:
    """Repeat a request until it answers `status`; return the seconds it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        answer: httpx.Response = await request()
        if answer.status_code == status:
            return loop.time() - started
        assert loop.time() - started < within_s, (answer.status_code, answer.text)
        await asyncio.sleep(0.01)


async def test_session_when_revoked_in_one_process_is_refused_and_its_socket_closed_in_the_other(
        redis_server: Service, tmp_path: Path) -> None:
    # Arrange
    async with two_processes(tmp_path, SHARED_URL) as (one, two):
        alice = await one.server.create_user("alice", deposits={})
        bearer = await login(one, alice)
        assert (await two.http.get("/v1/auth/me", headers=bearer)).status_code == 200
        ws = await ws_authenticated(two, {"token": bearer["Authorization"][7:]})

        # Act
        assert (await one.http.post("/v1/auth/logout", headers=bearer)).status_code == 204
        took = await status_within(lambda: two.http.get("/v1/auth/me", headers=bearer), 401,
                                   AT_ONCE_S)
        code = await close_code(ws, AT_ONCE_S)
        refused = await two.http.get("/v1/auth/me", headers=bearer)

    # Assert
    assert took < AT_ONCE_S
    assert refused.json()["code"] == "session_revoked"
    assert code == CLOSE_REVOKED


async def test_api_key_when_revoked_in_one_process_is_refused_and_its_sockets_closed_in_the_other(
        redis_server: Service, tmp_path: Path) -> None:
    # Arrange: the other process has checked (and cached, for an hour) the key
    async with two_processes(tmp_path, SHARED_URL) as (one, two):
        bob = await one.server.create_user("bobby", deposits={})
        bearer = await login(one, bob)
        assert (await two.http.get("/v1/auth/me", headers=bob.headers)).status_code == 200
        ws = await ws_authenticated(two, {"key_id": bob.key.key_id,
                                          "secret_key": bob.key.secret})
        stream = await stream_authenticated(two, bob)

        # Act
        revoked = await one.http.delete(f"/v1/api-keys/{bob.key.key_id}", headers=bearer)
        took = await status_within(lambda: two.http.get("/v1/auth/me", headers=bob.headers),
                                   401, AT_ONCE_S)
        codes = list(await asyncio.gather(close_code(ws, AT_ONCE_S),
                                          close_code(stream, AT_ONCE_S)))
        session_still_works = await two.http.get("/v1/auth/me", headers=bearer)

    # Assert
    assert revoked.status_code == 204
    assert took < AT_ONCE_S
    assert codes == [CLOSE_REVOKED, CLOSE_REVOKED]
    assert session_still_works.status_code == 200


async def test_user_when_locked_in_one_process_has_keys_refused_and_sockets_closed_in_the_other(
        redis_server: Service, tmp_path: Path) -> None:
    # Arrange
    async with two_processes(tmp_path, SHARED_URL) as (one, two):
        admin = await one.server.create_user("admin", roles=("admin",), deposits={})
        carol = await one.server.create_user("carol", deposits={})
        dave = await one.server.create_user("dave", deposits={})
        assert (await two.http.get("/v1/auth/me", headers=carol.headers)).status_code == 200
        carol_ws = await ws_authenticated(two, {"key_id": carol.key.key_id,
                                                "secret_key": carol.key.secret})
        dave_ws = await ws_authenticated(two, {"key_id": dave.key.key_id,
                                               "secret_key": dave.key.secret})

        # Act
        locked = await one.http.put("/v1/admin/users/carol/state", json={"state": "locked"},
                                    headers=await login(one, admin))
        took = await status_within(lambda: two.http.get("/v1/auth/me", headers=carol.headers),
                                   401, AT_ONCE_S)
        codes = list(await asyncio.gather(close_code(carol_ws, AT_ONCE_S),
                                          close_code(dave_ws, 0.5)))

    # Assert
    assert locked.status_code == 200, locked.text
    assert took < AT_ONCE_S
    assert codes == [CLOSE_REVOKED, None]  # dave's socket stays open


async def test_processes_when_redis_goes_away_fall_back_to_rereads_then_notices_resume(
        private_redis: PrivateRedis, tmp_path: Path) -> None:
    # Arrange: re-reads every second (sessions) and a fast WebSocket sweep
    async with two_processes(tmp_path, private_redis.url, session_upkeep_interval_s=1) as (
            one, two):
        revocation_guard(two.server.platform).sweep_s = 0.2
        erin = await one.server.create_user("erin", deposits={})
        bearer = await login(one, erin)
        ws = await ws_authenticated(two, {"token": bearer["Authorization"][7:]})

        # Act 1: Redis is gone; a logout still works and reaches the other process by re-read
        private_redis.stop()
        for process in (one, two):
            await lost_subscription(process.notices())
        logout = await one.http.post("/v1/auth/logout", headers=bearer)
        here = await one.http.get("/v1/auth/me", headers=bearer)
        there = await status_within(lambda: two.http.get("/v1/auth/me", headers=bearer), 401,
                                    10.0)
        code = await close_code(ws, 10.0)

        # Act 2: Redis is back; a key revoked now reaches the other process at once (the key
        # cache lives an hour there, so no re-read can explain it)
        private_redis.start()
        for process in (one, two):
            await asyncio.wait_for(process.notices().subscribed.wait(), 10)
        bearer = await login(one, erin)
        assert (await two.http.get("/v1/auth/me", headers=erin.headers)).status_code == 200
        deleted = await one.http.delete(f"/v1/api-keys/{erin.key.key_id}", headers=bearer)
        key_took = await status_within(
            lambda: two.http.get("/v1/auth/me", headers=erin.headers), 401, AT_ONCE_S)

    # Assert
    assert logout.status_code == 204
    assert here.status_code == 401
    assert there < 10.0
    assert code == CLOSE_REVOKED
    assert deleted.status_code == 204
    assert key_took < AT_ONCE_S


async def test_process_when_redis_unreachable_serves_and_revokes_in_process(
        tmp_path: Path) -> None:
    # Arrange: nothing listens on this loopback port
    url = f"redis://127.0.0.1:{free_port()}/0"
    async with running_platform(tmp_path, market=False, redis_url=url) as server, \
            httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        process = Process(server, http)
        frank = await server.create_user("frank", deposits={})
        bearer = await login(process, frank)
        ws = await ws_authenticated(process, {"token": bearer["Authorization"][7:]})
        stream = await stream_authenticated(process, frank)

        # Act
        logout = await http.post("/v1/auth/logout", headers=bearer)
        refused = await http.get("/v1/auth/me", headers=bearer)
        bearer = await login(process, frank)
        deleted = await http.delete(f"/v1/api-keys/{frank.key.key_id}", headers=bearer)
        key_refused = await http.get("/v1/auth/me", headers=frank.headers)
        codes = list(await asyncio.gather(close_code(ws, AT_ONCE_S),
                                          close_code(stream, AT_ONCE_S)))

    # Assert
    assert (logout.status_code, refused.status_code) == (204, 401)
    assert (deleted.status_code, key_refused.status_code) == (204, 401)
    assert codes == [CLOSE_REVOKED, CLOSE_REVOKED]
