"""The official alpaca-py against a real tradehall on loopback: only the base URL changes.

`TradingClient(url_override=...)` submits limit, market and stop orders, lists them with
filters, gets them by id and client order id, replaces (amends in place) and cancels them,
reads the account, lists, gets and closes positions; `TradingStream(url_override=...)`
receives `new`, `fill`, `partial_fill`, `replaced` and `canceled` updates. A second account
never sees or cancels the first's orders, and a bearer token from the login works as
alpaca-py's `oauth_token`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.e2e.alpaca_kit import Alpaca, APIError, StreamListener, make_user
from tests.kit.server import ThreadedServer, platform_in_thread

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
    from alpaca.trading.models import Order
    from alpaca.trading.requests import (
        ClosePositionRequest,
        GetOrdersRequest,
        LimitOrderRequest,
        MarketOrderRequest,
        ReplaceOrderRequest,
        StopOrderRequest,
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadedServer]:
    with platform_in_thread(tmp_path) as srv:
        yield srv


def limit(symbol: str, side: OrderSide, qty: float, price: float,
          **kwargs: str) -> LimitOrderRequest:
    return LimitOrderRequest(symbol=symbol, side=side, qty=qty, limit_price=price,
                             time_in_force=TimeInForce.GTC, **kwargs)


def test_account_when_funded_answers_usd_cash_and_buying_power(server: ThreadedServer) -> None:
    _, client = make_user(server)

    account = client.get_account()

    assert account.currency == "USD"
    assert Decimal(str(account.cash)) == Decimal("10000000")
    assert account.buying_power == "10000000.00"
    assert account.equity == account.portfolio_value == "10000000.00"


def test_assets_when_listed_map_pairs_to_crypto_and_names_to_us_equity(
        server: ThreadedServer) -> None:
    _, client = make_user(server)

    assets = {a.symbol: a for a in client.get_all_assets()}

    assert assets["BTC/USD"].asset_class.value == "crypto"
    assert assets["AAPL"].asset_class.value == "us_equity"
    assert assets["EUR/USD"].marginable
    assert assets["EUR/USD"].shortable
    assert client.get_asset("BTC/USD").id == assets["BTC/USD"].id
    assert client.get_asset(assets["AAPL"].id).symbol == "AAPL"


def test_limit_order_when_resting_is_listed_and_found_by_both_ids(
        server: ThreadedServer) -> None:
    # Arrange
    _, client = make_user(server)

    # Act
    order = client.submit_order(limit("BTC/USD", OrderSide.BUY, 0.5, 100.25,
                                      client_order_id="rest-1"))

    # Assert
    assert isinstance(order, Order)
    assert order.status is OrderStatus.NEW
    assert (order.qty, order.limit_price, order.symbol) == ("0.5000", "100.25", "BTC/USD")
    assert client.get_order_by_id(order.id).client_order_id == "rest-1"
    assert client.get_order_by_client_id("rest-1").id == order.id
    open_orders = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))
    assert [o.id for o in open_orders] == [order.id]
    assert client.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED)) == []
    assert client.get_orders(GetOrdersRequest(symbols=["ETH/USD"])) == []
    assert client.get_orders(GetOrdersRequest(side=OrderSide.SELL)) == []


def test_market_order_when_book_has_liquidity_fills_and_opens_position(
        server: ThreadedServer) -> None:
    # Arrange
    _, maker = make_user(server)
    _, taker = make_user(server)
    maker.submit_order(limit("ETH-USD", OrderSide.SELL, 2, 2000))

    # Act
    order = taker.submit_order(MarketOrderRequest(symbol="ETH/USD", qty=1.5, side=OrderSide.BUY,
                                                  time_in_force=TimeInForce.IOC))

    # Assert
    assert order.status is OrderStatus.FILLED
    assert (order.filled_qty, Decimal(str(order.filled_avg_price))) == ("1.500",
                                                                       Decimal(2000))
    position = taker.get_open_position("ETH/USD")
    assert (position.qty, position.side.value) == ("1.500", "long")
    assert Decimal(position.cost_basis) == Decimal(3000)
    assert [p.symbol for p in taker.get_all_positions()] == ["ETH/USD"]
    account = taker.get_account()
    assert Decimal(str(account.cash)) == Decimal(10_000_000 - 3000)
    assert Decimal(str(account.long_market_value)) == Decimal(3000)
    closed = maker.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))[0]
    assert closed.status is OrderStatus.PARTIALLY_FILLED


def test_stop_order_when_submitted_waits_as_new(server: ThreadedServer) -> None:
    _, client = make_user(server)

    order = client.submit_order(StopOrderRequest(symbol="AAPL", qty=3, side=OrderSide.SELL,
                                                 stop_price=90, time_in_force=TimeInForce.GTC))

    assert order.status is OrderStatus.NEW
    assert (order.type.value if order.type else None, order.stop_price) == ("stop", "90.00")
    client.cancel_order_by_id(order.id)
    assert client.get_order_by_id(order.id).status is OrderStatus.CANCELED


def test_replace_when_limit_order_rests_amends_in_place(server: ThreadedServer) -> None:
    _, client = make_user(server)
    order = client.submit_order(limit("AAPL", OrderSide.BUY, 10, 150))

    replaced = client.replace_order_by_id(order.id, ReplaceOrderRequest(qty=4, limit_price=151))

    assert replaced.id == order.id
    assert (replaced.qty, replaced.limit_price) == ("4", "151.00")
    assert client.get_order_by_id(order.id).qty == "4"


def test_cancel_when_open_orders_cancels_one_then_all(server: ThreadedServer) -> None:
    # Arrange
    _, client = make_user(server)
    first, second, third = (client.submit_order(limit("BTC/USD", OrderSide.BUY, 0.1, p))
                            for p in (10, 11, 12))

    # Act
    client.cancel_order_by_id(first.id)
    results = client.cancel_orders()

    # Assert
    assert client.get_order_by_id(first.id).status is OrderStatus.CANCELED
    assert {r.id for r in results} == {second.id, third.id}
    assert {r.status for r in results} == {200}
    assert client.get_orders() == []
    closed = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED))
    statuses = {o.status for o in closed}
    assert statuses == {OrderStatus.CANCELED}


def test_close_position_when_partial_and_full_sells_the_holding(server: ThreadedServer) -> None:
    # Arrange
    _, buyer = make_user(server)
    _, maker = make_user(server)
    maker.submit_order(limit("AAPL", OrderSide.SELL, 10, 100))
    buyer.submit_order(MarketOrderRequest(symbol="AAPL", qty=10, side=OrderSide.BUY,
                                          time_in_force=TimeInForce.DAY))
    maker.submit_order(limit("AAPL", OrderSide.BUY, 10, 99))

    # Act
    half = buyer.close_position("AAPL", ClosePositionRequest(percentage="50"))
    rest = buyer.close_position("AAPL", ClosePositionRequest(qty="2"))
    everything = buyer.close_all_positions(cancel_orders=True)

    # Assert
    assert (half.side, half.filled_qty, half.status) == (OrderSide.SELL, "5", OrderStatus.FILLED)
    assert rest.filled_qty == "2"
    assert [(r.symbol, r.status) for r in everything] == [("AAPL", 200)]
    assert buyer.get_all_positions() == []
    with pytest.raises(APIError) as missing:
        buyer.get_open_position("AAPL")
    assert missing.value.status_code == 404


def test_other_account_when_naming_foreign_order_gets_404(server: ThreadedServer) -> None:
    # Arrange
    _, owner = make_user(server)
    _, other = make_user(server)
    order = owner.submit_order(limit("BTC/USD", OrderSide.BUY, 0.2, 50, client_order_id="mine"))

    # Act / Assert
    for attempt in (lambda: other.get_order_by_id(order.id),
                    lambda: other.cancel_order_by_id(order.id),
                    lambda: other.replace_order_by_id(order.id, ReplaceOrderRequest(qty=1)),
                    lambda: other.get_order_by_client_id("mine")):
        with pytest.raises(APIError) as refused:
            attempt()
        assert refused.value.status_code == 404
        assert refused.value.code == "order_not_found"
    assert other.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL)) == []
    assert other.cancel_orders() == []
    assert owner.get_order_by_id(order.id).status is OrderStatus.NEW


def test_stream_when_orders_change_receives_new_fill_replaced_canceled(
        server: ThreadedServer) -> None:
    # Arrange
    trader, client = make_user(server)
    _, other = make_user(server)
    listener = StreamListener(server, trader)
    try:
        # Act
        resting = client.submit_order(limit("BTC/USD", OrderSide.SELL, 1, 30000))
        other.submit_order(MarketOrderRequest(symbol="BTC/USD", qty=0.4, side=OrderSide.BUY,
                                              time_in_force=TimeInForce.IOC))
        client.replace_order_by_id(resting.id, ReplaceOrderRequest(limit_price=30100))
        client.cancel_order_by_id(resting.id)
        filled = client.submit_order(MarketOrderRequest(
            symbol="BTC/USD", qty=0.1, side=OrderSide.SELL, time_in_force=TimeInForce.IOC))

        # Assert
        new = listener.wait_for(lambda u: u.event == "new" and u.order.id == resting.id)
        partial = listener.wait_for(lambda u: u.event == "partial_fill")
        replaced = listener.wait_for(lambda u: u.event == "replaced")
        canceled = listener.wait_for(lambda u: u.event == "canceled"
                                     and u.order.id == resting.id)
        del filled
    finally:
        listener.close()
    assert new.order.status is OrderStatus.NEW
    assert (partial.qty, partial.price, partial.order.filled_qty) == (0.4, 30000.0, "0.4000")
    assert partial.execution_id is not None
    assert replaced.order.limit_price == "30100.00"
    assert canceled.order.status is OrderStatus.CANCELED


def test_stream_when_order_fills_completely_sends_fill(server: ThreadedServer) -> None:
    trader, client = make_user(server)
    _, maker = make_user(server)
    maker.submit_order(limit("ETH/USD", OrderSide.SELL, 1, 1500))
    listener = StreamListener(server, trader)
    try:
        order = client.submit_order(MarketOrderRequest(
            symbol="ETH/USD", qty=0.25, side=OrderSide.BUY, time_in_force=TimeInForce.IOC))
        fill = listener.wait_for(lambda u: u.event == "fill")
    finally:
        listener.close()
    assert fill.order.id == order.id
    assert fill.order.status is OrderStatus.FILLED
    assert (fill.qty, fill.price) == (0.25, 1500.0)


def test_margin_position_when_short_is_negative_and_closes(server: ThreadedServer) -> None:
    # Arrange
    _, trader = make_user(server)
    _, maker = make_user(server)
    maker.submit_order(limit("EUR/USD", OrderSide.BUY, 1000, 1.1))
    trader.submit_order(MarketOrderRequest(symbol="EUR/USD", qty=1000, side=OrderSide.SELL,
                                           time_in_force=TimeInForce.IOC))
    maker.submit_order(limit("EUR/USD", OrderSide.SELL, 1000, 1.2))

    # Act
    position = trader.get_open_position("EUR-USD")
    account = trader.get_account()
    closed = trader.close_position("EUR/USD")

    # Assert
    assert (position.side.value, position.qty, position.asset_marginable) == ("short", "-1000",
                                                                               True)
    assert Decimal(position.cost_basis) == Decimal(-1100)
    assert account.created_at is not None
    assert Decimal(str(account.initial_margin)) > 0
    assert Decimal(str(account.equity)) == (Decimal(str(account.cash))
                                            + Decimal(str(position.unrealized_pl)))
    assert (closed.side, closed.filled_qty, closed.status) == (OrderSide.BUY, "1000",
                                                               OrderStatus.FILLED)
    assert trader.get_all_positions() == []


def test_client_when_oauth_token_from_login_is_used_trades(server: ThreadedServer) -> None:
    # Arrange
    user, _ = make_user(server)
    login = httpx.post(f"{server.base_url}/v1/auth/login",
                       json={"username": user.user.username, "password": user.password})
    token = login.json()["access_token"]
    client = Alpaca(TradingClient(oauth_token=token, url_override=server.base_url))

    # Act
    order = client.submit_order(limit("AAPL", OrderSide.BUY, 1, 10))

    # Assert
    assert client.get_account().account_number == user.user.account
    assert client.get_order_by_id(order.id).status is OrderStatus.NEW
