"""The native WebSocket protocol (`/v1/ws`): every message, both directions, as tagged structs.

Messages are JSON objects tagged by `type` (msgspec tagged unions, so decoding validates and
dispatches in one step). Client messages forbid unknown fields: a typo gets an error naming
the field instead of being ignored. Numbers leave as decimal strings, times as RFC 3339 UTC
text with nanoseconds; book levels are `[price, qty, orders]` triples. The full protocol is
described in `docs/api-marketdata.md`. Pure data and the channel-name grammar; no I/O.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from tradehall.marketdata.candles import INTERVALS

RequestId = int | str | None
PUBLIC_KINDS = ("book", "trades", "ticker")
PRIVATE_CHANNELS = ("orders", "fills", "balances")

# -- Client -> server -------------------------------------------------------------------------


class _In(msgspec.Struct, frozen=True, kw_only=True, tag_field="type",
          forbid_unknown_fields=True):
    id: RequestId = None  # echoed in the answer, for the client's bookkeeping


class Subscribe(_In, tag="subscribe", frozen=True, kw_only=True):
    channels: list[str]


class Unsubscribe(_In, tag="unsubscribe", frozen=True, kw_only=True):
    channels: list[str]


class Auth(_In, tag="auth", frozen=True, kw_only=True):
    """API key id and secret, or a bearer token from `POST /v1/auth/login`."""

    key_id: str | None = None
    secret_key: str | None = None
    token: str | None = None


class ClientPing(_In, tag="ping", frozen=True, kw_only=True):
    pass


class ClientPong(_In, tag="pong", frozen=True, kw_only=True):
    """The answer to a server heartbeat (any message counts as a sign of life)."""


ClientMessage = Subscribe | Unsubscribe | Auth | ClientPing | ClientPong

# -- Server -> client -------------------------------------------------------------------------


class _Out(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", omit_defaults=True):
    pass


class Subscribed(_Out, tag="subscribed", frozen=True, kw_only=True):
    channels: list[str]
    id: RequestId = None


class Unsubscribed(_Out, tag="unsubscribed", frozen=True, kw_only=True):
    channels: list[str]
    id: RequestId = None


class Authenticated(_Out, tag="authenticated", frozen=True, kw_only=True):
    user_id: str
    username: str
    account_id: str
    id: RequestId = None


class Error(_Out, tag="error", frozen=True, kw_only=True):
    """The same fields as the REST error body, plus the request id when one was given."""

    code: str
    message: str
    field: str | None = None
    id: RequestId = None


class Pong(_Out, tag="pong", frozen=True, kw_only=True):
    ts: str
    id: RequestId = None


class Heartbeat(_Out, tag="ping", frozen=True, kw_only=True):
    """A server ping; answer with `{"type": "pong"}` (or anything) before the idle timeout."""

    ts: str


Level = tuple[str, str, int]  # price, quantity, number of orders


class BookSnapshot(_Out, tag="book_snapshot", frozen=True, kw_only=True):
    channel: str
    symbol: str
    seq: int
    ts: str
    bids: list[Level]
    asks: list[Level]


class BookDelta(_Out, tag="book_delta", frozen=True, kw_only=True):
    """Changed levels; quantity "0" removes a level. Apply only when `prev_seq` is yours."""

    channel: str
    symbol: str
    seq: int
    prev_seq: int
    ts: str
    bids: list[Level]
    asks: list[Level]


class TradeOut(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    price: str
    qty: str
    side: Literal["buy", "sell"]  # the taker's side
    ts: str


class Trades(_Out, tag="trades", frozen=True, kw_only=True):
    channel: str
    symbol: str
    trades: list[TradeOut]


class TickerOut(_Out, tag="ticker", frozen=True, kw_only=True):
    channel: str
    symbol: str
    last: str | None
    last_qty: str | None
    bid: str | None
    bid_qty: str | None
    ask: str | None
    ask_qty: str | None
    open: str | None
    high: str | None
    low: str | None
    volume: str
    change: str | None
    change_percent: str | None
    trades: int
    ts: str


class CandleOut(_Out, tag="candle", frozen=True, kw_only=True):
    channel: str
    symbol: str
    interval: str
    start: str
    open: str
    high: str
    low: str
    close: str
    volume: str
    trades: int


class OrderUpdate(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One event of one of the account's orders; fields that do not apply are left out."""

    event: str  # accepted, partial_fill, fill, canceled, expired, replaced, triggered, rejected
    order_id: str | None = None
    client_order_id: str
    symbol: str
    side: str | None = None
    order_type: str | None = None
    time_in_force: str | None = None
    qty: str | None = None
    price: str | None = None
    stop_price: str | None = None
    fill_price: str | None = None
    fill_qty: str | None = None
    leaves_qty: str | None = None
    reason: str | None = None
    message: str | None = None
    ts: str
    seq: int


class Orders(_Out, tag="orders", frozen=True, kw_only=True):
    channel: str
    updates: list[OrderUpdate]


class FillOut(msgspec.Struct, frozen=True, kw_only=True):
    trade_id: int
    order_id: str
    client_order_id: str
    symbol: str
    side: str
    price: str
    qty: str
    notional: str
    fee: str
    fee_asset: str
    liquidity: Literal["maker", "taker"]
    leaves_qty: str
    ts: str
    seq: int


class Fills(_Out, tag="fills", frozen=True, kw_only=True):
    channel: str
    fills: list[FillOut]


class BalanceOut(msgspec.Struct, frozen=True, kw_only=True):
    asset: str
    available: str
    held: str
    seq: int


class Balances(_Out, tag="balances", frozen=True, kw_only=True):
    channel: str
    snapshot: bool = False
    balances: list[BalanceOut]


ServerMessage = (
    Subscribed | Unsubscribed | Authenticated | Error | Pong | Heartbeat | BookSnapshot
    | BookDelta | Trades | TickerOut | CandleOut | Orders | Fills | Balances
)

decoder = msgspec.json.Decoder(ClientMessage)
encoder = msgspec.json.Encoder()


def encode(message: ServerMessage) -> str:
    """Serialize a server message once; the text is shared by every recipient."""
    return encoder.encode(message).decode()


# -- Channel names ------------------------------------------------------------------------------


class ChannelError(ValueError):
    """A channel name that does not parse; `code` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Channel(msgspec.Struct, frozen=True):
    """A parsed channel: kind (book, trades, ticker, candles, orders, fills, balances)."""

    name: str
    kind: str
    symbol: str | None = None
    interval_s: int | None = None

    @property
    def private(self) -> bool:
        return self.symbol is None


def parse_channel(name: str) -> Channel:
    """Parse `book.<symbol>`, `trades.<symbol>`, `ticker.<symbol>`,
    `candles.<interval>.<symbol>`, `orders`, `fills` or `balances` (symbol not checked)."""
    if name in PRIVATE_CHANNELS:
        return Channel(name, name)
    kind, _, rest = name.partition(".")
    if kind in PUBLIC_KINDS and rest:
        return Channel(name, kind, rest)
    if kind == "candles":
        interval, _, symbol = rest.partition(".")
        if interval not in INTERVALS:
            raise ChannelError("unknown_interval",
                               f"{name}: the interval must be one of {', '.join(INTERVALS)}")
        if symbol:
            return Channel(name, kind, symbol, INTERVALS[interval])
    raise ChannelError("unknown_channel",
                       f"{name!r} is not a channel: use book.<symbol>, trades.<symbol>, "
                       "ticker.<symbol>, candles.<interval>.<symbol>, orders, fills or balances")
