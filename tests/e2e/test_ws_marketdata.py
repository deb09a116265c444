"""The `/v1/ws` WebSocket end to end: real uvicorn on loopback, real `websockets` clients.

Book snapshot then deltas that track orders placed through the REST API, gap detection and
resync by subscribing again, trades/ticker/candles, private channels isolated per account,
heartbeats, errors for bad messages, and a slow client dropped while a normal one keeps up.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.kit.server import RunningServer, TestUser, running_platform

Book = dict[str, str]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_platform(tmp_path) as srv:
        yield srv


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url) as c:
        yield c


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
