"""One WebSocket client: its bounded send queue, its subscriptions, its sends.

The fan-out never awaits a client. It hands already-serialized text to `push`, which sends it
at once when nothing is pending (the ASGI send of a writable socket completes without
suspending, so no task switch per client and message); if that send suspends because the
socket's buffer is full, a task finishes it and drains what queues meanwhile, in order.
A client whose queue holds `queue_limit` messages (or `queue_bytes` of text) is dropped at
once: the queue is emptied, sending stops, and the connection is closed with 1008 (policy
violation, reason `slow consumer: send queue full`); if even the close frame cannot leave
within `close_timeout_s`, the session is ended anyway. So a slow reader costs the others
nothing and memory stays bounded (the queue, plus the transport's own write buffer, which the
server stops filling while the socket is not writable).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from starlette.types import Send

from tradehall.entrypoints.api.ws.server_protocol import text_frame
from tradehall.service.auth import Principal

_log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008  # the queue of a slow consumer overflowed
CLOSE_IDLE = 4000  # nothing received within the idle timeout
CLOSE_REVOKED = 4001  # the session or API key it authenticated with was revoked


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


_last_frame: list[tuple[str, bytes]] = [("", text_frame(""))]


def shared_frame(text: str) -> bytes:
    """The frame of `text`, built once for all the clients a fan-out pushes it to."""
    last = _last_frame[0]  # one read: another thread's loop may replace it meanwhile
    if last[0] is text:
        return last[1]
    frame = text_frame(text)
    _last_frame[0] = (text, frame)
    return frame


class Connection:
    """A connected client as the fan-out sees it."""

    __slots__ = ("_bytes", "_closer", "_direct", "_queue", "_send", "_writer", "channels",
                 "closed", "config", "last_seen", "on_abandon", "principal", "sent")

    def __init__(self, send: Send, config: WsConfig, now: float,
                 direct: Callable[[bytes], bool] | None = None) -> None:
        self.config = config
        self._send = send
        # The server's direct frame write (server_protocol.DIRECT_SEND), when it offers one.
        self._direct = direct
        self._queue: deque[str] = deque()
        self._bytes = 0
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self.channels: set[str] = set()
        self.principal: Principal | None = None
        self.closed = False
        self.last_seen = now
        self.sent = 0
        self.on_abandon: Callable[[], object] | None = None  # ends the receive loop

    def start(self) -> None:
        """Nothing to start: sends run inline until a socket stops being writable."""

    def push(self, text: str) -> bool:
        """Send or queue a serialized message; drop the client if its queue is full."""
        if self.closed:
            return False
        if self._writer is None:
            # Fast path: nothing is pending, so try to send right here: a direct frame write
            # when the server can take it now, else the ASGI send. That completes without
            # suspending on a writable socket; only when it suspends (the socket's buffer is
            # full) does a task take over and drain the queue.
            direct = self._direct
            if direct is not None and direct(shared_frame(text)):
                self.sent += 1
                return True
            self._begin(text)
            return not self.closed
        if len(self._queue) >= self.config.queue_limit or (
                self._bytes + len(text) > self.config.queue_bytes):
            self.drop(CLOSE_POLICY, "slow consumer: send queue full")
            return False
        self._queue.append(text)
        self._bytes += len(text)
        return True

    def pending(self) -> int:
        """Messages waiting to be sent."""
        return len(self._queue)

    def _begin(self, text: str) -> None:
        coro = self._message(text)
        try:
            yielded = coro.send(None)
        except StopIteration:
            self.sent += 1
            return
        except Exception as exc:  # starlette/uvicorn signal a closed socket in their own types
            _log.debug("websocket send failed: %s", exc)
            self.closed = True
            return
        self._writer = asyncio.get_running_loop().create_task(self._drain(coro, yielded))

    async def _drain(self, coro: Coroutine[Any, Any, None], yielded: Any) -> None:
        """Finish a suspended send, then send what queued meanwhile (in order)."""
        try:
            while True:
                try:
                    # What a suspended coroutine yields: a future to wait on, or None.
                    if yielded is None:
                        await asyncio.sleep(0)
                    else:
                        # As asyncio's Task does with what a step yields: take over the wait.
                        yielded._asyncio_future_blocking = False
                        await yielded
                except BaseException:
                    coro.close()
                    raise
                try:
                    yielded = coro.send(None)
                    continue
                except StopIteration:
                    self.sent += 1
                next_coro = self._next()
                if next_coro is None:
                    return
                coro, yielded = next_coro
        except Exception as exc:
            _log.debug("websocket send failed: %s", exc)
            self.closed = True
        finally:
            self._writer = None

    def _message(self, text: str) -> Coroutine[Any, Any, None]:
        awaitable = self._send({"type": "websocket.send", "text": text})
        if isinstance(awaitable, Coroutine):
            return awaitable

        async def wrapped() -> None:
            await awaitable

        return wrapped()

    def _next(self) -> tuple[Coroutine[Any, Any, None], Any] | None:
        """Start queued sends until one suspends; return it, or None when all went out."""
        queue = self._queue
        while queue and not self.closed:
            text = queue.popleft()
            self._bytes -= len(text)
            coro = self._message(text)
            try:
                return coro, coro.send(None)
            except StopIteration:
                self.sent += 1
        return None

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
        try:
            await asyncio.wait_for(
                self._send({"type": "websocket.close", "code": code, "reason": reason}),
                self.config.close_timeout_s)
        except Exception:  # not even the close frame could go out: end the session anyway
            if self.on_abandon is not None:
                self.on_abandon()

    async def finish(self) -> None:
        """Stop the writer once the client has gone (the receive loop ended)."""
        self.closed = True
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer
