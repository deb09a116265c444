"""One WebSocket client: its bounded send queue, its writer task, its subscriptions.

The fan-out never awaits a client: it appends already-serialized text to the client's queue
and wakes the client's writer task. A client whose queue holds `queue_limit` messages (or
`queue_bytes` of text) is dropped at once: the queue is emptied, the writer stops, and the
connection is closed with 1008 (policy violation, reason `slow consumer`). So a slow reader
costs the others nothing and memory stays bounded (the queue, plus the transport's own write
buffer, which the server stops filling while the socket is not writable).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass

from starlette.types import Send

from tradehall.service.auth import Principal

_log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008  # the queue of a slow consumer overflowed
CLOSE_IDLE = 4000  # nothing received within the idle timeout


@dataclass(frozen=True, slots=True)
class WsConfig:
    """Limits of the WebSocket endpoint."""

    queue_limit: int = 1024  # messages waiting to be sent to one client
    queue_bytes: int = 4 * 1024 * 1024  # text waiting to be sent to one client
    heartbeat_s: float = 20.0  # the server sends {"type": "ping"} this often
    idle_timeout_s: float = 60.0  # a client silent this long is closed
    max_message_bytes: int = 16 * 1024  # largest client message
    max_channels: int = 200  # subscriptions per connection
    close_timeout_s: float = 10.0  # how long a close may wait for a blocked socket


class Connection:
    """A connected client as the fan-out sees it."""

    __slots__ = ("_bytes", "_closer", "_queue", "_send", "_wake", "_writer", "channels", "closed",
                 "config", "last_seen", "principal", "sent")

    def __init__(self, send: Send, config: WsConfig, now: float) -> None:
        self.config = config
        self._send = send
        self._queue: deque[str] = deque()
        self._bytes = 0
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self.channels: set[str] = set()
        self.principal: Principal | None = None
        self.closed = False
        self.last_seen = now
        self.sent = 0

    def start(self) -> None:
        """Start the writer task (on the running loop)."""
        self._writer = asyncio.create_task(self._write(), name="ws-writer")

    def push(self, text: str) -> bool:
        """Queue a serialized message; drop the client if its queue is full."""
        if self.closed:
            return False
        if len(self._queue) >= self.config.queue_limit or (
                self._bytes + len(text) > self.config.queue_bytes):
            self.drop(CLOSE_POLICY, "slow consumer: send queue full")
            return False
        self._queue.append(text)
        self._bytes += len(text)
        self._wake.set()
        return True

    def pending(self) -> int:
        """Messages waiting to be sent."""
        return len(self._queue)

    async def _write(self) -> None:
        queue, send = self._queue, self._send
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while queue:
                    text = queue.popleft()
                    self._bytes -= len(text)
                    await send({"type": "websocket.send", "text": text})
                    self.sent += 1
        except OSError:  # the client went away; its receive loop ends the connection
            self.closed = True
        except Exception as exc:  # starlette/uvicorn signal a closed socket in their own types
            _log.debug("websocket send failed: %s", exc)
            self.closed = True

    def drop(self, code: int, reason: str) -> None:
        """Stop sending, forget what is queued and close the connection (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self._queue.clear()
        self._bytes = 0
        if self._writer is not None:
            self._writer.cancel()
        self._closer = asyncio.get_running_loop().create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        # The socket of a slow consumer may not be writable: bound the wait for the close frame.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                self._send({"type": "websocket.close", "code": code, "reason": reason}),
                self.config.close_timeout_s)

    async def finish(self) -> None:
        """Stop the writer once the client has gone (the receive loop ended)."""
        self.closed = True
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer
