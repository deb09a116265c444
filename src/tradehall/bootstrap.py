"""The composition root: turn `Settings` into a running `Platform` and pick every adapter.

Embedded mode (the default) wires the engine thread (file journal), the in-process bus and the
SQL read models (SQLite unless a URL says otherwise). Start order matters: the read models
open first (their projected seq tells the engine where recovery must republish from), every
subscriber attaches before the engine starts (so nothing it publishes is missed), components
that send commands start after it. Stop runs the other way round and drains the projector.
Only this module chooses implementations; nothing else reads `Settings`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tradehall.adapters.inproc.bus import InprocEventBus
from tradehall.adapters.sql import SqlDatabase
from tradehall.adapters.sql.projector_thread import ProjectorThread
from tradehall.compliance.audit import AuditLog, MemoryAuditLog
from tradehall.config import Settings
from tradehall.entrypoints.api.ws.alpaca_stream import AlpacaTradeUpdates
from tradehall.entrypoints.api.ws.feed import MarketDataFeed
from tradehall.entrypoints.demo.setup import DemoComponent
from tradehall.entrypoints.workers.engine_host import EngineHostConfig
from tradehall.entrypoints.workers.engine_thread import EngineThread, EngineThreadConfig
from tradehall.identity.mfa import TotpService
from tradehall.identity.users import UserService
from tradehall.kernel.clock import Clock, LiveClock
from tradehall.marketdata.hub import MarketDataConfig, MarketDataHub
from tradehall.service.auth import AuthService
from tradehall.service.messages import EventBatch
from tradehall.service.ports import IdentityStore, ReadModel
from tradehall.service.refdata import ReferenceData
from tradehall.service.trading import TradingService

_log = logging.getLogger(__name__)


class Component(Protocol):
    """A part of the platform with a lifecycle (market data hub, demo market, ...)."""

    async def attach(self, platform: Platform) -> None:
        """Subscribe to what it needs; runs before the engine starts."""
        ...

    async def start(self, platform: Platform) -> None:
        """Begin work; runs once the engine accepts commands."""
        ...

    async def stop(self) -> None:
        """Stop work; runs before the engine stops."""
        ...


@dataclass
class Platform:
    """Everything one tradehall process runs, wired."""

    settings: Settings
    clock: Clock
    bus: InprocEventBus
    engine: EngineThread
    refdata: ReferenceData
    db: SqlDatabase
    trading: TradingService
    auth: AuthService
    components: list[Component] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _projector: ProjectorThread | None = None
    _started: bool = False

    @property
    def read_model(self) -> ReadModel:
        return self.db.read_model

    @property
    def identity(self) -> IdentityStore:
        return self.db.identity

    @property
    def audit(self) -> AuditLog:
        return self.auth.audit

    async def start(self) -> None:
        """Attach the subscribers, recover the engine, then start the components."""
        # The projector runs on its own thread and loop, off the API's event loop.
        self._projector = self.db.projector_thread(self.bus.subscribe_threaded("projector"))
        await self._projector.start()
        for component in self.components:
            await component.attach(self)
        await self.engine.start(projection_seq=self.db.projected_seq)
        assets, instruments = self.engine.reference_data()
        self.refdata.load(assets, instruments)
        for component in self.components:
            await component.start(self)
        self._started = True

    async def stop(self) -> None:
        """Stop the components, then the engine (snapshot), then drain the projector."""
        for component in reversed(self.components):
            try:
                await component.stop()
            except Exception:
                _log.exception("component %r failed to stop", component)
        await self.engine.stop()
        self.bus.close()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._projector is not None:
            projector, self._projector = self._projector, None
            await projector.wait()  # drained: every batch before the close is committed
        await self.db.close()
        self._started = False

    def publish(self, batch: EventBatch) -> None:
        """Reference data first (so the edge converts with it at once), then the bus."""
        self.refdata.apply(batch)
        self.bus.publish(batch)


async def build(settings: Settings, *, clock: Clock | None = None) -> Platform:
    """Open the read models and wire a platform (not started yet)."""
    clock = clock or LiveClock()
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    db = await SqlDatabase.open(settings.sql_url())
    bus = InprocEventBus()
    refdata = ReferenceData()
    host = EngineHostConfig(data_dir=data_dir / "journal", fsync=settings.fsync,
                            snapshot_every=settings.snapshot_every)
    holder: list[Platform] = []
    engine = EngineThread(EngineThreadConfig(host=host, book_depth=settings.book_depth,
                                             max_batch=settings.max_batch),
                          clock, lambda batch: holder[0].publish(batch))
    # -- Identity (one block per part) -----------------------------------------------------------
    audit: AuditLog = MemoryAuditLog(clock.now_ns)
    users = UserService(db.identity, clock, audit)
    mfa = TotpService()
    auth = AuthService(db.identity, clock, _jwt_secret(settings), settings.access_token_ttl_s,
                       audit=audit, users=users, mfa=mfa)
    # -- end of identity --------------------------------------------------------------------------
    platform = Platform(settings=settings, clock=clock, bus=bus, engine=engine,
                        refdata=refdata, db=db, trading=TradingService(engine, refdata),
                        auth=auth)
    holder.append(platform)
    # -- Components (one block per component; attach order = list order) ----------------------
    platform.components.append(MarketDataFeed(MarketDataHub(MarketDataConfig(
        book_depth=settings.book_depth))))
    if settings.demo:
        platform.components.append(DemoComponent())
    platform.components.append(AlpacaTradeUpdates())
    # -- end of components ------------------------------------------------------------------------
    return platform


def _jwt_secret(settings: Settings) -> bytes:
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value().encode()
    path = Path(settings.data_dir) / "jwt-secret"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()

