"""Helpers for the alpaca-py end-to-end tests: a typed wrapper, users, a stream listener.

alpaca-py's methods return `Model | RawData`; `Alpaca` narrows them (the client is never in raw
mode here) so the tests stay typed. `StreamListener` runs `TradingStream` on its own thread,
as an application would, and waits until the server has it listening.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from tests.kit.server import TestUser, ThreadedServer
from tradehall.entrypoints.api.ws.alpaca_stream import trade_updates_of

with warnings.catch_warnings():
    # alpaca-py's stream is built on websockets' legacy client, which warns on import.
    warnings.simplefilter("ignore", DeprecationWarning)
    from alpaca.common.exceptions import APIError
    from alpaca.trading.client import TradingClient
    from alpaca.trading.models import (
        Asset,
        ClosePositionResponse,
        Order,
        Position,
        TradeAccount,
        TradeUpdate,
    )
    from alpaca.trading.requests import (
        CancelOrderResponse,
        ClosePositionRequest,
        GetOrdersRequest,
        OrderRequest,
        ReplaceOrderRequest,
    )
    from alpaca.trading.stream import TradingStream

__all__ = ["APIError", "Alpaca", "StreamListener", "make_user"]

T = TypeVar("T")
_names = itertools.count(1)


def _typed(kind: type[T], value: object) -> T:
    assert isinstance(value, kind), value
    return value


def _typed_list(kind: type[T], value: object) -> list[T]:
    assert isinstance(value, list)
    return [_typed(kind, v) for v in value]


class Alpaca:
    """alpaca-py's TradingClient with its answers narrowed to the models."""

    def __init__(self, client: TradingClient) -> None:
        self.client = client

    def submit_order(self, request: OrderRequest) -> Order:
        return _typed(Order, self.client.submit_order(request))

    def get_orders(self, request: GetOrdersRequest | None = None) -> list[Order]:
        return _typed_list(Order, self.client.get_orders(request))

    def get_order_by_id(self, order_id: Any) -> Order:
        return _typed(Order, self.client.get_order_by_id(order_id))

    def get_order_by_client_id(self, client_order_id: str) -> Order:
        return _typed(Order, self.client.get_order_by_client_id(client_order_id))

    def replace_order_by_id(self, order_id: Any, request: ReplaceOrderRequest) -> Order:
        return _typed(Order, self.client.replace_order_by_id(order_id, request))

    def cancel_order_by_id(self, order_id: Any) -> None:
        self.client.cancel_order_by_id(order_id)

    def cancel_orders(self) -> list[CancelOrderResponse]:
        return _typed_list(CancelOrderResponse, self.client.cancel_orders())

    def get_account(self) -> TradeAccount:
        return _typed(TradeAccount, self.client.get_account())

    def get_all_positions(self) -> list[Position]:
        return _typed_list(Position, self.client.get_all_positions())

    def get_open_position(self, symbol: str) -> Position:
        return _typed(Position, self.client.get_open_position(symbol))

    def close_position(self, symbol: str, request: ClosePositionRequest | None = None) -> Order:
        return _typed(Order, self.client.close_position(symbol, request))

    def close_all_positions(self, cancel_orders: bool = False) -> list[ClosePositionResponse]:
        return _typed_list(ClosePositionResponse,
                           self.client.close_all_positions(cancel_orders=cancel_orders))

    def get_all_assets(self) -> list[Asset]:
        return _typed_list(Asset, self.client.get_all_assets())

    def get_asset(self, symbol_or_id: Any) -> Asset:
        return _typed(Asset, self.client.get_asset(symbol_or_id))


def make_user(server: ThreadedServer, **kwargs: Any) -> tuple[TestUser, Alpaca]:
    """A funded user and an alpaca-py client for it, pointed at the server."""
    user = server.create_user(f"user{next(_names)}", **kwargs)
    client = TradingClient(user.key.key_id, user.key.secret, url_override=server.base_url)
    return user, Alpaca(client)


class StreamListener:
    """alpaca-py's TradingStream on its own thread, collecting updates."""

    def __init__(self, server: ThreadedServer, user: TestUser) -> None:
        self.updates: queue.Queue[TradeUpdate] = queue.Queue()
        self.stream = TradingStream(user.key.key_id, user.key.secret,
                                    url_override=f"{server.ws_url}/stream")
        self.stream.subscribe_trade_updates(self._on_update)
        self.thread = threading.Thread(target=self.stream.run, daemon=True)
        self.thread.start()
        hub = trade_updates_of(server.platform)
        deadline = time.monotonic() + 10
        while hub.listeners(user.user.account) == 0:
            assert time.monotonic() < deadline, "the stream never started listening"
            time.sleep(0.02)

    async def _on_update(self, update: TradeUpdate) -> None:
        self.updates.put(update)

    def wait_for(self, match: Callable[[TradeUpdate], bool], timeout: float = 10) -> TradeUpdate:
        """The first update (from now on) that matches; queue.Empty after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            update = self.updates.get(timeout=max(0.01, deadline - time.monotonic()))
            if match(update):
                return update

    def close(self) -> None:
        self.stream.stop()
        self.thread.join(timeout=10)
