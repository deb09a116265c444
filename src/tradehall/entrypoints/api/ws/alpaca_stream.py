"""Alpaca's `trade_updates` stream at `/stream`: authenticate, listen, then order events.

`AlpacaTradeUpdates` is a platform component fed by its own `EventBus` subscription. For every
account with at least one listening client it folds the engine events of each batch into the
orders' state (`alpaca_mapping.apply_event`) and turns them into Alpaca events: `new`, `fill`,
`partial_fill`, `canceled`, `expired`, `replaced` (an amend, same order id) and `rejected`. Each
event is serialized once and the same bytes go to every client of the account, as binary
frames of JSON like Alpaca's paper stream. Every client has a bounded queue: a client that
falls behind is dropped (closed with 1013), never waited for, so the engine and other clients
never feel it. It also keeps the last trade price per symbol for positions. An order accepted
before its account had a listener is read once from the read model on its first event. A
connection whose key or session is revoked is closed with 4001 (`ws/revocation.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import TYPE_CHECKING, Any

import msgspec
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from tradehall.entrypoints.api.deps import (
    authenticate_bearer,
    authenticate_key_pair,
    request_context,
)
from tradehall.entrypoints.api.routers import alpaca_mapping as m
from tradehall.entrypoints.api.ws.connection import CLOSE_REVOKED
from tradehall.entrypoints.api.ws.revocation import WsRevocationGuard, revocation_guard
from tradehall.identity.context import RequestContext
from tradehall.kernel.errors import TradehallError
from tradehall.kernel.ids import AccountId, OrderId, Symbol, order_uuid
from tradehall.service.auth import Principal
from tradehall.service.messages import CommandResult, EventBatch
from tradehall.service.ports import OrderRecord, Subscription
from tradehall.trading import events as e
from tradehall.trading.instrument import Instrument

if TYPE_CHECKING:
    from tradehall.bootstrap import Platform

_log = logging.getLogger(__name__)
router = APIRouter(tags=["alpaca: streaming"])
QUEUE_FRAMES = 1024
AUTH_TIMEOUT_S = 10.0
MAX_MESSAGE_BYTES = 4096
STREAM = "trade_updates"
_CLOSE_SLOW = 1013
_CLOSE_GOING_AWAY = 1001
_CLOSE_POLICY = 1008
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class _Client:
    """One connection's outbound queue; an int in it means: close now with that code."""

    def __init__(self, account: AccountId, queue: asyncio.Queue[bytes | int]) -> None:
        self.account = account
        self.queue = queue
        self.dropped = False

    def offer(self, frame: bytes) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.close()

    def close(self, code: int = _CLOSE_SLOW) -> None:
        self.dropped = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(code)


class _Revocable:
    """A connection as the revocation guard sees it."""

    def __init__(self, principal: Principal, outbound: asyncio.Queue[bytes | int]) -> None:
        self.principal = principal
        self._client = _Client(principal.account, outbound)

    def close_revoked(self) -> None:
        self._client.close(CLOSE_REVOKED)


class AlpacaTradeUpdates:
    """The component behind `/stream`: order events per listening account, last prices."""

    def __init__(self, queue_frames: int = QUEUE_FRAMES) -> None:
        self.queue_frames = queue_frames
        self._platform: Platform | None = None
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._clients: dict[AccountId, set[_Client]] = {}
        self._orders: dict[OrderId, OrderRecord] = {}
        self._last_price: dict[Symbol, int] = {}

    # -- Component lifecycle ----------------------------------------------------------------

    async def attach(self, platform: Platform) -> None:
        self.open(platform)

    def open(self, platform: Platform) -> None:
        """Subscribe to the bus and start the feed task (on the running loop)."""
        self._platform = platform
        self._sub = platform.bus.subscribe("alpaca-trade-updates")
        self._task = asyncio.create_task(self._run(self._sub), name="alpaca-trade-updates")

    async def start(self, platform: Platform) -> None:
        return None

    async def stop(self) -> None:
        for clients in self._clients.values():
            for client in clients:
                client.close(_CLOSE_GOING_AWAY)
        if self._sub is not None:
            self._sub.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # -- Queries ----------------------------------------------------------------------------

    def last_price(self, symbol: Symbol) -> int | None:
        """The last trade price (ticks) seen since start, if any."""
        return self._last_price.get(symbol)

    def listeners(self, account: AccountId) -> int:
        return len(self._clients.get(account, ()))

    def clients(self, account: AccountId) -> list[_Client]:
        return list(self._clients.get(account, ()))

    # -- Clients ----------------------------------------------------------------------------

    def add(self, account: AccountId, queue: asyncio.Queue[bytes | int]) -> _Client:
        client = _Client(account, queue)
        self._clients.setdefault(account, set()).add(client)
        return client

    def remove(self, client: _Client) -> None:
        clients = self._clients.get(client.account)
        if clients is None:
            return
        clients.discard(client)
        if not clients:
            del self._clients[client.account]
            for oid in [k for k, r in self._orders.items() if r.account == client.account]:
                del self._orders[oid]

    # -- The feed ---------------------------------------------------------------------------

    async def _run(self, sub: Subscription) -> None:
        async for batch in sub:
            try:
                await self.apply(batch)
            except Exception:
                # A bug here must not end the stream for everyone; it is logged loudly.
                _log.exception("trade_updates failed on batch %d", batch.last_seq)

    async def apply(self, batch: EventBatch) -> None:
        """Take in one batch: last prices, then the events of listening accounts."""
        for result in batch.results:
            for ev in result.events:
                if isinstance(ev, e.Trade) and not ev.off_book:
                    self._last_price[ev.symbol] = ev.price
            if self._clients:
                await self._result(result)

    async def _result(self, result: CommandResult) -> None:
        for ev in result.events:
            if isinstance(ev, e.Trade):
                for oid, account in ((ev.taker_order_id, ev.taker_account),
                                     (ev.maker_order_id, ev.maker_account)):
                    if account in self._clients:
                        await self._order_event(result, ev, oid, account)
            elif isinstance(ev, e.OrderRejected):
                if ev.account in self._clients:
                    self._send_rejected(result, ev)
            elif isinstance(ev, e.OrderAccepted | e.OrderCanceled | e.OrderExpired
                            | e.OrderAmended) and ev.account in self._clients:
                await self._order_event(result, ev, ev.order_id, ev.account)

    async def _order_event(self, result: CommandResult, ev: e.EngineEvent, oid: OrderId,
                           account: AccountId) -> None:
        if isinstance(ev, e.OrderAccepted):
            rec: OrderRecord | None = m.order_from_accepted(ev, result.seq, result.ts_ns)
        else:
            rec = self._orders.get(oid)
            rec = (await self._fetch(oid, result.seq) if rec is None
                   else m.apply_event(rec, ev, result.seq, result.ts_ns))
        if rec is None or rec.account != account:
            return
        if rec.status in m.OPEN_STATUSES:
            self._orders[oid] = rec
        else:
            self._orders.pop(oid, None)
        self._send(account, _event_name(ev, rec), rec, result, ev)

    async def _fetch(self, oid: OrderId, seq: int) -> OrderRecord | None:
        platform = self._platform
        if platform is None:
            return None
        await platform.read_model.wait_for(seq)
        return await platform.read_model.get_order(order_uuid(oid))

    def _send(self, account: AccountId, event: str, rec: OrderRecord, result: CommandResult,
              ev: e.EngineEvent) -> None:
        platform = self._platform
        assert platform is not None
        inst = platform.refdata.instrument(rec.symbol)
        data: dict[str, Any] = {"event": event, "timestamp": m.timestamp(result.ts_ns),
                                "order": m.render_order(inst, rec).model_dump(mode="json")}
        if isinstance(ev, e.Trade):
            side = "t" if ev.taker_order_id == rec.order_id else "m"
            data["execution_id"] = str(uuid.uuid5(uuid.NAMESPACE_OID,
                                                    f"tradehall:{ev.trade_id}:{side}"))
            data["price"] = inst.format_price(ev.price)
            data["qty"] = inst.format_qty(ev.qty)
            position = _position_after(result, account, rec.symbol)
            if position is not None:
                data["position_qty"] = _signed_qty(inst, position)
        self._broadcast(account, {"stream": STREAM, "data": data})

    def _send_rejected(self, result: CommandResult, ev: e.OrderRejected) -> None:
        platform = self._platform
        assert platform is not None
        inst = platform.refdata.instruments.get(ev.symbol)
        order = m.render_rejected(ev, result.seq, result.ts_ns, inst)
        self._broadcast(ev.account, {"stream": STREAM, "data": {
            "event": "rejected", "timestamp": m.timestamp(result.ts_ns),
            "order": order.model_dump(mode="json"), "reason": ev.reason,
            "message": ev.message}})

    def _broadcast(self, account: AccountId, message: dict[str, Any]) -> None:
        frame = _encode(message)  # one serialization per event, whatever the client count
        for client in list(self._clients.get(account, ())):
            client.offer(frame)


def _event_name(ev: e.EngineEvent, rec: OrderRecord) -> str:
    if isinstance(ev, e.OrderAccepted):
        return "new"
    if isinstance(ev, e.Trade):
        return "fill" if rec.status == "filled" else "partial_fill"
    if isinstance(ev, e.OrderCanceled):
        return "canceled"
    if isinstance(ev, e.OrderExpired):
        return "expired"
    return "replaced"


def _position_after(result: CommandResult, account: AccountId, symbol: Symbol) -> int | None:
    found = None
    for ev in result.events:
        if isinstance(ev, e.PositionChanged) and ev.account == account and ev.symbol == symbol:
            found = ev.net_qty
    return found


def _signed_qty(inst: Instrument, lots: int) -> str:
    text = inst.format_qty(abs(lots))
    return f"-{text}" if lots < 0 else text


def trade_updates_of(platform: Platform) -> AlpacaTradeUpdates:
    """The platform's stream component, attached on first use when bootstrap has none."""
    return platform.component(AlpacaTradeUpdates)


# -- The WebSocket endpoint -----------------------------------------------------------------


def _frame(stream: str, data: dict[str, Any]) -> bytes:
    return _encode({"stream": stream, "data": data})


async def _receive(ws: WebSocket) -> dict[str, Any] | None:
    """The next client message as a dict; None for anything that is not a JSON object."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    raw = message.get("bytes") or (message.get("text") or "").encode()
    if len(raw) > MAX_MESSAGE_BYTES:
        return None
    try:
        value = _decode(raw)
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, dict) else None


async def _authenticate(platform: Platform, message: dict[str, Any] | None,
                        ctx: RequestContext) -> Principal | None:
    if message is None or message.get("action") not in ("authenticate", "auth"):
        return None
    data = message.get("data")
    if not isinstance(data, dict):
        return None
    key_id, secret, token = data.get("key_id"), data.get("secret_key"), data.get("oauth_token")
    try:
        if isinstance(key_id, str) and isinstance(secret, str):
            return await authenticate_key_pair(platform, key_id, secret, ctx)
        if isinstance(token, str):
            return await authenticate_bearer(platform, token, ctx)
    except TradehallError:
        return None
    return None


@router.websocket("/stream")
async def trade_updates(ws: WebSocket) -> None:
    """Alpaca's trading stream: authenticate, then `listen` to `trade_updates`."""
    platform: Platform = ws.app.state.platform
    await ws.accept()
    try:
        first = await asyncio.wait_for(_receive(ws), AUTH_TIMEOUT_S)
        principal = await _authenticate(platform, first, request_context(ws))
    except (TimeoutError, WebSocketDisconnect):
        with contextlib.suppress(Exception):
            await ws.close(_CLOSE_POLICY)
        return
    if principal is None:
        await ws.send_bytes(_frame("authorization", {
            "status": "unauthorized", "action": "authenticate",
            "message": "send {\"action\": \"authenticate\", \"data\": {\"key_id\": ..., "
                       "\"secret_key\": ...}} with a valid key pair"}))
        await ws.close(_CLOSE_POLICY)
        return
    await ws.send_bytes(_frame("authorization", {"status": "authorized",
                                                 "action": "authenticate"}))
    await _serve(ws, trade_updates_of(platform), principal, revocation_guard(platform))


async def _serve(ws: WebSocket, hub: AlpacaTradeUpdates, principal: Principal,
                 guard: WsRevocationGuard) -> None:
    outbound: asyncio.Queue[bytes | int] = asyncio.Queue(hub.queue_frames)
    listening: list[_Client] = []
    revocable = _Revocable(principal, outbound)
    guard.track(revocable)
    sender = asyncio.create_task(_send_loop(ws, outbound))
    receiver = asyncio.create_task(_receive_loop(ws, hub, principal, outbound, listening))
    try:
        await asyncio.wait((sender, receiver), return_when=asyncio.FIRST_COMPLETED)
    finally:
        guard.untrack(revocable)
        for client in listening:
            hub.remove(client)
        for task in (sender, receiver):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                await task


async def _receive_loop(ws: WebSocket, hub: AlpacaTradeUpdates, principal: Principal,
                        outbound: asyncio.Queue[bytes | int],
                        listening: list[_Client]) -> None:
    while True:
        streams = _listen_streams(await _receive(ws))
        if streams is None:
            continue
        if STREAM in streams and not listening:
            listening.append(hub.add(principal.account, outbound))
        elif STREAM not in streams and listening:
            hub.remove(listening.pop())
        ack = _frame("listening", {"streams": [STREAM] if listening else []})
        with contextlib.suppress(asyncio.QueueFull):
            outbound.put_nowait(ack)


def _listen_streams(message: dict[str, Any] | None) -> list[str] | None:
    if message is None or message.get("action") != "listen":
        return None
    data = message.get("data")
    streams = data.get("streams") if isinstance(data, dict) else None
    if not isinstance(streams, list):
        return None
    return [x for x in streams if isinstance(x, str)]


async def _send_loop(ws: WebSocket, outbound: asyncio.Queue[bytes | int]) -> None:
    while True:
        frame = await outbound.get()
        if isinstance(frame, int):
            await ws.close(frame)
            return
        await ws.send_bytes(frame)
