"""Fixtures of the browser tests: Debian's chromium driven by Playwright, a live demo server.

The browser is `/usr/bin/chromium` (Debian's package; `python3 dev.py test` installs it when
missing). Outside CI a missing chromium or an unbuilt web app skips these tests with a message
naming what is missing; under CI=true they fail instead. Screenshots go to `var/screenshots/`
(git-ignored).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.browser.kit import DemoServer, demo_platform_in_thread
from tradehall.entrypoints.web.router import DIST

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"


def _require(ok: bool, what: str) -> None:
    if ok:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} (CI=true: the browser tests may not skip)")
    pytest.skip(what)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian chromium, one per test module."""
    _require(CHROMIUM.exists(), f"chromium is not installed ({CHROMIUM}): "
                                "apt-get install -y chromium, or run python3 dev.py test")
    _require((DIST / "index.html").exists(), "the web app is not built: python3 dev.py test "
                                             "builds it (npm ci && npm run build in web/)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """A live demo platform (makers and a taker moving the prices) on loopback."""
    with demo_platform_in_thread(tmp_path_factory.mktemp("platform")) as srv:
        yield srv


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page (its own storage) at the desktop width."""
    context = new_context(browser, 1440, 900)
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert errors == [], f"the page raised: {errors}"


def new_context(browser: Browser, width: int, height: int, **kwargs: Any) -> BrowserContext:
    """A browser context of a viewport size; the tests' own probes may run in the page even
    under the app's Content-Security-Policy (the app itself needs no such exception)."""
    return browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True,
                               **kwargs)


def log_in(page: Page, demo: DemoServer, index: int = 0, query: str = "") -> None:
    """Open the app and log in as a demo user; waits for the ticket and the account lists."""
    entry = demo.credentials[index]
    assert entry.password is not None
    page.goto(f"{demo.base_url}/app/{query}")
    page.get_by_label("Username").fill(entry.username)
    page.get_by_label("Password").fill(entry.password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_test_id("ticket").wait_for()
    page.get_by_test_id("open-orders").wait_for()
