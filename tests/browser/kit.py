"""A live demo platform on a loopback port, on its own thread, for the browser tests.

Like `tests/kit/server.py`'s `platform_in_thread`, but with the demo market on: market makers
requote every second and a taker trades now and then, so the chart, the book and the tape move
while the browser watches. The test code stays synchronous (Playwright's sync API), the server
runs on a background event loop; `call` runs a coroutine there (for example to drop every
WebSocket connection from the server's side).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import uvicorn

from tests.kit.server import free_port
from tradehall.bootstrap import Platform, build
from tradehall.config import Settings
from tradehall.entrypoints.api.app import create_app
from tradehall.entrypoints.api.ws.feed import market_data
from tradehall.entrypoints.cli.serve import uvicorn_config
from tradehall.entrypoints.demo.credentials import DemoCredential
from tradehall.entrypoints.demo.setup import DemoComponent

T = TypeVar("T")


@dataclass
class DemoServer:
    """A running demo platform: URL, credentials, and a way onto its loop."""

    platform: Platform
    base_url: str
    credentials: list[DemoCredential]
    loop: asyncio.AbstractEventLoop

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def key_headers(self, index: int) -> dict[str, str]:
        entry = self.credentials[index]
        return {"APCA-API-KEY-ID": entry.api_key_id, "APCA-API-SECRET-KEY": entry.api_secret_key}

    def drop_websockets(self) -> int:
        """Close every WebSocket connection from the server's side; returns how many."""

        async def drop() -> int:
            connections = list(market_data(self.platform).connections)
            for conn in connections:
                conn.drop(1012, "test: server drops the connection")
            return len(connections)

        return self.call(drop())


@contextlib.contextmanager
def demo_platform_in_thread(data_dir: Path) -> Iterator[DemoServer]:
    """Serve a demo platform on a free loopback port until the block ends."""
    ready: queue.Queue[DemoServer | BaseException] = queue.Queue()
    stop_holder: list[Callable[[], object]] = []

    async def main() -> None:
        try:
            settings = Settings(data_dir=data_dir, demo=True, fsync=False, host="127.0.0.1",
                                port=free_port())
            platform = await build(settings)
            server = uvicorn.Server(uvicorn_config(create_app(platform, manage=True), settings))
            task = asyncio.create_task(server.serve())
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("the demo server did not start")
                await asyncio.sleep(0.02)
            demo = next(c for c in platform.components if isinstance(c, DemoComponent))
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            stop_holder.append(lambda: loop.call_soon_threadsafe(stop.set))
            ready.put(DemoServer(platform, f"http://127.0.0.1:{settings.port}",
                                 list(demo.credentials), loop))
            await stop.wait()
            server.should_exit = True
            await task
        except BaseException as exc:
            ready.put(exc)
            raise

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    got = ready.get(timeout=120)
    if isinstance(got, BaseException):
        thread.join(timeout=10)
        raise got
    try:
        yield got
    finally:
        stop_holder[0]()
        thread.join(timeout=60)


@dataclass
class StaticSite:
    """A one-page web site on a loopback port (a broker's site that frames tradehall)."""

    origin: str
    html: str = "<!doctype html><title>site</title>"


@contextlib.contextmanager
def static_site() -> Iterator[StaticSite]:
    """Serve `site.html` at `/` of a free loopback port until the block ends."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    port = free_port()
    site = StaticSite(f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = site.html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet test output

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
