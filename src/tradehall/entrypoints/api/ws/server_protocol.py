"""The WebSocket protocol uvicorn runs for the API: its sans-I/O one, plus direct frame writes.

A fan-out sends the same message to thousands of clients. Through ASGI each send builds a
message dict, runs a coroutine through the middleware's wrappers and uvicorn's checks, and
frames the text again; the socket write itself was under a third of the CPU of a send. This
protocol offers the app, as the scope extension `DIRECT_SEND`, a function that writes an
already framed text message (built once per message, `text_frame`) straight to the transport,
when and only when uvicorn's own send would have written it at once: handshake done, no close
sent or received, the transport writable, and no extension negotiated (a compressed
connection needs its own frames). Otherwise it returns False and the caller uses the ASGI
send, which waits, queues or raises as uvicorn decides. Control frames, closes and anything
the app sends through ASGI keep uvicorn's path, in order with the direct writes: both run on
the event loop and write whole frames.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

DIRECT_SEND = "tradehall.websocket.direct_send"

_OPEN = State.OPEN


def text_frame(text: str) -> bytes:
    """An unmasked final text frame (RFC 6455 §5.2), as a server sends it."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return bytes((0x81, 126)) + size.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + size.to_bytes(8, "big") + payload


class FanOutProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol with the `DIRECT_SEND` scope extension."""

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)  # unset when the handshake was refused
        if scope is not None:
            extensions = scope.get("extensions")
            if extensions is None:
                extensions = scope["extensions"] = {}
            extensions[DIRECT_SEND] = self.write_frame

    def write_frame(self, frame: bytes) -> bool:
        """Write a server frame now if uvicorn's send would; False means use the ASGI send."""
        if (self.handshake_complete and not self.close_sent and not self.disconnected
                and self.initial_response is None and self.writable.is_set()
                and self.conn.state is _OPEN and not self.conn.extensions
                and not self.transport.is_closing()):
            self.transport.write(frame)
            return True
        return False
