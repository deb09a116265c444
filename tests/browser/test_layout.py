"""The trading app's layout, resilience and accessibility basics in a real browser.

Screenshots at a phone (375 px), a tablet (768 px) and a desktop (1440 px) width, in both
themes, go to `var/screenshots/` (git-ignored); at none of these widths may the page scroll
sideways. The page must say it is stale while its WebSocket is down and recover by itself,
and a book that misses a sequence number is re-fetched, never shown wrong.
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Browser, Page, WebSocketRoute, expect

from tests.browser.conftest import SCREENSHOTS, log_in, new_context
from tests.browser.kit import DemoServer

WIDTHS = {375: 812, 768: 1024, 1440: 900}


@pytest.fixture(scope="module")
def traded(demo: DemoServer) -> DemoServer:
    """The demo server after one AAPL trade, so the tape is never empty on the screenshots."""
    response = httpx.post(f"{demo.base_url}/v1/orders", headers=demo.key_headers(1), timeout=10,
                          json={"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1"})
    assert response.status_code == 201, response.text
    return demo


@pytest.mark.parametrize("width", sorted(WIDTHS))
@pytest.mark.parametrize("theme", ["dark", "light"])
def test_layout_when_logged_in_fits_the_width_without_horizontal_scroll(
        browser: Browser, traded: DemoServer, width: int, theme: str) -> None:
    # Arrange
    context = new_context(browser, width, WIDTHS[width], color_scheme=theme)
    page = context.new_page()
    try:
        # Act
        log_in(page, traded)
        page.locator("[data-testid=book][data-valid=true]").wait_for()
        page.wait_for_function("document.querySelectorAll('[data-testid=trades] tbody tr')"
                               ".length > 0")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"trade-{width}-{theme}.png", full_page=True)

        # Assert
        assert page.evaluate("document.documentElement.dataset.theme") == theme
        overflow = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert overflow[0] <= overflow[1], f"scrollWidth {overflow[0]} > innerWidth {overflow[1]}"
    finally:
        context.close()


def test_embed_mode_when_asked_hides_the_page_chrome(page: Page, demo: DemoServer) -> None:
    # Act
    log_in(page, demo, query="?embed=1")

    # Assert
    expect(page.locator(".topbar")).to_have_count(0)
    expect(page.locator(".footer")).to_have_count(0)
    expect(page.get_by_test_id("chart")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "embed-1440.png")


def test_page_when_server_drops_websocket_shows_stale_then_recovers(
        page: Page, demo: DemoServer) -> None:
    # Arrange
    log_in(page, demo)
    book = page.locator("[data-testid=book][data-valid=true]")
    book.wait_for()
    expect(page.get_by_test_id("connection")).to_have_text("Live")
    page.evaluate("""() => {
        window.sawStale = false;
        new MutationObserver(() => {
            if (document.querySelector('[data-testid=stale]')) window.sawStale = true;
        }).observe(document.body, {childList: true, subtree: true});
    }""")

    # Act
    dropped = demo.drop_websockets()

    # Assert: it said so while down, reconnected, and the book moves again from a new snapshot
    assert dropped >= 1
    page.wait_for_function("window.sawStale === true")
    page.wait_for_function("window.tradehall.store.reconnects >= 1")
    expect(page.get_by_test_id("connection")).to_have_text("Live")
    expect(page.get_by_test_id("stale")).to_have_count(0)
    book.wait_for()
    seq = int(page.get_by_test_id("book").get_attribute("data-seq") or "0")
    page.wait_for_function(
        "seq => Number(document.querySelector('[data-testid=book]').dataset.seq) > seq", arg=seq)


def test_book_when_a_delta_is_missed_is_refetched_not_shown_wrong(
        page: Page, demo: DemoServer) -> None:
    # Arrange: a proxy in the page's network drops the second book delta the server sends
    seen: list[str] = []

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            text = message if isinstance(message, str) else message.decode()
            if '"book_delta"' in text:
                seen.append(text)
                if len(seen) == 2:
                    return
            ws.send(message)

        server.on_message(from_server)

    page.route_web_socket(re.compile(r".*/v1/ws$"), route)

    # Act
    log_in(page, demo)

    # Assert: the gap was noticed, the book re-fetched, and it goes on from the new snapshot
    page.wait_for_function(
        "Number(document.querySelector('[data-testid=book]').dataset.resyncs) === 1",
        timeout=30_000)
    page.locator("[data-testid=book][data-valid=true]").wait_for()
    state = page.evaluate("""() => {
        const b = window.tradehall.store.book;
        return {bids: b.bids.length, asks: b.asks.length, seq: b.seq};
    }""")
    assert state["bids"] > 0
    assert state["asks"] > 0


def test_every_control_has_a_label_and_the_ticket_works_by_keyboard(
        page: Page, demo: DemoServer) -> None:
    # Arrange
    log_in(page, demo)

    # Act: inputs and selects without a label or an aria-label
    unlabeled = page.evaluate("""() => [...document.querySelectorAll('input, select')]
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
        .map(el => el.outerHTML)""")
    page.get_by_label("Quantity").focus()
    page.keyboard.type("1")
    page.keyboard.press("Enter")

    # Assert: Enter submitted the form, and the empty limit price was caught on the page
    assert unlabeled == []
    expect(page.get_by_test_id("price-error")).to_have_text("price is required")
