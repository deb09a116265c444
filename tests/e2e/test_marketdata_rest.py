"""Market-data REST (`/v1/markets`) and the TradingView UDF datafeed end to end.

A real platform behind uvicorn, orders placed through the native API, an httpx client reading
books, trades, tickers and candles, and the UDF endpoints (config, symbols, search, history
with its `no_data`/`nextTime` rules, time). Bad parameters and unknown symbols get precise
4xx answers in the one error shape.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.kit.server import RunningServer, TestUser


async def place(client: httpx.AsyncClient, user: TestUser, **body: Any) -> None:
    order: dict[str, Any] = {"symbol": "BTC-USD", "side": "buy", "qty": "0.5",
                             "price": "100.00"}
    order.update(body)
    response = await client.post("/v1/orders", json=order, headers=user.headers)
    assert response.status_code == 201, response.text


@pytest.fixture
async def traded(server: RunningServer, client: httpx.AsyncClient) -> RunningServer:
    """Two crossing trades on BTC-USD and a resting bid and ask."""
    alice = await server.create_user("alice")
    bob = await server.create_user("bob")
    await place(client, alice, side="sell", price="101.00", qty="0.3")
    await place(client, bob, side="buy", price="101.00", qty="0.1")
    await place(client, bob, side="buy", price="101.00", qty="0.1")
    await place(client, bob, side="buy", price="99.50", qty="1.25")
    await server.platform.read_model.wait_for(server.platform.engine.last_seq)
    return server


async def test_book_when_orders_rest_lists_levels_best_first_with_seq(
        traded: RunningServer, client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/markets/BTC-USD/book", params={"depth": 5})).json()

    assert body["type"] == "book_snapshot"
    assert body["bids"] == [["99.50", "1.2500", 1]]
    assert body["asks"] == [["101.00", "0.1000", 1]]
    assert body["seq"] >= 1


async def test_trades_and_ticker_when_orders_crossed_report_them_exactly(
        traded: RunningServer, client: httpx.AsyncClient) -> None:
    trades = (await client.get("/v1/markets/BTC-USD/trades", params={"limit": 1})).json()
    ticker = (await client.get("/v1/markets/BTC-USD/ticker")).json()
    tickers = (await client.get("/v1/markets/tickers")).json()

    assert [(t["price"], t["qty"], t["side"]) for t in trades["trades"]] == [
        ("101.00", "0.1000", "buy")]
    assert (ticker["last"], ticker["bid"], ticker["ask"], ticker["volume"], ticker["trades"]) == (
        "101.00", "99.50", "101.00", "0.2000", 2)
    assert {t["symbol"] for t in tickers["data"]} == {"AAPL", "BTC-USD", "ETH-USD", "EUR-USD"}


async def test_candles_when_trades_happened_merge_history_and_live(
        traded: RunningServer, client: httpx.AsyncClient) -> None:
    for interval in ("1m", "5m", "15m", "1h", "4h", "1d"):
        body = (await client.get("/v1/markets/BTC-USD/candles",
                                 params={"interval": interval})).json()
        assert [(c["open"], c["high"], c["low"], c["close"], c["volume"], c["trades"])
                for c in body["candles"]] == [("101.00", "101.00", "101.00", "101.00",
                                               "0.2000", 2)], interval


@pytest.mark.parametrize(("path", "params", "status", "code", "field"), [
    ("/v1/markets/NOPE/book", {}, 404, "unknown_symbol", None),
    ("/v1/markets/NOPE/ticker", {}, 404, "unknown_symbol", None),
    ("/v1/markets/BTC-USD/book", {"depth": "0"}, 422, "invalid_field", "depth"),
    ("/v1/markets/BTC-USD/book", {"depth": "51"}, 422, "out_of_range", "depth"),
    ("/v1/markets/BTC-USD/trades", {"limit": "abc"}, 422, "invalid_field", "limit"),
    ("/v1/markets/BTC-USD/candles", {"interval": "2m"}, 422, "invalid_field", "interval"),
    ("/v1/markets/BTC-USD/candles", {"from": "yesterday"}, 422, "invalid_time", "from"),
    ("/v1/markets/BTC-USD/candles", {"from": "2000", "to": "1000"}, 422, "invalid_range",
     "from"),
    ("/udf/symbols", {"symbol": "NOPE"}, 404, "unknown_symbol", "symbol"),
    ("/udf/history", {"symbol": "BTC-USD", "resolution": "7", "from": "0", "to": "1"}, 422,
     "unknown_resolution", "resolution"),
    ("/udf/history", {"symbol": "BTC-USD", "resolution": "1"}, 422, "invalid_field", "from"),
])
async def test_market_data_when_parameters_are_bad_answers_precise_4xx(
        server: RunningServer, client: httpx.AsyncClient, path: str, params: dict[str, str],
        status: int, code: str, field: str | None) -> None:
    response = await client.get(path, params=params)

    assert response.status_code == status
    body = response.json()
    assert (body["code"], body["field"]) == (code, field)


async def test_udf_when_the_chart_asks_describes_symbols_and_serves_bars(
        traded: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    now = int((await client.get("/udf/time")).text)

    # Act
    config = (await client.get("/udf/config")).json()
    symbol = (await client.get("/udf/symbols", params={"symbol": "TRADEHALL:EUR-USD"})).json()
    found = (await client.get("/udf/search", params={"query": "btc", "limit": 5})).json()
    bars = (await client.get("/udf/history", params={
        "symbol": "BTC-USD", "resolution": "1", "from": now - 3600, "to": now + 60})).json()
    back = (await client.get("/udf/history", params={
        "symbol": "BTC-USD", "resolution": "1D", "from": now + 86_400 * 2,
        "to": now + 86_400 * 3})).json()
    counted = (await client.get("/udf/history", params={
        "symbol": "BTC-USD", "resolution": "60", "from": now + 3600, "to": now + 7200,
        "countback": 10})).json()
    none = (await client.get("/udf/history", params={
        "symbol": "ETH-USD", "resolution": "1", "from": now - 60, "to": now + 60})).json()

    # Assert
    assert "1D" in config["supported_resolutions"]
    assert config["supports_search"] is True
    assert (symbol["pricescale"], symbol["minmov"], symbol["volume_precision"]) == (100000, 1, 0)
    assert [s["symbol"] for s in found] == ["BTC-USD"]
    assert bars["s"] == "ok"
    assert (bars["o"], bars["h"], bars["l"], bars["c"], bars["v"]) == (
        [101.0], [101.0], [101.0], [101.0], [0.2])
    assert bars["t"][0] % 60 == 0
    assert now - 120 <= bars["t"][0] <= now
    assert back == {"s": "no_data", "nextTime": (now // 86_400) * 86_400}
    assert counted["s"] == "ok"
    assert len(counted["t"]) == 1
    assert none == {"s": "no_data"}
