"""WebSocket clients authenticated the ways users do, and the close code they end with.

`ws_authenticated` opens `/v1/ws` and sends `auth` (a token or a key pair);
`stream_authenticated` opens Alpaca's `/stream`, authenticates with a key pair and listens;
`close_code` reads until the server closes and returns the code it closed with.
"""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


async def ws_authenticated(ws_url: str, auth: dict[str, str]) -> ClientConnection:
    """A `/v1/ws` client authenticated with `{"token": ...}` or `{"key_id", "secret_key"}`."""
    ws = await connect(f"{ws_url}/v1/ws")
    await ws.send(json.dumps({"type": "auth", **auth}))
    async with asyncio.timeout(5):
        while True:
            message = json.loads(await ws.recv())
            assert message["type"] != "error", message
            if message["type"] == "authenticated":
                return ws


async def stream_authenticated(ws_url: str, key_id: str, secret: str) -> ClientConnection:
    """An Alpaca `/stream` client authenticated with a key pair and listening."""
    ws = await connect(f"{ws_url}/stream")
    await ws.send(json.dumps({"action": "authenticate",
                              "data": {"key_id": key_id, "secret_key": secret}}))
    async with asyncio.timeout(5):
        assert json.loads(await ws.recv())["data"]["status"] == "authorized"
        await ws.send(json.dumps({"action": "listen",
                                  "data": {"streams": ["trade_updates"]}}))
        await ws.recv()
    return ws


async def close_code(ws: ClientConnection, within_s: float) -> int | None:
    """Read until the server closes the connection: its close code, or None if it stayed open
    (the client then closes it)."""
    try:
        async with asyncio.timeout(within_s):
            while True:
                await ws.recv()
    except ConnectionClosed as closed:
        return None if closed.rcvd is None else closed.rcvd.code
    except TimeoutError:
        await ws.close()
        return None
