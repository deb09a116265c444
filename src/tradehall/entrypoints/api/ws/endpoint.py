"""The `/v1/ws` endpoint: one receive loop per client, dispatching its messages.

Bad client messages (not JSON, unknown `type`, unknown fields, unknown channels or symbols,
private channels before `auth`) get an `error` message with a precise code and the request's
`id`; the connection stays open and nothing changes. Subscribing is stateless and idempotent:
every `subscribe` answers `subscribed` followed by the channel's current state (a book
snapshot, the ticker, the open candle, or the balances), so a client that reconnects, or that
found a gap in a book's seq, simply subscribes again. Credentials go to `service/auth.py`
untouched, through the gateway's functions (`deps.py`) like REST; headers at the handshake
work as for REST. Every connection is tracked by the revocation guard (`revocation.py`), which
closes it with 4001 when the session or key it authenticated with is revoked.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import msgspec
from fastapi import APIRouter, WebSocket
from starlette.datastructures import Headers

from tradehall.entrypoints.api.deps import (
    authenticate,
    authenticate_bearer,
    authenticate_key_pair,
    request_context,
)
from tradehall.entrypoints.api.ws import protocol as p
from tradehall.entrypoints.api.ws.connection import CLOSE_REVOKED, Connection
from tradehall.entrypoints.api.ws.feed import MarketDataFeed, market_data
from tradehall.entrypoints.api.ws.render import timestamp
from tradehall.entrypoints.api.ws.revocation import REVOKED_REASON, revocation_guard
from tradehall.entrypoints.api.ws.server_protocol import DIRECT_SEND
from tradehall.identity.context import RequestContext
from tradehall.kernel.errors import InvalidInput, NotFound, TradehallError, Unauthorized
from tradehall.kernel.ids import account_uuid
from tradehall.service.auth import Principal

if TYPE_CHECKING:
    from tradehall.bootstrap import Platform

router = APIRouter(tags=["websocket"])


class _BadMessage(Exception):
    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


@router.websocket("/v1/ws")
async def stream(websocket: WebSocket) -> None:
    """Market data and private updates (protocol in docs/api-marketdata.md)."""
    platform: Platform = websocket.app.state.platform
    feed = market_data(platform)
    await websocket.accept()
    conn = Connection(websocket.send, feed.config, asyncio.get_running_loop().time(),
                      direct=(websocket.scope.get("extensions") or {}).get(DIRECT_SEND))
    session = _Session(platform, feed, conn, request_context(websocket))
    guard = revocation_guard(platform)
    guard.track(session)
    feed.register(conn)
    conn.start()
    receiver = asyncio.create_task(_receive(websocket, session, conn))
    conn.on_abandon = receiver.cancel
    try:
        await receiver
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # the server is stopping; only an abandoned session ends quietly
    finally:
        guard.untrack(session)
        feed.unregister(conn)
        await conn.finish()


async def _receive(websocket: WebSocket, session: _Session, conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    await session.handshake_auth(websocket.headers)
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        conn.last_seen = loop.time()
        raw = message.get("text")
        if raw is None:
            raw = message.get("bytes") or b""
        await session.handle(raw)


class _Session:
    """The state of one connection's conversation."""

    def __init__(self, platform: Platform, feed: MarketDataFeed, conn: Connection,
                 ctx: RequestContext) -> None:
        self.platform = platform
        self.feed = feed
        self.conn = conn
        self.ctx = ctx

    def send(self, message: p.ServerMessage) -> None:
        if not self.conn.push(p.encode(message)):
            self.feed.on_dropped(self.conn)

    @property
    def principal(self) -> Principal | None:
        return self.conn.principal

    def close_revoked(self) -> None:
        self.feed.unregister(self.conn)  # needs the principal: private channels are per account
        self.conn.principal = None  # so nothing private is subscribed again before it closes
        self.conn.drop(CLOSE_REVOKED, REVOKED_REASON)

    async def handshake_auth(self, headers: Headers) -> None:
        names = {"apca-api-key-id", "apca-api-secret-key", "authorization"}
        if not names & set(headers.keys()):
            return
        try:
            self.conn.principal = await authenticate(self.platform, headers, self.ctx)
        except TradehallError as exc:
            self.send(p.Error(code=exc.code, message=exc.message))

    async def handle(self, raw: str | bytes) -> None:
        request_id: p.RequestId = None
        try:
            if len(raw) > self.conn.config.max_message_bytes:
                raise _BadMessage("message_too_large", f"messages are limited to "
                                  f"{self.conn.config.max_message_bytes} bytes")
            message = _decode(raw)
            request_id = message.id
            await self._dispatch(message)
        except _BadMessage as exc:
            self.send(p.Error(code=exc.code, message=exc.message, field=exc.field,
                              id=request_id))
        except TradehallError as exc:
            field = exc.field if isinstance(exc, InvalidInput) else None
            self.send(p.Error(code=exc.code, message=exc.message, field=field, id=request_id))

    async def _dispatch(self, message: p.ClientMessage) -> None:
        if isinstance(message, p.Subscribe):
            await self._subscribe(message)
        elif isinstance(message, p.Unsubscribe):
            self._unsubscribe(message)
        elif isinstance(message, p.Auth):
            await self._auth(message)
        elif isinstance(message, p.ClientPing):
            self.send(p.Pong(ts=timestamp(self.platform.clock.now_ns()), id=message.id))
        # A pong only proves the client is alive; receiving it already did that.

    def _parse(self, names: list[str]) -> list[p.Channel]:
        if not names:
            raise _BadMessage("invalid_message", "channels must not be empty", "channels")
        channels = []
        for i, name in enumerate(names):
            field = f"channels[{i}]"
            try:
                channel = p.parse_channel(name)
            except p.ChannelError as exc:
                raise _BadMessage(exc.code, exc.message, field) from None
            if channel.private:
                if self.conn.principal is None:
                    raise _BadMessage("auth_required", f"{name} is private: send "
                                      '{"type": "auth", ...} first', field)
            else:
                try:
                    self.platform.refdata.instrument(channel.symbol or "")
                except NotFound as exc:
                    raise _BadMessage("unknown_symbol", f"{name}: {exc.message}", field) from None
            channels.append(channel)
        return channels

    async def _subscribe(self, message: p.Subscribe) -> None:
        channels = self._parse(message.channels)
        limit = self.conn.config.max_channels
        if len(self.conn.channels | {c.name for c in channels}) > limit:
            raise _BadMessage("too_many_channels",
                              f"a connection may hold at most {limit} subscriptions", "channels")
        for channel in channels:
            self.feed.add(self.conn, channel)
        self.send(p.Subscribed(channels=[c.name for c in channels], id=message.id))
        for channel in channels:
            if channel.name == "balances":
                await self._balances_snapshot()
                continue
            snapshot = None if channel.private else self.feed.snapshot(channel)
            if snapshot is not None:
                self.send(snapshot)

    async def _balances_snapshot(self) -> None:
        principal = self.conn.principal
        assert principal is not None
        read_model = self.platform.read_model
        await read_model.wait_for(self.feed.hub.last_seq)
        records = await read_model.balances(principal.account)
        refdata = self.platform.refdata
        balances = [p.BalanceOut(asset=r.asset, available=refdata.format_amount(r.asset,
                                                                                r.available),
                                 held=refdata.format_amount(r.asset, r.held), seq=r.seq)
                    for r in records]
        self.send(p.Balances(channel="balances", snapshot=True, balances=balances))

    def _unsubscribe(self, message: p.Unsubscribe) -> None:
        if not message.channels:
            raise _BadMessage("invalid_message", "channels must not be empty", "channels")
        for i, name in enumerate(message.channels):
            if name not in self.conn.channels:
                raise _BadMessage("not_subscribed", f"not subscribed to {name!r}",
                                  f"channels[{i}]")
        for name in message.channels:
            self.feed.remove(self.conn, name)
        self.send(p.Unsubscribed(channels=message.channels, id=message.id))

    async def _auth(self, message: p.Auth) -> None:
        if message.token is not None:
            if message.key_id is not None or message.secret_key is not None:
                raise _BadMessage("invalid_message", "send a token or a key pair, not both")
            principal = await authenticate_bearer(self.platform, message.token, self.ctx)
        elif message.key_id is not None and message.secret_key is not None:
            principal = await authenticate_key_pair(self.platform, message.key_id,
                                                    message.secret_key, self.ctx)
        else:
            raise Unauthorized("send key_id and secret_key, or token", code="missing_credentials")
        current = self.conn.principal
        if current is not None and current.account != principal.account:
            raise _BadMessage("already_authenticated",
                              "this connection is authenticated as another user; reconnect")
        self.conn.principal = principal
        self.send(p.Authenticated(user_id=principal.user_id, username=principal.username,
                                  account_id=account_uuid(principal.account), id=message.id))


def _decode(raw: str | bytes) -> p.ClientMessage:
    try:
        message: p.ClientMessage = p.decoder.decode(raw)
    except msgspec.ValidationError as exc:
        text = str(exc)
        field = text.rpartition("at `$.")[2].rstrip("`") if "at `$." in text else None
        if field == "type" or text.startswith("Object missing required field `type`"):
            raise _BadMessage("unknown_message_type", "type must be one of subscribe, "
                              "unsubscribe, auth, ping, pong", "type") from None
        if "unknown field `" in text:
            name = text.partition("unknown field `")[2].partition("`")[0]
            raise _BadMessage("unknown_field", text, name) from None
        if "missing required field `" in text:
            field = text.partition("field `")[2].partition("`")[0]
        raise _BadMessage("invalid_message", text, field) from None
    except msgspec.DecodeError:
        raise _BadMessage("invalid_json", "the message is not a JSON object") from None
    return message
