"""`tradehall serve` as a newcomer runs it: a real process, the demo market, a restart.

The server runs as a subprocess on a free loopback port with a temporary data directory. The
tests read the demo credentials file, watch the demo market trade, place an order with a demo
user's API key, stop the server with SIGINT (exit status 0), start it again on the same folder
and find the same users, the order and the balances as they were.
"""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.kit.serve_process import ServeProcess, key_headers, tradehall

pytestmark = pytest.mark.slow


SYMBOLS = ("BTC-USD", "ETH-USD", "EUR-USD", "AAPL")


def _trades(server: ServeProcess) -> set[tuple[str, int]]:
    """(symbol, trade id) of the recent trades of every demo instrument (public REST)."""
    seen = set()
    for symbol in SYMBOLS:
        response = httpx.get(f"{server.base_url}/v1/markets/{symbol}/trades?limit=100",
                             timeout=10)
        assert response.status_code == 200, response.text
        seen |= {(symbol, int(t["id"])) for t in response.json()["trades"]}
    return seen


def _wait_for_new_trades(server: ServeProcess, known: set[tuple[str, int]],
                         timeout: float = 20) -> set[tuple[str, int]]:
    deadline = time.monotonic() + timeout
    seen = _trades(server)
    while not seen - known and time.monotonic() < deadline:
        time.sleep(0.25)
        seen = _trades(server)
    return seen


def _get(server: ServeProcess, path: str, entry: dict[str, Any]) -> Any:
    response = httpx.get(server.base_url + path, headers=key_headers(entry), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_serve_when_demo_is_on_runs_a_live_market_that_survives_a_restart(
        tmp_path: Path) -> None:
    # Arrange: a fresh data directory, the server with the demo market (the default)
    data_dir = tmp_path / "platform"
    server = ServeProcess(data_dir)
    with server:
        users = server.credentials()
        assert [u["username"] for u in users] == ["alice", "bob", "carol", "dealer"]
        assert all(u["password"] and u["api_key_id"] and u["api_secret_key"] for u in users)
        alice = users[0]

        # Act: the market moves by itself
        first = _wait_for_new_trades(server, set())
        later = _wait_for_new_trades(server, first)

        # Assert
        assert first
        assert later - first
        book = httpx.get(f"{server.base_url}/v1/markets/BTC-USD/book", timeout=10).json()
        assert len(book["bids"]) >= 3
        assert len(book["asks"]) >= 3
        login = httpx.post(server.base_url + "/v1/auth/login", timeout=10,
                           json={"username": "bob", "password": users[1]["password"]})
        assert login.status_code == 200, login.text

        # Act: alice bids far below the market (inside the price band), so it rests
        placed = httpx.post(server.base_url + "/v2/orders", headers=key_headers(alice),
                            timeout=10, json={"symbol": "BTC-USD", "qty": "0.01",
                                              "side": "buy", "type": "limit",
                                              "limit_price": "50000", "time_in_force": "gtc"})
        assert placed.status_code == 200, placed.text
        order = placed.json()
        balances = _get(server, "/v1/balances", alice)
        usd = next(b for b in balances["data"] if b["asset"] == "USD")
        assert usd["held"] == "500.50"  # 0.01 BTC at 50,000 plus the 0.1% taker fee held

        # Act: Ctrl-C
        started = time.monotonic()
        code = server.stop(signal.SIGINT)

        # Assert: a clean stop, within seconds
        assert code == 0, server.output()
        assert time.monotonic() - started < 15

    # Act: start again on the same folder
    again = ServeProcess(data_dir)
    with again:
        # Assert: same users and keys, the order still resting, balances as they were
        assert again.credentials() == users
        fetched = _get(again, f"/v2/orders/{order['id']}", alice)
        assert fetched["status"] == "new"
        assert fetched["limit_price"] == order["limit_price"]
        assert _get(again, "/v1/balances", alice) == balances
        assert _wait_for_new_trades(again, set())
        assert again.stop(signal.SIGTERM) == 0, again.output()


def test_serve_when_no_demo_starts_an_empty_platform(tmp_path: Path) -> None:
    # Arrange
    data_dir = tmp_path / "empty"

    # Act
    with ServeProcess(data_dir, "--no-demo") as server:
        instruments = httpx.get(server.base_url + "/v1/instruments", timeout=10)
        code = server.stop()

    # Assert
    assert instruments.status_code == 200, instruments.text
    assert instruments.json()["data"] == []
    assert not (data_dir / "demo-credentials.json").exists()
    assert code == 0


def test_serve_when_the_folder_is_in_use_refuses_in_one_line(tmp_path: Path) -> None:
    # Arrange
    data_dir = tmp_path / "busy"
    with ServeProcess(data_dir, "--no-demo"):
        second = ServeProcess(data_dir, "--no-demo")

        # Act
        with pytest.raises(AssertionError, match="exited with 1") as refused:
            second.start()

    # Assert
    lines = [line for line in second.output().splitlines() if line.startswith("error:")]
    assert lines == [f"error: cannot serve {data_dir}: its journal is locked by another "
                     f"running tradehall"], refused.value


def test_serve_when_the_port_is_taken_exits_1_and_says_so(tmp_path: Path) -> None:
    # Arrange: something else listens on the port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        # Act
        result = tradehall("serve", "--port", str(port), "--data-dir", str(tmp_path / "p"),
                           "--no-demo", timeout=90)

    # Assert
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"error: cannot listen on 127.0.0.1:{port}" in result.stderr.splitlines()
