"""Random and malformed requests to the native API never answer 500 and never change state.

Hypothesis drives a real server (on its own thread, `platform_in_thread`) with junk bodies,
params, path segments and headers from an unfunded trader, aimed also at another user's open
order. The bus is watched: any event that moves money or changes an order fails the test;
only refusals (`order_rejected`, `command_rejected`) may appear.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.kit.server import TestUser, ThreadedServer, platform_in_thread
from tradehall.trading import events as e

REFUSALS = (e.OrderRejected, e.CommandRejected)
FIELDS = ("symbol", "side", "type", "qty", "price", "stop_price", "time_in_force", "post_only",
          "reduce_only", "stp", "client_order_id", "asset", "amount", "username", "account")


class World:
    """The running server, its users, and every event seen on the bus since the start."""

    def __init__(self, server: ThreadedServer, fuzz: TestUser, victim: TestUser,
                 victim_order: str) -> None:
        self.server = server
        self.fuzz = fuzz
        self.victim = victim
        self.victim_order = victim_order
        self.events: list[e.EngineEvent] = []
        self.client = httpx.Client(base_url=server.base_url, timeout=10)

    async def watch(self) -> None:
        subscription = self.server.platform.bus.subscribe("fuzz-watch")
        asyncio.get_running_loop().create_task(self._collect(subscription))

    async def _collect(self, subscription: Any) -> None:
        async for batch in subscription:
            for result in batch.results:
                self.events.extend(result.events)

    def changes(self) -> list[e.EngineEvent]:
        """Events other than refusals seen so far (after the bus delivered everything)."""
        self.server.call(self.server.platform.read_model.wait_for(
            self.server.platform.bus.last_seq))
        self.server.call(asyncio.sleep(0.01))
        return [ev for ev in self.events if not isinstance(ev, REFUSALS)]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with platform_in_thread(tmp_path_factory.mktemp("fuzz")) as server:
        fuzz = server.create_user("fuzz", deposits={})
        victim = server.create_user("victim")
        with httpx.Client(base_url=server.base_url) as client:
            placed = client.post("/v1/orders", headers=victim.headers, json={
                "symbol": "BTC-USD", "side": "buy", "qty": "0.1", "price": "100.00"})
        assert placed.status_code == 201
        state = World(server, fuzz, victim, placed.json()["order"]["id"])
        server.call(state.watch())
        # The watcher must see what happens: a refused withdrawal shows up as a refusal.
        refused = state.client.post("/v1/withdrawals", headers=fuzz.headers,
                                    json={"asset": "USD", "amount": "1"})
        assert refused.status_code == 403
        state.changes()
        assert any(isinstance(ev, e.CommandRejected) for ev in state.events)
        yield state
        state.client.close()


decimal_like = st.one_of(
    st.sampled_from(["1", "0", "-1", "0.1", "1e3", "NaN", "Infinity", "-0", ".5", "5.",
                     "1" * 40, "0." + "0" * 30 + "1", "100.005", " 1 ", "1_000", "0x10",
                     "١٢", "", "1,5"]),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
)
junk = st.one_of(
    st.none(), st.booleans(), st.text(max_size=40), decimal_like,
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                         max_size=2),
    st.sampled_from(["BTC-USD", "EUR-USD", "buy", "sell", "limit", "market", "stop",
                     "stop_limit", "gtc", "ioc", "fok", "day", "cancel_both", "USD", "victim",
                     "fuzz"]),
)
bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), junk, max_size=len(FIELDS)),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8),
)
segments = st.one_of(st.text(min_size=1, max_size=80),
                     st.sampled_from(["BTC-USD", "EUR-USD", "00000000-0000-0000-0000-0000000"
                                      "00000", "..", "%00"]))


def assert_clean(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"code", "message", "field"}
        assert isinstance(body["code"], str)
        assert body["code"]


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(method_path=st.sampled_from([
    ("POST", "/v1/orders"), ("POST", "/v1/withdrawals"), ("POST", "/v1/admin/deposits"),
    ("POST", "/v1/admin/withdrawals"), ("PATCH", "/v1/orders/{victim}"),
    ("POST", "/v1/positions/BTC-USD/close"), ("POST", "/v1/positions/EUR-USD/close"),
]), body=bodies, raw=st.one_of(st.none(), st.binary(max_size=64)),
    key=st.one_of(st.none(), st.text(max_size=20)))
def test_native_api_when_body_is_random_never_500_and_changes_nothing(
        world: World, method_path: tuple[str, str], body: Any, raw: bytes | None,
        key: str | None) -> None:
    method, path = method_path
    headers = dict(world.fuzz.headers)
    if key is not None and key.isascii() and key.isprintable():
        headers["Idempotency-Key"] = key
    content = raw if raw is not None else json.dumps(body).encode()
    headers["Content-Type"] = "application/json"

    response = world.client.request(method, path.format(victim=world.victim_order),
                                    content=content, headers=headers)

    assert_clean(response)
    assert world.changes() == []


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(["/v1/orders", "/v1/fills", "/v1/positions", "/v1/balances"]),
       params=st.dictionaries(st.sampled_from(["status", "symbol", "limit", "cursor",
                                               "order_id"]),
                              st.one_of(st.text(max_size=300), decimal_like.map(str)),
                              max_size=5))
def test_native_api_when_query_is_random_never_500(world: World, path: str,
                                                   params: dict[str, str]) -> None:
    response = world.client.get(path, params=params, headers=world.fuzz.headers)

    assert_clean(response)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(method=st.sampled_from(["GET", "DELETE", "PATCH"]), segment=segments,
       victim=st.booleans())
def test_native_api_when_path_is_random_never_500_and_changes_nothing(
        world: World, method: str, segment: str, victim: bool) -> None:
    target = world.victim_order if victim else quote(segment, safe="")
    paths = [f"/v1/orders/{target}", f"/v1/instruments/{quote(segment, safe='')}",
             f"/v1/positions/{quote(segment, safe='')}/close"]

    for path in paths:
        response = world.client.request(method, path, headers=world.fuzz.headers,
                                        json={"qty": "0.05"} if method == "PATCH" else None)
        assert_clean(response)
    response = world.client.delete("/v1/orders", params={"symbol": segment},
                                   headers=world.fuzz.headers)
    assert_clean(response)
    assert world.changes() == []
    mine = world.client.get(f"/v1/orders/{world.victim_order}", headers=world.victim.headers)
    assert mine.json()["status"] == "new"
    assert mine.json()["qty"] == "0.1000"
