"""The fallback page and the dealing desk in a real browser against a live platform.

The scenario of issue 7 end to end on loopback: the platform goes into fallback; a user logs
in on the fallback page, sees their position and order, asks to close the one and to cancel
the other; a dealer (another browser context) on the desk page sees both requests, claims and
executes the close and rejects the cancel with a reason; the user's page shows both outcomes;
the desk's mode control returns the platform to normal and the dispatcher executes the close
exactly once (checked through the API). Also: a partial close off the lot grid never leaves
the page, a retried filing reuses its Idempotency-Key, a trader on the desk sees
`missing_role`, the page works inside an iframe of an allowed origin, and its layout at
phone, tablet and desktop widths (no horizontal scroll; screenshots in `var/screenshots/`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Request, Route, expect

from tests.browser.conftest import SCREENSHOTS, new_context
from tests.browser.kit import StaticSite, static_site
from tests.kit.server import TestUser, ThreadedServer, platform_in_thread

PASSWORD = "correct horse battery"  # the kit's default for created users
WIDTHS = {375: 812, 768: 1024, 1440: 900}


@pytest.fixture(scope="module")
def broker() -> Iterator[StaticSite]:
    """The broker's site (another loopback origin) that may frame the fallback page."""
    with static_site() as site:
        yield site


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory,
             broker: StaticSite) -> Iterator[ThreadedServer]:
    """A platform with the kit's market (no demo), short SLA thresholds, four-eyes above 500
    USD, a house account for manual executions, framable by the broker's site
    (`TRADEHALL_FRAME_ANCESTORS`)."""
    with platform_in_thread(tmp_path_factory.mktemp("fallback"),
                            frame_ancestors=[broker.origin], fallback_sla_warn_s=3,
                            fallback_sla_breach_s=3600, fallback_four_eyes_notional=50_000,
                            fallback_house_account="house") as srv:
        srv.create_user("house")
        yield srv


@pytest.fixture(scope="module")
def dealer(platform: ThreadedServer) -> TestUser:
    return platform.create_user("dealer1", roles=("dealer",))


@pytest.fixture(scope="module")
def maker(platform: ThreadedServer) -> TestUser:
    return platform.create_user("maker")


def _rest(platform: ThreadedServer, user: TestUser, method: str, path: str,
          expect_status: int | None = None, key: str | None = None, **kw: Any) -> Any:
    headers = dict(user.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    response = httpx.request(method, platform.base_url + path, headers=headers, timeout=10,
                             **kw)
    if expect_status is None:
        assert response.status_code < 300, response.text
    else:
        assert response.status_code == expect_status, response.text
    return response.json()


def _order(platform: ThreadedServer, user: TestUser, side: str, qty: str,
           price: str) -> dict[str, Any]:
    placed: dict[str, Any] = _rest(platform, user, "POST", "/v1/orders", json={
        "symbol": "EUR-USD", "side": side, "qty": qty, "price": price})
    return placed


def _set_mode(platform: ThreadedServer, dealer: TestUser, mode: str) -> None:
    changed = _rest(platform, dealer, "PUT", "/v1/desk/mode",
                    json={"mode": mode, "reason": "browser test"})
    assert changed["mode"] == mode


def _trader_with_position(platform: ThreadedServer, maker: TestUser, username: str,
                          qty: str = "100") -> tuple[TestUser, dict[str, Any]]:
    """A trader long `qty` EUR-USD with a resting buy of 10; the maker bids below, so a
    close at market fills at 1.09000 once the platform is back."""
    trader = platform.create_user(username)
    _order(platform, maker, "sell", qty, "1.10000")
    bought = _order(platform, trader, "buy", qty, "1.10000")
    assert bought["order"]["status"] == "filled"
    _order(platform, maker, "buy", "1000", "1.09000")
    resting = _order(platform, trader, "buy", "10", "1.01000")["order"]
    return trader, resting


def _log_in(page: Page, platform: ThreadedServer, path: str, username: str) -> None:
    page.goto(f"{platform.base_url}/app/{path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def _new_page(browser: Browser, width: int = 1440, height: int = 900) -> Page:
    page = new_context(browser, width, height).new_page()
    page.set_default_timeout(20_000)
    return page


def _request_item(page: Page, kind: str) -> Any:
    return page.locator(f"[data-testid=fb-requests] li[data-kind={kind}]")


def test_fallback_scenario_from_request_to_dispatch_executes_the_close_exactly_once(
        browser: Browser, platform: ThreadedServer, dealer: TestUser, maker: TestUser) -> None:
    # Arrange: a position and a resting order, then the platform goes into fallback
    alice, resting = _trader_with_position(platform, maker, "alice")
    _set_mode(platform, dealer, "fallback")
    user = _new_page(browser)
    desk = _new_page(browser)
    errors: list[str] = []
    for pg in (user, desk):
        pg.on("pageerror", lambda exc: errors.append(str(exc)))

    # Act 1: the user logs in, sees the position and the order, and files two requests
    user.goto(f"{platform.base_url}/app/fallback")
    expect(user.get_by_test_id("mode-banner")).to_have_attribute("data-mode", "fallback")
    _log_in(user, platform, "fallback.html", "alice")
    position = user.locator("[data-testid=fb-positions] [data-symbol='EUR-USD']")
    expect(position.get_by_test_id("position-qty")).to_have_text("100")
    expect(user.get_by_test_id("as-of")).to_contain_text("as of")
    order_row = user.locator(f"[data-testid=fb-orders] tr[data-order-id='{resting['id']}']")
    expect(order_row).to_be_visible()
    sent: list[Request] = []
    user.on("request", lambda r: sent.append(r) if r.method == "POST"
            and r.url.endswith("/v1/fallback/requests") else None)
    position.get_by_test_id("close-qty").fill("10.5")
    position.get_by_test_id("request-close").click()
    expect(position.get_by_test_id("close-qty-error")).to_have_text(
        "qty: 10.5 has more decimals than the lot size 1 allows")
    position.get_by_test_id("close-qty").fill("101")
    position.get_by_test_id("request-close").click()
    expect(position.get_by_test_id("close-qty-error")).to_have_text(
        "qty: is larger than the position")
    assert sent == []  # off the grid or above the position: nothing left the page
    position.get_by_test_id("close-qty").fill("")
    user.get_by_label("Note to the desk").fill("please close before the news")
    position.get_by_test_id("request-close").click()
    close_item = _request_item(user, "close_position")
    expect(close_item).to_have_attribute("data-status", "pending")
    expect(position.get_by_test_id("target-status")).to_have_text("Pending")
    order_row.get_by_test_id("request-cancel").click()
    cancel_item = _request_item(user, "cancel_order")
    expect(cancel_item).to_have_attribute("data-status", "pending")
    keys = [r.headers.get("idempotency-key") for r in sent]
    assert len(keys) == 2
    assert all(keys)
    assert keys[0] != keys[1]
    close_id = close_item.get_attribute("data-request-id")
    cancel_id = cancel_item.get_attribute("data-request-id")
    assert close_id
    assert cancel_id

    # Act 2: the dealer sees both, claims and executes the close, rejects the cancel
    _log_in(desk, platform, "desk.html", "dealer1")
    close_row = desk.locator(f"[data-testid=desk-queue] tr[data-request-id='{close_id}']")
    cancel_row = desk.locator(f"[data-testid=desk-queue] tr[data-request-id='{cancel_id}']")
    expect(close_row).to_contain_text("alice")
    expect(cancel_row).to_contain_text("alice")
    expect(close_row).to_contain_text("please close before the news")
    expect(desk.get_by_test_id("desk-summary").locator("[data-status=pending] .count-n")) \
        .to_have_text("2")
    close_row.get_by_test_id("claim").click()
    expect(close_row).to_have_attribute("data-status", "claimed")
    expect(close_row).to_contain_text("dealer1")
    close_row.get_by_test_id("open").click()
    expect(desk.get_by_test_id("context-positions")).to_contain_text("EUR-USD")
    expect(desk.get_by_test_id("context-orders")).to_contain_text("1.01000")
    close_row.get_by_test_id("execute").click()
    expect(close_row).to_have_attribute("data-status", "approved")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    desk.screenshot(path=SCREENSHOTS / "desk-1440.png", full_page=True)
    cancel_row.get_by_test_id("reject-open").click()
    desk.get_by_test_id("reject-code").select_option("market_closed")
    desk.get_by_test_id("reject-reason").fill("The order rests far from the market")
    desk.get_by_test_id("reject-submit").click()
    expect(cancel_row).to_have_count(0)  # rejected leaves the queue of open requests
    expect(desk.get_by_test_id("desk-result")).to_contain_text("rejected")

    # Assert 1: the user's page shows both outcomes without a reload
    expect(close_item).to_have_attribute("data-status", "approved")
    expect(cancel_item).to_have_attribute("data-status", "rejected")
    expect(cancel_item.get_by_test_id("request-outcome")).to_have_text(
        "market_closed: The order rests far from the market")
    assert _rest(platform, alice, "GET", f"/v1/fallback/requests/{close_id}")["status"] == \
        "approved"

    # Act 3: the desk returns the platform to normal; the dispatcher executes the close
    desk.get_by_label("New mode").select_option("normal")
    desk.get_by_label("Reason", exact=True).fill("maintenance over")
    desk.get_by_test_id("mode-submit").click()
    expect(desk.get_by_test_id("desk-mode")).to_have_attribute("data-mode", "normal")

    # Assert 2: executed with its price on the user's page, once, and nothing more after
    expect(close_item).to_have_attribute("data-status", "executed", timeout=30_000)
    expect(close_item.get_by_test_id("request-outcome")).to_have_text("100 at 1.09000")
    expect(user.get_by_test_id("mode-banner")).to_have_attribute("data-mode", "normal",
                                                                 timeout=10_000)
    expect(position).to_have_count(0, timeout=20_000)  # the snapshot is read again
    done = _rest(platform, alice, "GET", f"/v1/fallback/requests/{close_id}")
    assert (done["status"], done["price"], done["executed_qty"]) == (
        "executed", "1.09000", "100")
    fills = _rest(platform, alice, "GET", "/v1/fills?limit=100")["data"]
    closing = [f for f in fills if f["order_id"] == done["engine_order_id"]]
    assert len(closing) == 1
    assert (closing[0]["side"], closing[0]["qty"]) == ("sell", "100")
    assert closing[0]["client_order_id"].startswith("fb-")  # the dispatcher's own id
    assert len([f for f in fills if f["client_order_id"].startswith("fb-")]) == 1
    assert _rest(platform, alice, "GET", "/v1/positions")["data"] == []
    assert platform.call(platform.platform.fallback.dispatcher.run_once()) == 0
    assert _rest(platform, alice, "GET", "/v1/fills?limit=100")["data"] == fills
    rejected = _rest(platform, alice, "GET", f"/v1/fallback/requests/{cancel_id}")
    assert (rejected["status"], rejected["reject_code"]) == ("rejected", "market_closed")
    still = _rest(platform, alice, "GET", f"/v1/orders/{resting['id']}")
    assert still["status"] == "new"  # the rejected cancel was never sent
    assert errors == [], f"the pages raised: {errors}"
    for pg in (user, desk):
        pg.context.close()


def test_desk_manual_close_above_four_eyes_needs_a_second_dealer_then_is_booked(
        browser: Browser, platform: ThreadedServer, dealer: TestUser, maker: TestUser) -> None:
    # Arrange: a close worth about 1,100 USD, above the 500 USD four-eyes notional
    frank, _ = _trader_with_position(platform, maker, "frank", qty="1000")
    platform.create_user("dealer2", roles=("dealer",))
    _set_mode(platform, dealer, "fallback")
    [request] = _rest(platform, frank, "POST", "/v1/fallback/requests", expect_status=201,
                      key="frank-close", json={"kind": "close_position",
                                               "symbol": "EUR-USD"})["requests"]
    first, second = _new_page(browser), _new_page(browser)
    try:
        # Act: the first dealer executes it by hand at a price, off the tick grid first
        _log_in(first, platform, "desk", "dealer1")
        row = first.locator(f"[data-testid=desk-queue] tr[data-request-id='{request['id']}']")
        row.get_by_test_id("open").click()
        first.get_by_test_id("manual-price").fill("1.095001")
        first.get_by_test_id("execute-at").click()
        expect(first.get_by_test_id("manual-price-error")).to_have_text(
            "price: 1.095001 has more decimals than the tick size 0.00001 allows")
        first.get_by_test_id("manual-price").fill("1.09500")
        first.get_by_test_id("execute-at").click()

        # Assert: it awaits a second dealer, and the first cannot approve it
        expect(row).to_have_attribute("data-status", "awaiting_approval")
        expect(row.get_by_test_id("approve")).to_have_count(0)
        expect(first.get_by_test_id("desk-summary")
               .locator("[data-status=awaiting_approval] .count-n")).to_have_text("1")

        # Act: the second dealer approves it
        _log_in(second, platform, "desk", "dealer2")
        other = second.locator(
            f"[data-testid=desk-queue] tr[data-request-id='{request['id']}']")
        other.get_by_test_id("approve").click()

        # Assert: executed at the dealer's price for the user now, booked once back to normal
        expect(other).to_have_count(0)
        seen = _rest(platform, frank, "GET", f"/v1/fallback/requests/{request['id']}")
        assert (seen["status"], seen["execution"], seen["price"], seen["executed_qty"],
                seen["booking"]) == ("executed", "manual", "1.09500", "1000", "pending")
        _set_mode(platform, dealer, "normal")
        deadline = time.monotonic() + 20
        while seen["booking"] == "pending" and time.monotonic() < deadline:
            time.sleep(0.1)
            seen = _rest(platform, frank, "GET", f"/v1/fallback/requests/{request['id']}")
        assert seen["booking"] == "booked"
        assert _rest(platform, frank, "GET", "/v1/positions")["data"] == []
    finally:
        first.context.close()
        second.context.close()
        _set_mode(platform, dealer, "normal")


def test_filing_when_the_answer_is_lost_retries_with_the_same_idempotency_key(
        browser: Browser, platform: ThreadedServer, dealer: TestUser, maker: TestUser) -> None:
    # Arrange: the first answer to the filing is lost on its way back to the page
    bob, _ = _trader_with_position(platform, maker, "bob")
    _set_mode(platform, dealer, "fallback")
    page = _new_page(browser)
    keys: list[str | None] = []

    def lose_first_answer(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        keys.append(route.request.headers.get("idempotency-key"))
        response = route.fetch()  # the server files the request...
        if len(keys) == 1:
            route.abort("connectionreset")  # ...but the page never hears of it
        else:
            route.fulfill(response=response)

    page.route("**/v1/fallback/requests", lose_first_answer)
    try:
        # Act
        _log_in(page, platform, "fallback", "bob")
        position = page.locator("[data-testid=fb-positions] [data-symbol='EUR-USD']")
        position.get_by_test_id("close-qty").fill("40")
        position.get_by_test_id("request-close").click()

        # Assert: the retry carried the same key and the server filed one request
        item = _request_item(page, "close_position")
        expect(item).to_have_attribute("data-status", "pending")
        expect(item).to_contain_text("Close 40 of 100 EUR-USD long")
        assert len(keys) == 2
        assert keys[0]
        assert keys[0] == keys[1]
        mine = _rest(platform, bob, "GET", "/v1/fallback/requests")["requests"]
        assert [(r["kind"], r["qty"]) for r in mine] == [("close_position", "40")]

        # Act: withdraw it while pending
        item.get_by_test_id("withdraw").click()

        # Assert
        expect(item).to_have_attribute("data-status", "withdrawn")
        assert _rest(platform, bob, "GET", "/v1/fallback/requests")["requests"][0][
            "status"] == "withdrawn"
    finally:
        page.context.close()
        _set_mode(platform, dealer, "normal")


def test_desk_when_a_trader_logs_in_says_missing_role(
        browser: Browser, platform: ThreadedServer) -> None:
    platform.create_user("carol")
    page = _new_page(browser)
    try:
        _log_in(page, platform, "desk", "carol")

        expect(page.get_by_test_id("desk-forbidden")).to_have_text(
            "missing_role: this needs the dealer role")
        expect(page.get_by_role("heading", name="Not a dealer")).to_be_visible()
        expect(page.get_by_test_id("desk-queue")).to_have_count(0)
    finally:
        page.context.close()


def test_desk_queue_ages_run_and_old_requests_are_highlighted(
        browser: Browser, platform: ThreadedServer, dealer: TestUser, maker: TestUser) -> None:
    # Arrange: a pending request older than the SLA warning (3 s on this platform)
    dave, _ = _trader_with_position(platform, maker, "dave")
    _set_mode(platform, dealer, "fallback")
    filed = _rest(platform, dave, "POST", "/v1/fallback/requests", expect_status=201,
                  key="k1", json={"kind": "close_all"})
    [request] = filed["requests"]
    page = _new_page(browser)
    try:
        # Act
        _log_in(page, platform, "desk", "dealer1")
        page.get_by_label("Username", exact=True).fill("dave")
        page.get_by_label("Username", exact=True).dispatch_event("change")
        row = page.locator(f"[data-testid=desk-queue] tr[data-request-id='{request['id']}']")

        # Assert: only dave's request, its age ticking, flagged once past the warning
        expect(page.locator("[data-testid=desk-queue] tbody tr[data-request-id]")).to_have_count(1)
        first = row.get_by_test_id("age").inner_text()
        expect(row.get_by_test_id("age")).not_to_have_text(first, timeout=5_000)
        expect(row).to_have_attribute("data-sla", "warn", timeout=10_000)
        row.get_by_test_id("check").check()
        page.get_by_test_id("bulk-reject").click()
        expect(page.get_by_test_id("desk-result")).to_contain_text("reject: 1 done")
        expect(row).to_have_count(0)
    finally:
        page.context.close()
        _set_mode(platform, dealer, "normal")


def test_fallback_page_when_framed_by_an_allowed_site_loads_and_logs_in(
        browser: Browser, platform: ThreadedServer, broker: StaticSite, maker: TestUser) -> None:
    # Arrange: the broker's page (an allowed frame ancestor) embeds the fallback page
    _trader_with_position(platform, maker, "erin")
    context = browser.new_context(viewport={"width": 1024, "height": 900})  # CSP enforced
    page = context.new_page()
    page.set_default_timeout(20_000)
    broker.html = (f"<!doctype html><title>broker</title><iframe id=fb title='tradehall "
                   f"fallback' src='{platform.base_url}/app/fallback?embed=1' width=900 "
                   "height=800></iframe>")
    try:
        # Act
        page.goto(f"{broker.origin}/")
        frame = page.frame_locator("#fb")
        frame.get_by_label("Username").fill("erin")
        frame.get_by_label("Password").fill(PASSWORD)
        frame.get_by_role("button", name="Log in").click()

        # Assert: no page chrome in the frame, the banner and the account are there
        expect(frame.get_by_test_id("mode-banner")).to_be_visible()
        expect(frame.locator("[data-testid=fb-positions] [data-symbol='EUR-USD']")) \
            .to_be_visible()
        expect(frame.locator(".topbar")).to_have_count(0)
    finally:
        context.close()


def test_fallback_page_when_framed_by_a_site_not_allowed_is_refused(
        browser: Browser, platform: ThreadedServer) -> None:
    context = browser.new_context()  # CSP enforced
    page = context.new_page()
    try:
        with static_site() as other:
            other.html = (f"<!doctype html><iframe id=fb src='{platform.base_url}/app/fallback'>"
                          "</iframe>")
            with page.expect_response(lambda r: "/app/fallback" in r.url) as answered:
                page.goto(f"{other.origin}/")

            csp = answered.value.headers["content-security-policy"]
            assert "frame-ancestors " in csp
            assert other.origin not in csp
            page.wait_for_timeout(500)
            frame = next(f for f in page.frames if f != page.main_frame)
            assert not frame.url.startswith(platform.base_url)  # the browser blocked it
    finally:
        context.close()


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_fallback_layout_when_logged_in_fits_the_width_without_horizontal_scroll(
        browser: Browser, platform: ThreadedServer, dealer: TestUser, maker: TestUser,
        width: int) -> None:
    # Arrange: an account with a position, an order and a request in each outcome's place
    username = f"layout{width}"
    trader, resting = _trader_with_position(platform, maker, username)
    _set_mode(platform, dealer, "fallback")
    _rest(platform, trader, "POST", "/v1/fallback/requests", expect_status=201,
          json={"kind": "cancel_order", "order_id": resting["id"], "note": "a note " * 20})
    page = _new_page(browser, width, WIDTHS[width])
    try:
        # Act
        _log_in(page, platform, "fallback", username)
        page.locator("[data-testid=fb-positions] [data-symbol='EUR-USD']").wait_for()
        _request_item(page, "cancel_order").wait_for()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"fallback-{width}.png", full_page=True)

        # Assert
        overflow = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert overflow[0] <= overflow[1], f"scrollWidth {overflow[0]} > innerWidth {overflow[1]}"
        unlabeled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
            .map(el => el.outerHTML)""")
        assert unlabeled == []
    finally:
        page.context.close()
        _set_mode(platform, dealer, "normal")
