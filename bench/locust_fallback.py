"""Locust scenario of the fallback: users who follow their requests, dealers who work them.

Run by `bench/fallback_load.py`, which starts the server, creates the users and passes their
logins in the file named by `TRADEHALL_LOAD_USERS` (JSON: {"users": [...], "dealers": [...]}).
A fallback user logs in once, then mostly polls (snapshot, changed requests) and now and then
files a cancel of one of their open orders or the close of their position; a dealer takes the
oldest pending requests from the queue and executes or rejects them.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from typing import Any

from locust import HttpUser, between, task

_LOGINS: dict[str, list[str]] = json.loads(
    open(os.environ["TRADEHALL_LOAD_USERS"], encoding="utf-8").read())  # noqa: SIM115
_lock = threading.Lock()
_next_user = itertools.count()
_next_dealer = itertools.count()


def _take(kind: str, counter: itertools.count[int]) -> str:
    with _lock:
        names = _LOGINS[kind]
        return names[next(counter) % len(names)]


class _LoggedIn(HttpUser):
    abstract = True
    password = "load test password"
    token = ""
    refresh_token = ""
    renew_at = 0.0

    def login(self, username: str) -> None:
        """Log in like a real client: on 429 wait the Retry-After and try again. The time
        until admitted is reported as its own entry ("login until admitted")."""
        started = time.perf_counter()
        for _ in range(120):
            with self.client.post("/v1/auth/login", json={"username": username,
                                                          "password": self.password},
                                  name="POST /v1/auth/login", catch_response=True) as resp:
                if resp.status_code == 429:
                    resp.success()  # the server asked us to come back: not an error
                    wait = float(resp.headers.get("Retry-After", "1") or 1)
                elif resp.status_code != 200:
                    resp.failure(f"login {resp.status_code}: {resp.text[:200]}")
                    return
                else:
                    self._use(resp.json())
                    self.environment.events.request.fire(
                        request_type="LOGIN", name="login until admitted",
                        response_time=(time.perf_counter() - started) * 1000,
                        response_length=0, exception=None, context={})
                    return
            time.sleep(wait)  # gevent patches it: only this user waits

    def _use(self, body: dict[str, Any]) -> None:
        self.token = body["access_token"]
        self.refresh_token = body.get("refresh_token", "")
        # Renew a minute before the access token expires, as the web pages do.
        self.renew_at = time.monotonic() + max(30.0, float(body.get("expires_in", 900)) - 60)
        self.client.headers["Authorization"] = f"Bearer {self.token}"

    def fresh(self) -> None:
        """Refresh the access token when it is about to expire (sessions outlive tokens)."""
        if not self.refresh_token or time.monotonic() < self.renew_at:
            return
        with self.client.post("/v1/auth/refresh", json={"refresh_token": self.refresh_token},
                              name="POST /v1/auth/refresh", catch_response=True) as resp:
            if resp.status_code == 200:
                self._use(resp.json())
            else:
                resp.failure(f"refresh {resp.status_code}: {resp.text[:200]}")


class FallbackUser(_LoggedIn):
    """A user of the broker during fallback: look, ask, follow."""

    weight = 50
    wait_time = between(2, 6)

    def on_start(self) -> None:
        self.username = _take("users", _next_user)
        self.since_ns = 0
        self.asked: set[str] = set()
        self.login(self.username)

    @task(4)
    def poll_requests(self) -> None:
        self.fresh()
        resp = self.client.get("/v1/fallback/requests",
                               params={"updated_after": self.since_ns, "limit": 50},
                               name="GET /v1/fallback/requests?updated_after")
        if resp.status_code == 200:
            self.since_ns = time.time_ns() - 5_000_000_000  # overlap covers clock skew

    @task(2)
    def snapshot(self) -> None:
        self.fresh()
        self.client.get("/v1/fallback/snapshot", name="GET /v1/fallback/snapshot")

    @task(1)
    def ask(self) -> None:
        self.fresh()
        resp = self.client.get("/v1/fallback/snapshot", name="GET /v1/fallback/snapshot")
        if resp.status_code != 200:
            return
        body: dict[str, Any] = resp.json()
        pending = {r.get("order_id") or r.get("symbol") for r in body.get("requests", [])}
        for order in body.get("orders", []):
            oid = order.get("id")
            if oid and oid not in self.asked and oid not in pending:
                self.asked.add(oid)
                self._file({"kind": "cancel_order", "order_id": oid}, f"c-{oid}")
                return
        for position in body.get("positions", []):
            symbol = position.get("symbol")
            if symbol and symbol not in self.asked and symbol not in pending:
                self.asked.add(symbol)
                self._file({"kind": "close_position", "symbol": symbol}, f"p-{symbol}")
                return

    def _file(self, body: dict[str, str], key: str) -> None:
        with self.client.post("/v1/fallback/requests", json=body, name="POST /v1/fallback/requests",
                              headers={"Idempotency-Key": f"{self.username}-{key}"},
                              catch_response=True) as resp:
            # 409: one open request per order or position already exists (another poller).
            if resp.status_code in (200, 201, 409):
                resp.success()


class Dealer(_LoggedIn):
    """A dealing-desk operator working the queue from the oldest."""

    weight = 1
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.login(_take("dealers", _next_dealer))
        self.turn = 0

    @task
    def work(self) -> None:
        self.fresh()
        resp = self.client.get("/v1/desk/queue", params={"status": "pending", "limit": 20},
                               name="GET /v1/desk/queue")
        if resp.status_code != 200:
            return
        ids = [r["id"] for r in resp.json().get("requests", [])][:10]
        if not ids:
            return
        self.turn += 1
        action = "reject" if self.turn % 4 == 0 else "execute"
        body: dict[str, Any] = {"ids": ids, "action": action}
        if action == "reject":
            body["code"] = "contact_support"
        with self.client.post("/v1/desk/bulk", json=body, name="POST /v1/desk/bulk",
                              catch_response=True) as resp2:
            if resp2.status_code == 200:
                resp2.success()

