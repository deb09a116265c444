"""A real platform on a free loopback port, inside the test process.

`platform_in_thread` runs the same on a background thread for synchronous clients such as
alpaca-py's `TradingClient`.

`running_platform(tmp_path)` builds the platform (journal in the folder, SQLite read models
unless `database_url` is given), serves it with uvicorn on 127.0.0.1 and yields a handle with
the base URL, the platform itself, and helpers to create funded users. Everything is real: the
engine thread with its journal, the SQL projections, HTTP and WebSocket on a socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import socket
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import uvicorn

from tests.kit.market import ASSETS, INSTRUMENTS
from tradehall.bootstrap import Platform, build
from tradehall.config import Settings
from tradehall.entrypoints.api.app import create_app
from tradehall.entrypoints.cli.serve import uvicorn_config
from tradehall.identity.principal import SCOPES
from tradehall.kernel.clock import Clock
from tradehall.kernel.ids import AssetCode
from tradehall.service.auth import ApiKeyPair
from tradehall.service.ports import UserRecord
from tradehall.trading import commands as c

T = TypeVar("T")


@dataclass
class TestUser:
    __test__ = False

    user: UserRecord
    password: str
    key: ApiKeyPair

    @property
    def headers(self) -> dict[str, str]:
        """Alpaca-style key headers."""
        return {"APCA-API-KEY-ID": self.key.key_id, "APCA-API-SECRET-KEY": self.key.secret}


@dataclass
class RunningServer:
    platform: Platform
    base_url: str
    ws_url: str

    async def setup_market(self) -> None:
        """Add the kit's assets and instruments (BTC-USD, ETH-USD, EUR-USD margin, AAPL)."""
        cmds: list[c.EngineCommand] = [c.AddAsset(asset=AssetCode(a), scale=s)
                                       for a, s in ASSETS.items()]
        cmds += [c.AddInstrument(spec=spec) for spec in INSTRUMENTS]
        await self.platform.engine.execute_many(cmds)

    async def create_user(self, username: str, *, roles: Sequence[str] = ("trader",),
                          deposits: dict[str, str] | None = None,
                          password: str = "correct horse battery") -> TestUser:
        """Create a user with an API key and deposit funds (default: plenty of every asset)."""
        auth = self.platform.auth
        user = await auth.create_user(username, password, tuple(roles))
        key = await auth.create_api_key(user, "test", scopes=SCOPES)
        funds = deposits if deposits is not None else {
            "USD": "10000000", "BTC": "100", "ETH": "1000", "EUR": "1000000", "AAPL": "10000"}
        last = None
        for asset, amount in funds.items():
            last = await self.platform.trading.deposit(user.account, asset, amount)
        if last is not None:
            await self.platform.read_model.wait_for(self.platform.engine.last_seq)
        return TestUser(user, password, key)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def running_platform(data_dir: Path, *, database_url: str | None = None,
                           market: bool = True, fsync: bool = False,
                           clock: Clock | None = None,
                           **overrides: Any) -> AsyncIterator[RunningServer]:
    """Run a platform with uvicorn on a free loopback port until the block ends (`overrides`
    are more `Settings` fields, such as the external identity provider's; `clock` replaces
    the live clock, e.g. a `ShiftedClock` that tests move forward)."""
    settings = Settings(data_dir=data_dir, database_url=database_url, demo=False, fsync=fsync,
                        host="127.0.0.1", port=free_port(), **overrides)
    platform = await build(settings, clock=clock)
    app = create_app(platform, manage=True)
    # A connection left open by a test must not hold the server's stop (and the test) forever.
    server = uvicorn.Server(uvicorn_config(app, settings, timeout_graceful_shutdown=10))
    task = asyncio.create_task(server.serve())
    deadline = asyncio.get_running_loop().time() + 60
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the test server did not start")
        if asyncio.get_running_loop().time() > deadline:
            server.should_exit = True
            raise RuntimeError("the test server did not start within 60 s")
        await asyncio.sleep(0.01)
    running = RunningServer(platform, f"http://127.0.0.1:{settings.port}",
                            f"ws://127.0.0.1:{settings.port}")
    try:
        if market:
            await running.setup_market()
        yield running
    finally:
        server.should_exit = True
        await task


class ThreadedServer:
    """A running platform on its own thread and event loop, for synchronous clients."""

    def __init__(self, loop: asyncio.AbstractEventLoop, server: RunningServer) -> None:
        self.loop = loop
        self.server = server

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def ws_url(self) -> str:
        return self.server.ws_url

    @property
    def platform(self) -> Platform:
        return self.server.platform

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def create_user(self, username: str, **kwargs: Any) -> TestUser:
        return self.call(self.server.create_user(username, **kwargs))


@contextlib.contextmanager
def platform_in_thread(data_dir: Path, **kwargs: Any) -> Iterator[ThreadedServer]:
    """Like `running_platform`, on a background thread: the test's own code may block."""
    ready: queue.Queue[ThreadedServer | BaseException] = queue.Queue()
    holder: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def main() -> None:
        try:
            stop = asyncio.Event()
            holder.append((asyncio.get_running_loop(), stop))
            async with running_platform(data_dir, **kwargs) as srv:
                ready.put(ThreadedServer(asyncio.get_running_loop(), srv))
                await stop.wait()
        except BaseException as exc:
            ready.put(exc)
            raise

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    got = ready.get(timeout=60)
    if isinstance(got, BaseException):
        thread.join(timeout=10)
        raise got
    try:
        yield got
    finally:
        loop, stop = holder[0]
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=60)
