"""The market-data component: feeds the hub from the event bus and fans updates out to clients.

One task reads the bus subscription; for each batch it advances the `MarketDataHub`, then, for
every channel that has subscribers, builds the message once, serializes it once and appends the
same text to each subscriber's queue (`connection.py`). It never awaits a client. Conflation:
one book delta, one trades message, one ticker and one candle per channel per batch (the
engine's group commit already batches what arrived together). Private updates are rendered
once per listening account per batch. A second task sends heartbeats and closes silent clients.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import TYPE_CHECKING

from tradehall.adapters.tasks import stop_task
from tradehall.entrypoints.api.ws import protocol as p
from tradehall.entrypoints.api.ws import render
from tradehall.entrypoints.api.ws.connection import (
    CLOSE_GOING_AWAY,
    CLOSE_IDLE,
    Connection,
    WsConfig,
)
from tradehall.entrypoints.api.ws.private import private_updates
from tradehall.kernel.ids import AccountId, Symbol
from tradehall.marketdata.hub import HubChanges, MarketDataHub
from tradehall.service.messages import EventBatch
from tradehall.service.ports import Subscription

if TYPE_CHECKING:
    from tradehall.bootstrap import Platform

_log = logging.getLogger(__name__)


class MarketDataFeed:
    """The hub, the subscriber registry and the fan-out (a platform component)."""

    def __init__(self, hub: MarketDataHub, config: WsConfig | None = None) -> None:
        self.hub = hub
        self.config = config or WsConfig()  # replaceable; read when a client connects
        self._platform: Platform | None = None
        self._subscription: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._channels: dict[str, set[Connection]] = {}
        self._private_accounts: Counter[AccountId] = Counter()
        self.connections: set[Connection] = set()
        self.dropped = 0
        self.batches = 0

    @property
    def platform(self) -> Platform:
        assert self._platform is not None, "the feed is not attached"
        return self._platform

    # -- Component lifecycle --------------------------------------------------------------------

    async def attach(self, platform: Platform) -> None:
        """Subscribe to the bus before the engine starts, so the first books are seen."""
        self._platform = platform
        self._subscription = platform.bus.subscribe("marketdata")
        self._tasks.append(asyncio.create_task(self._run(self._subscription), name="md-feed"))

    async def start(self, platform: Platform) -> None:
        """Seed the 24 h window from the read model's candles, start heartbeats."""
        await self._seed(platform)
        self._tasks.append(asyncio.create_task(self._heartbeats(), name="ws-heartbeat"))

    async def stop(self) -> None:
        """Close every client (going away) and end the tasks."""
        for conn in list(self.connections):
            conn.drop(CLOSE_GOING_AWAY, "server shutting down")
        if self._subscription is not None:
            self._subscription.close()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            await stop_task(task)  # as every component loop: see adapters/tasks.py

    async def _seed(self, platform: Platform) -> None:
        start = platform.clock.now_ns() - 86_400 * 1_000_000_000
        for symbol in platform.refdata.instruments:
            oldest = self.hub.oldest_candle_ns(symbol, 60)
            records = await platform.read_model.candles(symbol, 60, from_ns=start, to_ns=oldest,
                                                        limit=1440)
            self.hub.seed_candles(symbol, 60, records)

    # -- Registry -------------------------------------------------------------------------------

    def register(self, conn: Connection) -> None:
        self.connections.add(conn)

    def unregister(self, conn: Connection) -> None:
        self.connections.discard(conn)
        for name in list(conn.channels):
            self.remove(conn, name)

    def add(self, conn: Connection, channel: p.Channel) -> None:
        """Subscribe a connection (idempotent)."""
        if channel.name in conn.channels:
            return
        conn.channels.add(channel.name)
        key = self._key(conn, channel)
        self._channels.setdefault(key, set()).add(conn)
        if channel.private and conn.principal is not None:
            self._private_accounts[conn.principal.account] += 1

    def remove(self, conn: Connection, name: str) -> None:
        if name not in conn.channels:
            return
        channel = p.parse_channel(name)
        conn.channels.discard(name)
        key = self._key(conn, channel)
        members = self._channels.get(key)
        if members is not None:
            members.discard(conn)
            if not members:
                del self._channels[key]
        if channel.private and conn.principal is not None:
            account = conn.principal.account
            self._private_accounts[account] -= 1
            if self._private_accounts[account] <= 0:
                del self._private_accounts[account]

    @staticmethod
    def _key(conn: Connection, channel: p.Channel) -> str:
        # Private channels are keyed by account, so one account's updates reach only its own.
        if channel.private:
            assert conn.principal is not None
            return f"{channel.name}@{conn.principal.account}"
        return channel.name

    def subscribers(self, key: str) -> int:
        return len(self._channels.get(key, ()))

    # -- Fan-out --------------------------------------------------------------------------------

    async def _run(self, subscription: Subscription) -> None:
        async for batch in subscription:
            try:
                self.on_batch(batch)
            except Exception:
                # Market data is a projection: a rendering bug must not stop the stream for
                # every client; it is logged loudly and the next batch goes on.
                _log.exception("market data fan-out failed for batch %d", batch.last_seq)

    def on_batch(self, batch: EventBatch) -> None:
        """Advance the hub with one batch and fan its changes out."""
        self.batches += 1
        changes = self.hub.apply(batch)
        if self._channels:
            self._public(changes)
            if self._private_accounts:
                self._private(batch)

    def _broadcast(self, key: str, message: p.ServerMessage) -> None:
        members = self._channels.get(key)
        if not members:
            return
        text = p.encode(message)
        for conn in list(members):
            if not conn.push(text):
                self.on_dropped(conn)

    def on_dropped(self, conn: Connection) -> None:
        """Count and forget a client whose queue overflowed."""
        if conn in self.connections:
            self.dropped += 1
            self.unregister(conn)

    def _public(self, changes: HubChanges) -> None:
        refdata = self.platform.refdata
        channels = self._channels
        for update in changes.books:
            key = f"book.{update.symbol}"
            if key in channels:
                self._broadcast(key, render.book_delta(refdata.instrument(update.symbol), update))
        for symbol, ticks in changes.trades.items():
            key = f"trades.{symbol}"
            if key in channels:
                self._broadcast(key, render.trades(refdata.instrument(symbol), symbol, ticks))
        for symbol in changes.tickers:
            key = f"ticker.{symbol}"
            if key in channels:
                self._broadcast(key, render.ticker(refdata.instrument(symbol),
                                                   self.hub.ticker(symbol)))
        for record in changes.candles:
            message = render.candle(refdata.instrument(record.symbol), record)
            if message.channel in channels:
                self._broadcast(message.channel, message)

    def _private(self, batch: EventBatch) -> None:
        updates = private_updates(batch, self.platform.refdata, self._private_accounts)
        for account, (orders, fills, balances) in updates.items():
            if orders:
                self._broadcast(f"orders@{account}", p.Orders(channel="orders", updates=orders))
            if fills:
                self._broadcast(f"fills@{account}", p.Fills(channel="fills", fills=fills))
            if balances:
                self._broadcast(f"balances@{account}",
                                p.Balances(channel="balances", balances=balances))

    # -- Snapshots on subscribe -----------------------------------------------------------------

    def snapshot(self, channel: p.Channel) -> p.ServerMessage | None:
        """The current state of a public channel, sent right after subscribing."""
        symbol = Symbol(channel.symbol or "")
        inst = self.platform.refdata.instrument(symbol)
        if channel.kind == "book":
            return render.book_snapshot(inst, self.hub.book(symbol))
        if channel.kind == "ticker":
            return render.ticker(inst, self.hub.ticker(symbol))
        if channel.kind == "candles" and channel.interval_s is not None:
            current = self.hub.candles(symbol, channel.interval_s)
            return render.candle(inst, current[-1]) if current else None
        return None

    # -- Heartbeats -----------------------------------------------------------------------------

    async def _heartbeats(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            # Short ticks so a replaced config takes effect without waiting a whole period.
            await asyncio.sleep(min(self.config.heartbeat_s, 0.25))
            now = loop.time()
            if now - last >= self.config.heartbeat_s:
                last = now
                self.beat(now)

    def beat(self, now: float) -> None:
        """Ping every client once; close those silent for longer than their idle timeout."""
        if not self.connections:
            return
        text = p.encode(p.Heartbeat(ts=render.timestamp(self.platform.clock.now_ns())))
        for conn in list(self.connections):
            if now - conn.last_seen > conn.config.idle_timeout_s:
                conn.drop(CLOSE_IDLE, f"nothing received for {conn.config.idle_timeout_s:g} s")
                self.unregister(conn)
            elif not conn.push(text):
                self.on_dropped(conn)


def market_data(platform: Platform) -> MarketDataFeed:
    """Return the platform's market-data component."""
    for component in platform.components:
        if isinstance(component, MarketDataFeed):
            return component
    raise LookupError("the platform has no market-data component")
