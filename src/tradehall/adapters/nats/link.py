"""One NATS connection per process, shared by the engine port and the event readers.

`open()` retries until the server answers (a process that starts while NATS restarts waits
instead of dying), creates the streams and buckets when missing, and from then on the client
reconnects by itself for ever, with the options of `streams.connect` plus callbacks that log
one line per outage instead of a traceback per attempt. `reconnects` counts the
reconnections, so a reader can tell that its ephemeral consumer may be gone.
"""

from __future__ import annotations

import asyncio
import logging

import nats
import nats.errors
from nats.aio.client import Client
from nats.js import JetStreamContext

from tradehall.adapters.nats.streams import Topology, ensure_streams

_log = logging.getLogger(__name__)

NATS_ERRORS: tuple[type[BaseException], ...] = (nats.errors.Error, TimeoutError, OSError)
"""What a NATS call raises when the server is unreachable, slow or refuses (JetStream API
errors included: `nats.js.errors.Error` derives from `nats.errors.Error`)."""


CLOSE_TIMEOUT_S = 5.0
"""Longest a close of the NATS connection may take before it is abandoned."""

PING_INTERVAL_S = 5
"""Seconds between the client's pings. Two unanswered pings mark the connection stale and
start a reconnect: a server that hangs (a frozen host, a dead route that drops nothing) is
noticed in about 15 s instead of nats-py's default of six minutes, during which every command
would have waited for its publish timeout instead of being refused at once."""


class NatsLink:
    """A lazily opened, self-reconnecting NATS connection with its JetStream context."""

    def __init__(self, topology: Topology, name: str, *, retry_s: float = 0.5,
                 close_timeout_s: float = CLOSE_TIMEOUT_S,
                 ping_interval_s: int = PING_INTERVAL_S) -> None:
        self.topology = topology
        self.name = name
        self.retry_s = retry_s
        self.close_timeout_s = close_timeout_s
        self.ping_interval_s = ping_interval_s
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self._down = False  # an outage was logged; log the recovery once

    async def _connect(self) -> Client:
        async def on_error(exc: Exception) -> None:
            if not self._down:
                self._down = True
                _log.warning("%s: NATS at %s: %s", self.name, self.topology.url, exc)

        async def on_disconnected() -> None:
            if self._client is not None and not self._down:  # None: closing on purpose
                self._down = True
                _log.warning("%s: NATS disconnected; reconnecting", self.name)

        async def on_reconnected() -> None:
            self._down = False
            _log.warning("%s: NATS reconnected", self.name)

        return await nats.connect(self.topology.url, name=self.name, allow_reconnect=True,
                                  max_reconnect_attempts=-1, reconnect_time_wait=self.retry_s,
                                  connect_timeout=2, ping_interval=self.ping_interval_s,
                                  max_outstanding_pings=2, error_cb=on_error,
                                  disconnected_cb=on_disconnected,
                                  reconnected_cb=on_reconnected)

    async def open(self) -> None:
        """Connect (retrying until the server answers) and make sure the streams exist."""
        if self._client is not None:
            return
        warned = False
        while True:
            client: Client | None = None
            try:
                client = await self._connect()
                js = client.jetstream()
                await ensure_streams(js, self.topology)
            except NATS_ERRORS as exc:
                if client is not None:
                    await _close_quietly(client, self.close_timeout_s)
                if not warned:
                    _log.warning("%s: NATS at %s unavailable (%s); retrying", self.name,
                                 self.topology.url, exc)
                    warned = True
                await asyncio.sleep(self.retry_s)
                continue
            except BaseException:  # cancelled half-way: leave nothing connected behind
                if client is not None:
                    await _close_quietly(client, self.close_timeout_s)
                raise
            self._client, self._js = client, js
            self._down = False
            return

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("the NATS link is not open")
        return self._client

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("the NATS link is not open")
        return self._js

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    @property
    def reconnects(self) -> int:
        """How many times the connection was re-established since it opened."""
        if self._client is None:
            return 0
        return int(self._client.stats["reconnects"])

    async def close(self) -> None:
        client, self._client, self._js = self._client, None, None
        if client is not None:
            await _close_quietly(client, self.close_timeout_s)


async def _close_quietly(client: Client, timeout_s: float) -> None:
    # nats-py's close waits for its transport without a bound (nats-io/nats.py#671 shows one
    # such wait lasting until TCP gives up) and can swallow a cancellation meanwhile, so the
    # close runs as a task that is waited for, at most `timeout_s`, and then left behind.
    closing = asyncio.ensure_future(client.close())
    done, _ = await asyncio.wait({closing}, timeout=timeout_s)
    if not done:
        closing.cancel()
        _log.warning("closing NATS took over %.1f s: the connection is abandoned", timeout_s)
        return
    error = closing.exception()
    if isinstance(error, NATS_ERRORS):  # closing a half-dead connection: nothing left to save
        _log.debug("closing NATS: %s", error)
    elif error is not None:
        raise error
