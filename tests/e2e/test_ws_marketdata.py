"""The `/v1/ws` WebSocket end to end: real uvicorn on loopback, real `websockets` clients.

Book snapshot then deltas that track orders placed through the REST API, gap detection and
resync by subscribing again, trades/ticker/candles, private channels isolated per account,
heartbeats, errors for bad messages, and a slow client dropped while a normal one keeps up.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import socket
import struct
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.kit.server import RunningServer, TestUser, running_platform
from tradehall.entrypoints.api.ws.feed import market_data
from tradehall.entrypoints.api.ws.server_protocol import text_frame

Book = dict[str, str]


async def place(client: httpx.AsyncClient, user: TestUser, **body: Any) -> dict[str, Any]:
    order: dict[str, Any] = {"symbol": "BTC-USD", "side": "buy", "qty": "0.5",
                             "price": "100.00"}
    order.update(body)
    response = await client.post("/v1/orders", json=order, headers=user.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def send(ws: ClientConnection, **message: Any) -> None:
    await ws.send(json.dumps(message))


async def recv(ws: ClientConnection, wait_s: float = 5.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), wait_s))
    return message


async def recv_type(ws: ClientConnection, kind: str, wait_s: float = 5.0) -> dict[str, Any]:
    """Receive until a message of the type arrives (heartbeats and others are skipped)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        message = await recv(ws, max(0.01, deadline - loop.time()))
        if message["type"] == kind:
            return message


async def until(ws: ClientConnection, kind: str) -> list[dict[str, Any]]:
    """Receive messages up to and including the first of a type; return them all."""
    seen = []
    while True:
        message = await recv(ws)
        seen.append(message)
        if message["type"] == kind:
            return seen


async def drain(ws: ClientConnection, wait_s: float = 3.0) -> None:
    """Read until the connection closes (raises ConnectionClosed) or goes quiet (timeout)."""
    while True:
        await recv(ws, wait_s)


def apply(book: tuple[Book, Book], message: dict[str, Any]) -> None:
    for side, levels in zip(book, (message["bids"], message["asks"]), strict=True):
        for price, qty, _count in levels:
            if qty == "0" or set(qty) <= {"0", "."}:
                side.pop(price, None)
            else:
                side[price] = qty


async def rest_book(client: httpx.AsyncClient, symbol: str = "BTC-USD") -> tuple[Book, Book]:
    body = (await client.get(f"/v1/markets/{symbol}/book", params={"depth": 50})).json()
    return ({p: q for p, q, _ in body["bids"]}, {p: q for p, q, _ in body["asks"]})


async def test_book_when_orders_are_placed_snapshot_then_deltas_track_the_book(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    alice = await server.create_user("alice")
    bob = await server.create_user("bob")
    await place(client, alice, price="99.00")
    async with connect(f"{server.ws_url}/v1/ws") as ws:
        await send(ws, type="subscribe", channels=["book.BTC-USD"], id=1)
        ack = await recv(ws)
        snapshot = await recv(ws)
        book: tuple[Book, Book] = ({}, {})
        apply(book, snapshot)
        seq = snapshot["seq"]

        # Act
        await place(client, alice, price="98.00")
        await place(client, alice, side="sell", price="101.00", qty="0.25")
        await place(client, bob, side="sell", price="99.00", qty="0.5")  # takes the 99 bid
        for _ in range(3):
            delta = await recv_type(ws, "book_delta")
            assert delta["prev_seq"] == seq
            seq = delta["seq"]
            apply(book, delta)

    # Assert
    assert ack == {"type": "subscribed", "channels": ["book.BTC-USD"], "id": 1}
    assert snapshot["type"] == "book_snapshot"
    assert snapshot["bids"] == [["99.00", "0.5000", 1]]
    assert book == ({"98.00": "0.5000"}, {"101.00": "0.2500"})
    assert book == await rest_book(client)


async def test_book_when_a_delta_is_missed_client_sees_the_gap_and_resyncs_by_subscribing(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    alice = await server.create_user("alice")
    async with connect(f"{server.ws_url}/v1/ws") as ws:
        await send(ws, type="subscribe", channels=["book.BTC-USD"])
        await recv_type(ws, "subscribed")
        snapshot = await recv_type(ws, "book_snapshot")
        book: tuple[Book, Book] = ({}, {})
        apply(book, snapshot)
        await place(client, alice, price="97.00")
        await recv_type(ws, "book_delta")  # lost on purpose: never applied
        await place(client, alice, price="96.00")

        # Act
        delta = await recv_type(ws, "book_delta")
        gap = delta["prev_seq"] != snapshot["seq"]
        await send(ws, type="subscribe", channels=["book.BTC-USD"])  # resync
        await recv_type(ws, "subscribed")
        fresh = await recv_type(ws, "book_snapshot")
        book = ({}, {})
        apply(book, fresh)
        await place(client, alice, price="95.00")
        after = await recv_type(ws, "book_delta")
        apply(book, after)

    # Assert
    assert gap
    assert fresh["seq"] == delta["seq"]
    assert after["prev_seq"] == fresh["seq"]
    assert book == await rest_book(client)
    assert set(book[0]) == {"97.00", "96.00", "95.00"}


async def test_reconnect_when_client_subscribes_again_gets_a_current_snapshot(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")
    async with connect(f"{server.ws_url}/v1/ws") as ws:
        await send(ws, type="subscribe", channels=["book.BTC-USD"])
        first = await recv_type(ws, "book_snapshot")
    await place(client, alice, price="90.00")  # while disconnected

    async with connect(f"{server.ws_url}/v1/ws") as ws:
        await send(ws, type="subscribe", channels=["book.BTC-USD"])
        second = await recv_type(ws, "book_snapshot")

    assert second["seq"] > first["seq"]
    assert second["bids"] == [["90.00", "0.5000", 1]]


async def test_trades_ticker_candles_when_orders_cross_publish_the_trade(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    alice = await server.create_user("alice")
    bob = await server.create_user("bob")
    await place(client, alice, side="sell", price="101.50", qty="0.3")
    channels = ["trades.BTC-USD", "ticker.BTC-USD", "candles.1m.BTC-USD"]
    async with connect(f"{server.ws_url}/v1/ws") as ws:
        await send(ws, type="subscribe", channels=channels)
        await recv_type(ws, "subscribed")
        await recv_type(ws, "ticker")  # the current ticker comes first

        # Act
        await place(client, bob, side="buy", price="102.00", qty="0.2")
        trades = await recv_type(ws, "trades")
        ticker = await recv_type(ws, "ticker")
        candle = await recv_type(ws, "candle")

    # Assert
    assert [(t["price"], t["qty"], t["side"]) for t in trades["trades"]] == [
        ("101.50", "0.2000", "buy")]
    assert (ticker["last"], ticker["ask"], ticker["ask_qty"], ticker["volume"]) == (
        "101.50", "101.50", "0.1000", "0.2000")
    assert (ticker["open"], ticker["change"], ticker["change_percent"]) == (
        "101.50", "0.00", "0.00")
    assert (candle["interval"], candle["open"], candle["close"], candle["volume"]) == (
        "1m", "101.50", "101.50", "0.2000")
    rest = (await client.get("/v1/markets/BTC-USD/trades", params={"limit": 5})).json()
    assert rest["trades"] == trades["trades"]


async def test_private_channels_when_two_accounts_trade_each_sees_only_its_own(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    alice = await server.create_user("alice")
    bob = await server.create_user("bob")
    carol = await server.create_user("carol")
    token = (await client.post("/v1/auth/login", json={
        "username": "bob", "password": bob.password})).json()["access_token"]
    private = ["orders", "fills", "balances"]
    async with connect(f"{server.ws_url}/v1/ws") as wa, \
            connect(f"{server.ws_url}/v1/ws") as wb, connect(f"{server.ws_url}/v1/ws") as wc:
        await send(wa, type="auth", key_id=alice.key.key_id, secret_key=alice.key.secret)
        await send(wb, type="auth", token=token)
        await send(wc, type="auth", key_id=carol.key.key_id, secret_key=carol.key.secret)
        for ws in (wa, wb, wc):
            assert (await recv_type(ws, "authenticated"))["type"] == "authenticated"
            await send(ws, type="subscribe", channels=private)
            await recv_type(ws, "subscribed")
            await recv_type(ws, "balances")  # the snapshot

        # Act
        await place(client, alice, side="sell", price="100.00", qty="0.5", client_order_id="a1")
        await place(client, bob, side="buy", price="100.00", qty="0.5", client_order_id="b1")
        alice_seen = await until(wa, "fills")
        bob_seen = await until(wb, "fills")
        bob_seen += await until(wb, "balances")
        await send(wc, type="ping", id="p")
        carol_next = await recv(wc)

    # Assert
    alice_fills = [f for m in alice_seen if m["type"] == "fills" for f in m["fills"]]
    bob_fills = [f for m in bob_seen if m["type"] == "fills" for f in m["fills"]]
    assert [(f["client_order_id"], f["liquidity"]) for f in alice_fills] == [("a1", "maker")]
    assert [(f["client_order_id"], f["side"], f["price"], f["qty"], f["liquidity"])
            for f in bob_fills] == [("b1", "buy", "100.00", "0.5000", "taker")]
    assert [u["event"] for m in alice_seen if m["type"] == "orders" for u in m["updates"]] == [
        "accepted", "fill"]
    bob_balances = {b["asset"]: b for m in bob_seen if m["type"] == "balances"
                    for b in m["balances"]}
    assert bob_balances["BTC"]["available"] == "100.50000000"
    assert {m["channel"] for m in alice_seen + bob_seen} <= {"orders", "fills", "balances"}
    assert carol_next["type"] == "pong"  # nothing of alice's or bob's reached carol


async def test_messages_when_bad_get_precise_errors_and_the_connection_stays_open(
        server: RunningServer) -> None:
    cases: list[tuple[str, str, str | None]] = [
        ("not json", "invalid_json", None),
        (json.dumps({"type": "dance"}), "unknown_message_type", "type"),
        (json.dumps({"type": "subscribe", "channels": ["book.BTC-USD"], "x": 1}),
         "unknown_field", "x"),
        (json.dumps({"type": "subscribe"}), "invalid_message", "channels"),
        (json.dumps({"type": "subscribe", "channels": []}), "invalid_message", "channels"),
        (json.dumps({"type": "subscribe", "channels": ["book.NOPE"]}), "unknown_symbol",
         "channels[0]"),
        (json.dumps({"type": "subscribe", "channels": ["trades.BTC-USD", "weather"]}),
         "unknown_channel", "channels[1]"),
        (json.dumps({"type": "subscribe", "channels": ["candles.2m.BTC-USD"]}),
         "unknown_interval", "channels[0]"),
        (json.dumps({"type": "subscribe", "channels": ["orders"]}), "auth_required",
         "channels[0]"),
        (json.dumps({"type": "unsubscribe", "channels": ["book.BTC-USD"]}), "not_subscribed",
         "channels[0]"),
        (json.dumps({"type": "auth", "key_id": "TKNOPE", "secret_key": "x"}),
         "invalid_api_key", None),
        (json.dumps({"type": "auth", "token": "not.a.jwt"}), "invalid_token", None),
        (json.dumps({"type": "auth"}), "missing_credentials", None),
        ("x" * 20_000, "message_too_large", None),
    ]
    async with connect(f"{server.ws_url}/v1/ws") as ws:
        for raw, code, field in cases:
            await ws.send(raw)
            error = await recv_type(ws, "error")
            assert (error["code"], error.get("field")) == (code, field), raw[:80]
        await send(ws, type="subscribe", channels=["book.BTC-USD"], id=7)
        ack = await recv_type(ws, "subscribed")

    assert ack["id"] == 7  # still served after every refusal


async def test_heartbeat_when_client_stays_silent_server_pings_then_closes_it(
        server: RunningServer) -> None:
    feed = market_data(server.platform)
    feed.config = replace(feed.config, heartbeat_s=0.1, idle_timeout_s=0.6)
    async with connect(f"{server.ws_url}/v1/ws") as ws:
        ping = await recv_type(ws, "ping", wait_s=2.0)
        with pytest.raises(ConnectionClosed) as closed:
            await drain(ws)

    assert ping["ts"].endswith("Z")
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4000


class RawClient:
    """A WebSocket client written by hand so that it can truly stop reading.

    It connects with a tiny receive buffer, completes the handshake, sends masked text frames
    and reads nothing until told to; then it reads frames until the server's close frame.
    """

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10.0)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        self.sock.sendall(f"GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                          f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                          f"Sec-WebSocket-Version: 13\r\n\r\n".encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(4096)
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head

    def send_text(self, text: str) -> None:
        payload = text.encode()
        mask = secrets.token_bytes(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert len(payload) < 126
        self.sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)

    def _exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed without a close frame")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def read_until_close(self) -> tuple[int, str]:
        """Read every frame; return the close frame's code and reason."""
        while True:
            first, second = self._exactly(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._exactly(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._exactly(8))[0]
            payload = self._exactly(length)
            if first & 0x0F == 0x8:
                return struct.unpack("!H", payload[:2])[0], payload[2:].decode()

    def close(self) -> None:
        self.sock.close()


async def test_slow_client_when_it_stops_reading_is_dropped_and_others_keep_receiving(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange: a deep book, so every snapshot is large
    feed = market_data(server.platform)
    feed.config = replace(feed.config, queue_limit=32)
    alice = await server.create_user("alice")
    for i in range(50):
        await place(client, alice, price=f"{10 + i}.00", qty="0.001")
    slow = await asyncio.to_thread(RawClient, int(server.base_url.rsplit(":", 1)[1]))
    try:
        async with connect(f"{server.ws_url}/v1/ws") as ws:
            await send(ws, type="subscribe", channels=["book.BTC-USD"])
            seq = (await recv_type(ws, "book_snapshot"))["seq"]

            # Act: the slow client asks for snapshot after snapshot and never reads one,
            # while the book keeps changing for the normal client
            request = json.dumps({"type": "subscribe", "channels": ["book.BTC-USD"]})
            deltas = 0
            for i in range(6000):
                await asyncio.to_thread(slow.send_text, request)
                if i % 200 == 0 or feed.dropped:
                    cents = 6000 + deltas  # a new best bid: every order changes the view
                    await place(client, alice, price=f"{cents // 100}.{cents % 100:02d}",
                                qty="0.001")
                    delta = await recv_type(ws, "book_delta")
                    assert delta["prev_seq"] == seq  # no gap for the normal client
                    seq, deltas = delta["seq"], deltas + 1
                if feed.dropped and deltas >= 3:
                    break

            # Assert
            assert feed.dropped == 1
        code, reason = await asyncio.to_thread(slow.read_until_close)
    finally:
        slow.close()
    assert (code, reason) == (1008, "slow consumer: send queue full")


@pytest.mark.parametrize("deflate", [False, True])
async def test_compression_when_client_offers_deflate_is_used_only_if_configured(
        tmp_path: Path, deflate: bool) -> None:
    # websockets' client offers permessage-deflate, as browsers do.
    async with running_platform(tmp_path, market=False, ws_deflate=deflate) as srv, \
            connect(srv.ws_url + "/v1/ws") as ws:
        agreed = ws.response.headers.get("Sec-WebSocket-Extensions") if ws.response else None
        assert (agreed or "").startswith("permessage-deflate") is deflate
        await send(ws, type="subscribe", channels=["trades.BTC-USD"], id=1)
        assert (await recv(ws))["type"] in {"subscribed", "error"}
        # Pre-built frames go out directly only on an uncompressed connection; a compressed
        # one is left to the ASGI send, which compresses.
        (conn,) = market_data(srv.platform).connections
        written = conn._direct is not None and conn._direct(text_frame('{"type":"probe"}'))
        assert written is not deflate
        if written:
            assert (await recv(ws))["type"] == "probe"
