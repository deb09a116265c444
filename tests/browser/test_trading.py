"""The trading app in a real browser against a live demo server: log in, watch the market,
place, amend and cancel a limit order, fill a market order and close the position, and the
ticket's checks (an off-tick price never leaves the page; a refusal shows the server's words).
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

import httpx
from playwright.sync_api import Page, Request, expect

from tests.browser.conftest import log_in
from tests.browser.kit import DemoServer


def _select(page: Page, symbol: str) -> None:
    page.locator(f"nav button[data-symbol='{symbol}']").click()
    expect(page.locator("#ticket-title")).to_contain_text(symbol)
    page.locator("[data-testid=book][data-valid=true]").wait_for()


def _rest(demo: DemoServer, method: str, path: str, index: int = 0, **kw: Any) -> Any:
    response = httpx.request(method, demo.base_url + path, headers=demo.key_headers(index),
                             timeout=10, **kw)
    assert response.status_code < 300, response.text
    return response.json()


def _open_orders(demo: DemoServer) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = _rest(demo, "GET", "/v1/orders?status=open")["data"]
    return orders


def _below_market(demo: DemoServer, symbol: str, fraction: str) -> str:
    book = _rest(demo, "GET", f"/v1/markets/{symbol}/book?depth=1")
    bid = Decimal(book["bids"][0][0])
    return str((bid * Decimal(fraction)).quantize(Decimal("0.01"), rounding=ROUND_DOWN))


def _fill_ticket(page: Page, *, side: str, kind: str, qty: str, price: str | None = None,
                 tif: str | None = None) -> None:
    page.get_by_role("button", name=side.capitalize(), exact=True).click()
    page.get_by_label("Type").select_option(kind)
    if tif is not None:
        page.get_by_label("Time in force").select_option(tif)
    if price is not None:
        page.get_by_label("Limit price").fill(price)
    page.get_by_label("Quantity").fill(qty)


def test_trader_when_logged_in_sees_chart_book_and_trades_update_live(
        page: Page, demo: DemoServer) -> None:
    # Arrange
    log_in(page, demo)
    _select(page, "AAPL")
    chart = page.get_by_test_id("chart")
    expect(chart).not_to_have_attribute("data-bars", "0")
    book = page.get_by_test_id("book")
    seq = int(book.get_attribute("data-seq") or "0")
    updates = int(chart.get_attribute("data-updates") or "0")
    expect(page.get_by_test_id("user")).to_have_text(demo.credentials[0].username)

    # Act: another trader takes liquidity, so a trade and a candle update must follow
    _rest(demo, "POST", "/v1/orders", index=1,
          json={"symbol": "AAPL", "side": "buy", "type": "market", "qty": "3"})

    # Assert
    page.wait_for_function(
        "([seq, updates]) => Number(document.querySelector('[data-testid=book]').dataset.seq)"
        " > seq && Number(document.querySelector('[data-testid=chart]').dataset.updates)"
        " > updates", arg=[seq, updates])
    expect(page.get_by_test_id("trades").locator("tbody tr").first).to_be_visible()
    bids = page.locator("[data-testid=book] tr.bid")
    asks = page.locator("[data-testid=book] tr.ask")
    assert bids.count() > 0
    assert asks.count() > 0


def test_limit_order_when_placed_is_listed_then_amended_then_canceled(
        page: Page, demo: DemoServer) -> None:
    # Arrange
    log_in(page, demo)
    _select(page, "AAPL")
    price = _below_market(demo, "AAPL", "0.97")

    # Act: place
    _fill_ticket(page, side="buy", kind="limit", qty="2", price=price, tif="gtc")
    page.get_by_test_id("submit-order").click()

    # Assert: the page lists it, the server holds it
    expect(page.get_by_test_id("order-result")).to_contain_text("new")
    expect(page.get_by_test_id("notional")).to_contain_text("USD")
    row = page.get_by_test_id("open-orders").locator("tbody tr[data-order-id]")
    expect(row).to_have_count(1)
    order_id = row.get_attribute("data-order-id")
    [held] = [o for o in _open_orders(demo) if o["id"] == order_id]
    assert (held["qty"], held["price"], held["side"]) == ("2", price, "buy")

    # Act: an off-tick amend is refused on the page
    row.get_by_test_id("amend").click()
    row.get_by_test_id("amend-price").fill(price + "1")
    row.get_by_test_id("amend-save").click()

    # Assert
    expect(page.get_by_test_id("account-error")).to_contain_text("more decimals than the tick")
    [unchanged] = [o for o in _open_orders(demo) if o["id"] == order_id]
    assert (unchanged["qty"], unchanged["price"]) == ("2", price)

    # Act: amend the quantity to 5
    row.get_by_test_id("amend-price").fill(price)
    row.get_by_test_id("amend-qty").fill("5")
    row.get_by_test_id("amend-save").click()

    # Assert
    expect(row.get_by_test_id("order-qty")).to_have_text("5")
    [amended] = [o for o in _open_orders(demo) if o["id"] == order_id]
    assert (amended["qty"], amended["price"]) == ("5", price)

    # Act: cancel
    row.get_by_test_id("cancel").click()

    # Assert
    expect(page.get_by_test_id("open-orders").locator("tbody tr[data-order-id]")).to_have_count(0)
    assert [o for o in _open_orders(demo) if o["id"] == order_id] == []
    order = _rest(demo, "GET", f"/v1/orders/{order_id}")
    assert order["status"] == "canceled"


def test_market_order_when_filled_shows_position_that_close_flattens(
        page: Page, demo: DemoServer) -> None:
    # Arrange: EUR-USD is on margin, lots of 1,000 EUR
    log_in(page, demo, index=2)
    _select(page, "EUR-USD")

    # Act: buy at market
    _fill_ticket(page, side="buy", kind="market", qty="1000", tif="ioc")
    page.get_by_test_id("submit-order").click()

    # Assert: filled, and a long position with a live P&L
    expect(page.get_by_test_id("order-result")).to_contain_text("filled")
    page.get_by_role("tab", name="Positions").click()
    position = page.get_by_test_id("positions").locator("tr[data-symbol='EUR-USD']")
    expect(position.get_by_test_id("position-qty")).to_have_text("1000")
    expect(position.get_by_test_id("pnl")).to_contain_text("USD")
    held = _rest(demo, "GET", "/v1/positions", index=2)["data"]
    assert [(p["symbol"], p["side"], p["qty"]) for p in held if p["kind"] == "margin"] == [
        ("EUR-USD", "long", "1000")]
    # The demo EUR-USD liquidates below 2.5% maintenance: about 2.5% under the entry.
    eur = next(p for p in held if p["symbol"] == "EUR-USD")
    liquidation = eur["liquidation_price"]
    assert 0 < Decimal(liquidation) < Decimal(eur["avg_entry_price"])
    expect(position.get_by_test_id("liquidation-price")).to_have_text(liquidation)

    # Act: close it
    position.get_by_test_id("close-position").click()

    # Assert
    expect(position).to_have_count(0)
    held = _rest(demo, "GET", "/v1/positions", index=2)["data"]
    assert [p for p in held if p["symbol"] == "EUR-USD"] == []


def test_ticket_when_price_is_off_tick_refuses_before_sending(
        page: Page, demo: DemoServer) -> None:
    # Arrange
    log_in(page, demo)
    _select(page, "AAPL")
    before = _open_orders(demo)
    sent: list[str] = []

    def on_request(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/v1/orders"):
            sent.append(request.url)

    page.on("request", on_request)

    # Act: AAPL's tick is 0.01
    _fill_ticket(page, side="buy", kind="limit", qty="1", price="100.255")
    page.get_by_test_id("submit-order").click()

    # Assert
    expect(page.get_by_test_id("price-error")).to_have_text(
        "price: 100.255 has more decimals than the tick size 0.01 allows")
    expect(page.get_by_label("Limit price")).to_have_attribute("aria-invalid", "true")
    assert sent == []
    assert _open_orders(demo) == before


def test_ticket_when_server_refuses_shows_its_code_and_message(
        page: Page, demo: DemoServer) -> None:
    # Arrange: a limit price far outside AAPL's 15% band passes the grid checks
    log_in(page, demo)
    _select(page, "AAPL")
    before = _open_orders(demo)
    price = _below_market(demo, "AAPL", "0.5")

    # Act
    _fill_ticket(page, side="buy", kind="limit", qty="1", price=price)
    page.get_by_test_id("submit-order").click()

    # Assert
    expect(page.get_by_test_id("server-error")).to_contain_text("price_out_of_band: ")
    assert _open_orders(demo) == before


def test_session_when_page_reloads_stays_and_logout_ends_it(page: Page, demo: DemoServer) -> None:
    # Arrange
    log_in(page, demo)

    # Act
    page.reload()

    # Assert: still logged in, without the refresh token ever in script-readable storage
    page.get_by_test_id("open-orders").wait_for()
    stored = page.evaluate("JSON.stringify(sessionStorage) + JSON.stringify(localStorage)")
    assert "refresh" not in stored
    assert page.evaluate("document.cookie") == ""

    # Act
    page.get_by_role("button", name="Log out").click()

    # Assert
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    expect(page.get_by_test_id("open-orders")).to_have_count(0)
    assert page.evaluate("sessionStorage.getItem('tradehall.session')") is None
