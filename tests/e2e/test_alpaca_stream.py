"""The Alpaca `trade_updates` stream with a raw `websockets` client: protocol and backpressure.

Authentication (key pair or bearer token; anything else is refused and closed), the
`listening` acknowledgement, binary JSON frames, isolation between accounts, an order placed
before the client listened, a refused order (`rejected`, parsed by alpaca-py), and a slow
client: its bounded queue overflows, it is dropped (closed with 1013) while a normal client
of the same account gets every event.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.kit.server import RunningServer, TestUser, running_platform
from tradehall.entrypoints.api.ws.alpaca_stream import trade_updates_of
from tradehall.kernel.errors import Rejected
from tradehall.kernel.ids import order_uuid
from tradehall.service.trading import PlaceOrder

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from alpaca.trading.models import TradeUpdate


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_platform(tmp_path) as srv:
        yield srv


async def recv(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(5):
        frame = await ws.recv()
    assert isinstance(frame, bytes), "Alpaca's trading stream sends binary frames"
    message: dict[str, Any] = json.loads(frame)
    return message


async def listen(server: RunningServer, auth: dict[str, Any]) -> ClientConnection:
    ws = await connect(f"{server.ws_url}/stream")
    await ws.send(json.dumps({"action": "authenticate", "data": auth}))
    assert (await recv(ws))["data"]["status"] == "authorized"
    await ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
    assert await recv(ws) == {"stream": "listening", "data": {"streams": ["trade_updates"]}}
    return ws


def keys(user: TestUser) -> dict[str, str]:
    return {"key_id": user.key.key_id, "secret_key": user.key.secret}


async def place(server: RunningServer, user: TestUser, price: str = "100") -> str:
    outcome = await server.platform.trading.place_order(user.user.account, PlaceOrder(
        symbol="BTC-USD", side="buy", qty="0.1", price=price))
    return order_uuid(outcome.order_id)


@pytest.mark.parametrize("auth", [
    {"key_id": "TKNOPE", "secret_key": "nope"}, {"oauth_token": "bad"}, {}, "text"])
async def test_stream_when_credentials_are_wrong_answers_unauthorized_and_closes(
        server: RunningServer, auth: Any) -> None:
    async with connect(f"{server.ws_url}/stream") as ws:
        await ws.send(json.dumps({"action": "authenticate", "data": auth}))

        reply = await recv(ws)

        assert reply["stream"] == "authorization"
        assert reply["data"]["status"] == "unauthorized"
        with pytest.raises(ConnectionClosed) as closed:
            await recv(ws)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008


async def test_stream_when_token_authenticates_sends_own_orders_only(
        server: RunningServer) -> None:
    # Arrange
    alice = await server.create_user("alice")
    bob = await server.create_user("bobby")
    token = server.platform.auth.issue_token(await server.platform.auth.authenticate_api_key(
        alice.key.key_id, alice.key.secret))
    alice_ws = await listen(server, {"oauth_token": token})
    bob_ws = await listen(server, keys(bob))
    try:
        # Act
        order_id = await place(server, alice)
        update = await recv(alice_ws)

        # Assert
        assert update["stream"] == "trade_updates"
        assert (update["data"]["event"], update["data"]["order"]["id"]) == ("new", order_id)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await bob_ws.recv()
    finally:
        await alice_ws.close()
        await bob_ws.close()


async def test_stream_when_order_predates_listener_tracks_it_from_read_model(
        server: RunningServer) -> None:
    alice = await server.create_user("alice")
    order_id = await place(server, alice)
    ws = await listen(server, keys(alice))
    try:
        await server.platform.trading.cancel_all(alice.user.account)

        update = await recv(ws)

        assert update["data"]["event"] == "canceled"
        assert update["data"]["order"]["id"] == order_id
        assert update["data"]["order"]["qty"] == "0.1000"
    finally:
        await ws.close()


async def test_stream_when_listen_is_emptied_stops_sending(server: RunningServer) -> None:
    alice = await server.create_user("alice")
    ws = await listen(server, keys(alice))
    try:
        await ws.send(json.dumps({"action": "listen", "data": {"streams": []}}))
        assert await recv(ws) == {"stream": "listening", "data": {"streams": []}}

        await place(server, alice)

        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await ws.recv()
    finally:
        await ws.close()


async def test_stream_when_client_is_slow_drops_it_and_serves_the_others(
        server: RunningServer) -> None:
    # Arrange: a client whose queue is never drained, next to a real connection.
    alice = await server.create_user("alice")
    hub = trade_updates_of(server.platform)
    stuck = hub.add(alice.user.account, asyncio.Queue(3))
    ws = await listen(server, keys(alice))
    try:
        # Act
        ids = [await place(server, alice, price=str(100 + i)) for i in range(6)]
        received = [(await recv(ws))["data"]["order"]["id"] for _ in ids]

        # Assert
        assert received == ids
        assert stuck.dropped
        assert stuck.queue.qsize() == 1
        assert stuck.queue.get_nowait() == 1013
        assert server.platform.engine.is_ready()
    finally:
        hub.remove(stuck)
        await ws.close()


async def test_stream_when_dropped_closes_the_socket_with_1013(server: RunningServer) -> None:
    alice = await server.create_user("alice")
    hub = trade_updates_of(server.platform)
    ws = await listen(server, keys(alice))
    clients = hub.clients(alice.user.account)

    clients[0].close()

    with pytest.raises(ConnectionClosed) as closed:
        await recv(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1013
    await asyncio.sleep(0.05)
    assert hub.listeners(alice.user.account) == 0


async def test_stream_when_order_is_refused_sends_rejected_that_alpaca_py_parses(
        server: RunningServer) -> None:
    poor = await server.create_user("poor", deposits={"USD": "1"})
    ws = await listen(server, keys(poor))
    try:
        with pytest.raises(Rejected):
            await place(server, poor)

        update = await recv(ws)
    finally:
        await ws.close()

    assert (update["data"]["event"], update["data"]["reason"]) == ("rejected",
                                                                  "insufficient_funds")
    parsed = TradeUpdate(**update["data"])
    assert parsed.order.status.value == "rejected"
    assert parsed.order.symbol == "BTC/USD"
