"""The SQL projector on a thread of its own, with its own event loop and its own engines.

The projector's per-batch work (folding events into rows, copying parameters, driving the
database) used to run on the API's event loop, between requests. Here it runs on a dedicated
thread: `start()` opens the projector's engines (reader and writer, apart from the API's: an
async engine belongs to the loop it was created on; on SQLite they are synchronous, since a
blocking call on this thread holds up nobody) and returns once the projector reads its
subscription, which the bus feeds from the API's loop (`ThreadedSubscription`). The projector
advances the shared `Progress`, which wakes `wait_for` callers on their own loop, so the routes'
read-your-writes stay as they were. `wait()` returns once the subscription ended and every batch
queued before its end is committed, and raises what made the projector fail. Never touches the
API's engines or loop objects other than through `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from tradehall.adapters.inproc.bus import ThreadedSubscription
from tradehall.adapters.sql.connect import create_engines, create_sync_sqlite_engines
from tradehall.adapters.sql.progress import Progress
from tradehall.adapters.sql.projection import ProjectionCache
from tradehall.adapters.sql.projector import ShortfallTotals, SqlProjector

_log = logging.getLogger(__name__)
LINGER_S = 0.005  # the most a batch waits for company when batches come faster than this


class ProjectorThread:
    """Runs one `SqlProjector` on a dedicated thread until its subscription ends."""

    def __init__(self, url: str, progress: Progress, cache: ProjectionCache,
                 subscription: ThreadedSubscription, *, max_commands: int = 20_000,
                 linger_s: float = LINGER_S, shortfalls: ShortfallTotals | None = None) -> None:
        self._url = url
        self._progress = progress
        self._cache = cache
        self._subscription = subscription
        self._max_commands = max_commands
        self._linger_s = linger_s
        self._shortfalls = shortfalls
        self._thread: threading.Thread | None = None
        self._done: asyncio.Future[None] | None = None
        self.projector: SqlProjector | None = None  # for counters; touch it once stopped

    async def start(self) -> None:
        """Start the thread; return once its projector reads the subscription."""
        if self._thread is not None:
            raise RuntimeError("the projector thread runs already")
        loop = asyncio.get_running_loop()
        started: asyncio.Future[None] = loop.create_future()
        self._done = loop.create_future()
        # Set here, not on the thread: a wait_for that starts now must park, not poll.
        self._progress.local = True
        self._thread = threading.Thread(target=self._main, args=(loop, started),
                                        name="projector", daemon=True)
        self._thread.start()
        await started

    async def wait(self) -> None:
        """Wait until the projector ended (its subscription closed); raise its failure."""
        if self._done is None:
            return
        try:
            await asyncio.shield(self._done)
        finally:
            if self._thread is not None and self._done.done():
                await asyncio.to_thread(self._thread.join)
                self._thread = None

    def _main(self, caller: asyncio.AbstractEventLoop, started: asyncio.Future[None]) -> None:
        error: BaseException | None = None
        try:
            asyncio.run(self._run(caller, started))
        except BaseException as exc:
            error = exc
            _log.critical("the SQL projector stopped: %s", exc, exc_info=exc)
        finally:
            self._progress.local = False
        _hand_over(caller, started, error)
        _hand_over(caller, self._done, error)

    async def _run(self, caller: asyncio.AbstractEventLoop,
                   started: asyncio.Future[None]) -> None:
        engines: tuple[AsyncEngine, AsyncEngine] | tuple[Engine, Engine]
        engines = create_sync_sqlite_engines(self._url) or create_engines(self._url)
        engine, writer = engines
        try:
            projector = SqlProjector(engine, writer, self._progress, self._cache,
                                     self._subscription, max_commands=self._max_commands,
                                     linger_s=self._linger_s, shortfalls=self._shortfalls)
            self.projector = projector
            caller.call_soon_threadsafe(_settle, started, None)
            await projector.run()
        finally:
            await _dispose(engine, writer)


async def _dispose(engine: AsyncEngine | Engine, writer: AsyncEngine | Engine) -> None:
    for each in (engine, writer) if writer is not engine else (engine,):
        if isinstance(each, AsyncEngine):
            await each.dispose()
        else:
            each.dispose()


def _hand_over(loop: asyncio.AbstractEventLoop, future: asyncio.Future[None] | None,
               error: BaseException | None) -> None:
    if future is None or loop.is_closed():
        return
    try:
        loop.call_soon_threadsafe(_settle, future, error)
    except RuntimeError:  # the loop closed meanwhile: nobody is left to tell
        return


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
