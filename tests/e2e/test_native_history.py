"""Native history, positions and reference data end to end.

Cursor paging of orders and fills (every row once, newest first, cursors bound to their
filters), spot holdings and margin positions with closing, instruments and assets.
"""

from __future__ import annotations

import asyncio
import functools
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.kit.server import RunningServer, TestUser
from tradehall.entrypoints.api.routers.native_common import keyset_page
from tradehall.kernel.ids import INSURANCE_ACCOUNT, AssetCode, Symbol
from tradehall.trading import commands as c
from tradehall.trading.model import InstrumentKind, InstrumentSpec


async def place(client: httpx.AsyncClient, user: TestUser, **body: Any) -> dict[str, Any]:
    order: dict[str, Any] = {"symbol": "BTC-USD", "side": "buy", "qty": "0.1",
                             "price": "100.00"}
    order.update(body)
    response = await client.post("/v1/orders", json=order, headers=user.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def all_pages(client: httpx.AsyncClient, user: TestUser, path: str,
                    **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    for _ in range(50):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(path, params=query, headers=user.headers)).json()
        rows += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return rows
    raise AssertionError("paging did not end")


async def test_orders_when_paged_list_every_order_once_newest_first(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange: orders placed concurrently share engine timestamps (one group commit)
    alice = await server.create_user("alice")
    ids = [(await place(client, alice, price=f"{90 + i}.00"))["order"]["id"] for i in range(4)]
    more = await asyncio.gather(*(place(client, alice, price=f"{80 + i}.00") for i in range(6)))
    ids += [m["order"]["id"] for m in more]

    # Act
    listed = await all_pages(client, alice, "/v1/orders", status="all", limit=3)

    # Assert
    assert sorted(o["id"] for o in listed) == sorted(ids)
    created = [o["created_at"] for o in listed]
    assert created == sorted(created, reverse=True)


async def test_orders_when_status_filtered_split_open_and_closed(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")
    kept = (await place(client, alice))["order"]["id"]
    gone = (await place(client, alice, price="99.00"))["order"]["id"]
    await client.delete(f"/v1/orders/{gone}", headers=alice.headers)

    open_ids = [o["id"] for o in await all_pages(client, alice, "/v1/orders", status="open")]
    closed = await all_pages(client, alice, "/v1/orders", status="closed")

    assert open_ids == [kept]
    assert [(o["id"], o["status"]) for o in closed] == [(gone, "canceled")]


@pytest.mark.parametrize("cursor", ["garbage", "AAAA", "%%%", "x" * 300])
async def test_orders_when_cursor_is_not_ours_answers_invalid(
        server: RunningServer, client: httpx.AsyncClient, cursor: str) -> None:
    alice = await server.create_user("alice")

    response = await client.get("/v1/orders", params={"cursor": cursor},
                                headers=alice.headers)

    assert response.status_code == 422
    assert response.json()["code"] in ("invalid_cursor", "invalid_field")


async def test_orders_when_cursor_reused_with_other_filters_answers_invalid_cursor(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")
    for i in range(3):
        await place(client, alice, price=f"{90 + i}.00")
    page = (await client.get("/v1/orders", params={"limit": 1},
                             headers=alice.headers)).json()

    response = await client.get("/v1/orders", params={"limit": 1, "status": "all",
                                                      "cursor": page["next_cursor"]},
                                headers=alice.headers)

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_cursor"


async def test_fills_when_paged_by_order_list_each_fill_once(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange: one taker order sweeps five resting orders (five fills, one seq)
    alice = await server.create_user("alice")
    bob = await server.create_user("bob")
    for i in range(5):
        await place(client, alice, side="sell", qty="0.1", price=f"{100 + i}.00")
    taker = await place(client, bob, side="buy", qty="0.5", price="110.00")

    # Act
    fills = await all_pages(client, bob, "/v1/fills", limit=2)
    by_order = await all_pages(client, bob, "/v1/fills", order_id=taker["order"]["id"],
                               limit=4)

    # Assert
    assert len(taker["fills"]) == 5
    assert sorted(f["trade_id"] for f in fills) == sorted(f["trade_id"] for f in taker["fills"])
    assert len(by_order) == 5
    assert {f["liquidity"] for f in by_order} == {"taker"}
    alice_fills = await all_pages(client, alice, "/v1/fills", symbol="BTC-USD")
    assert len(alice_fills) == 5
    assert {f["liquidity"] for f in alice_fills} == {"maker"}


async def test_positions_when_spot_bought_show_holding_then_close_sells_it(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    alice = await server.create_user("alice")
    bob = await server.create_user("bob", deposits={"USD": "10000"})
    await place(client, alice, side="sell", qty="0.2", price="100.00")
    await place(client, bob, side="buy", qty="0.2", price="100.00")
    await place(client, alice, side="buy", qty="1", price="99.00")

    # Act
    held = (await client.get("/v1/positions", headers=bob.headers)).json()["data"]
    closed = await client.post("/v1/positions/BTC-USD/close", headers=bob.headers)
    after = (await client.get("/v1/positions", headers=bob.headers)).json()["data"]

    # Assert
    assert [(p["symbol"], p["side"], p["qty"], p["avg_entry_price"]) for p in held] == [
        ("BTC-USD", "long", "0.2000", "100.000000")]
    assert closed.status_code == 201, closed.text
    assert closed.json()["order"]["side"] == "sell"
    assert closed.json()["order"]["status"] == "filled"
    assert after == []


async def test_positions_when_margin_short_closed_in_part_then_in_full(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange
    maker = await server.create_user("maker")
    trader = await server.create_user("trader", deposits={"USD": "100000"})
    eur = {"symbol": "EUR-USD"}
    await place(client, maker, **eur, side="buy", qty="1000", price="1.10000")
    await place(client, trader, **eur, side="sell", qty="1000", price="1.10000")
    await place(client, maker, **eur, side="sell", qty="1000", price="1.10010")

    # Act
    part = await client.post("/v1/positions/EUR-USD/close", headers=trader.headers,
                             json={"qty": "400"})
    mid = (await client.get("/v1/positions", headers=trader.headers)).json()["data"]
    full = await client.post("/v1/positions/EUR-USD/close", headers=trader.headers)
    again = await client.post("/v1/positions/EUR-USD/close", headers=trader.headers)

    # Assert
    assert part.status_code == 201, part.text
    assert part.json()["order"]["reduce_only"] is True
    assert [(p["side"], p["qty"], p["kind"]) for p in mid] == [("short", "600", "margin")]
    assert full.status_code == 201
    assert (await client.get("/v1/positions", headers=trader.headers)).json()["data"] == []
    assert again.status_code == 404
    assert again.json()["code"] == "no_position"


async def test_positions_when_the_price_passes_the_liquidation_price_are_liquidated(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    # Arrange: a margin instrument with 5% initial and 2.5% maintenance margin and a 0.5%
    # liquidation fee. 1,000 bought at 1.25000 hold 62.50 USD and are liquidated at 1.21794
    # or below.
    spec = InstrumentSpec(
        symbol=Symbol("GBP-USD"), kind=InstrumentKind.MARGIN, base=AssetCode("EUR"),
        quote=AssetCode("USD"), tick_size=Decimal("0.00001"), lot_size=Decimal(1),
        margin_rate=Decimal("0.05"), maintenance_margin_rate=Decimal("0.025"),
        liquidation_fee_rate=Decimal("0.005"))
    added = await server.platform.engine.execute(c.AddInstrument(spec=spec))
    await server.platform.read_model.wait_for(added.seq, 30.0)
    maker = await server.create_user("maker")
    other = await server.create_user("other")
    trader = await server.create_user("trader", deposits={"USD": "100000"})
    gbp = {"symbol": "GBP-USD"}
    await place(client, maker, **gbp, side="sell", qty="1000", price="1.25000")
    await place(client, trader, **gbp, side="buy", qty="1000", price="1.25000")
    await place(client, maker, **gbp, side="buy", qty="2000", price="1.21000")
    await place(client, maker, **gbp, side="buy", qty="1", price="1.21700")
    opened = (await client.get("/v1/positions", headers=trader.headers)).json()["data"]

    # Act: a trade at 1.21700
    await place(client, other, **gbp, side="sell", qty="1", price="1.21700")
    listed = await client.get("/v1/orders", headers=trader.headers,
                              params={"symbol": "GBP-USD", "status": "all"})
    orders = listed.json()["data"]
    positions = (await client.get("/v1/positions", headers=trader.headers)).json()["data"]
    balances = (await client.get("/v1/balances", headers=trader.headers)).json()["data"]
    spec_out = (await client.get("/v1/instruments/GBP-USD")).json()
    fund = await server.platform.read_model.balances(INSURANCE_ACCOUNT)

    # Assert: the position showed its liquidation price; the engine then sold all of it at
    # 1.21000 under its own client order id.
    assert [(p["side"], p["qty"], p["liquidation_price"]) for p in opened] == [
        ("long", "1000", "1.21794")]
    liquidation = orders[0]
    assert liquidation["client_order_id"].startswith("liquidation-")
    assert (liquidation["side"], liquidation["status"], liquidation["filled_qty"]) == (
        "sell", "filled", "1000")
    assert liquidation["reduce_only"] is True
    assert positions == []
    usd = next(b for b in balances if b["asset"] == "USD")
    # Lost 0.04 x 1,000, and paid 0.5% of the 1,210.00 sold into the insurance fund.
    assert (usd["available"], usd["held"]) == ("99953.95", "0.00")
    assert [(b.asset, b.available, b.held) for b in fund] == [("USD", 6_05, 0)]
    assert spec_out["maintenance_margin_rate"] == "0.025"
    assert spec_out["liquidation_fee_rate"] == "0.005"


async def test_positions_when_other_user_closes_answers_404(
        server: RunningServer, client: httpx.AsyncClient) -> None:
    alice = await server.create_user("alice")
    bob = await server.create_user("bob")
    await place(client, alice, side="sell", qty="0.2", price="100.00")
    await place(client, bob, side="buy", qty="0.2", price="100.00")
    mallory = await server.create_user("mallory", deposits={})

    response = await client.post("/v1/positions/BTC-USD/close", headers=mallory.headers)

    assert response.status_code == 404
    assert (await client.get("/v1/positions", headers=mallory.headers)).json()["data"] == []


async def test_instruments_when_listed_give_grid_fees_and_status(
        client: httpx.AsyncClient) -> None:
    listed = (await client.get("/v1/instruments")).json()["data"]
    one = await client.get("/v1/instruments/EUR-USD")
    missing = await client.get("/v1/instruments/NOPE")
    assets = (await client.get("/v1/assets")).json()["data"]

    assert [i["symbol"] for i in listed] == ["AAPL", "BTC-USD", "ETH-USD", "EUR-USD"]
    assert one.json()["kind"] == "margin"
    assert (one.json()["tick_size"], one.json()["lot_size"]) == ("0.00001", "1")
    assert one.json()["margin_rate"] == "0.05"
    assert one.json()["maintenance_margin_rate"] is None  # never liquidated
    assert one.json()["liquidation_fee_rate"] == "0"
    assert missing.status_code == 404
    assert missing.json()["code"] == "unknown_symbol"
    assert {"code": "USD", "scale": 2} in assets


async def test_keyset_page_when_many_rows_share_a_timestamp_lists_each_once() -> None:
    # Arrange: 40 rows, in groups of 7 with the same first key, and a store that cuts ties
    # arbitrarily (here: ascending second key, the opposite of the page order)
    rows: list[tuple[int, ...]] = [(ns // 7, ns) for ns in range(40)]

    async def fetch_after(bound: int | None, n: int) -> list[tuple[int, ...]]:
        kept = [r for r in rows if bound is None or r[0] < bound]
        kept.sort(key=lambda r: (-r[0], r[1]))
        return kept[:n]

    # Act
    seen: list[tuple[int, ...]] = []
    after = None
    for _ in range(100):
        bound = None if after is None else after[0] + 1
        page, after = await keyset_page(functools.partial(fetch_after, bound),
                                        lambda r: r, 3, after)
        seen += page
        if after is None:
            break

    # Assert
    assert seen == sorted(rows, reverse=True)
