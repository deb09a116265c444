"""Prometheus metrics of an API process: `/metrics` and the middleware that counts requests.

Requests are counted and timed per method, route *template* (`/v1/orders/{order_id}`, never
the concrete path, so ids cannot blow up the label set) and status; unmatched paths share one
label. The platform's state (engine and projection seqs, readiness, WebSocket clients, results
waited for) is read at scrape time. Each app has its own registry: no process-global state, so
several apps in one process (tests) do not mix their numbers. Aggregates only: no user,
account or key ever appears in a label.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tradehall.adapters.sql.projector import ShortfallTotals
from tradehall.entrypoints.api.ws.feed import MarketDataFeed

if TYPE_CHECKING:
    from tradehall.bootstrap import Platform

router = APIRouter(tags=["health"])
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class ApiMetrics:
    """The registry of one app and its request instruments."""

    def __init__(self, platform: Platform | None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("tradehall_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=self.registry)
        self.duration = Histogram("tradehall_http_request_duration_seconds",
                                  "Time from request to the end of the response",
                                  ["method", "route"], buckets=_BUCKETS,
                                  registry=self.registry)
        if platform is not None:
            self.registry.register(_PlatformCollector(platform))


class _PlatformCollector(Collector):
    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    def collect(self) -> Iterable[Metric]:
        platform = self._platform
        engine = platform.engine
        ready = (platform.fallback.modes.reachable if platform.role == "fallback"
                 else engine.is_ready())
        for name, doc, value in (
                ("tradehall_ready", "1 when the process accepts orders (/healthz 200)",
                 1 if ready else 0),
                ("tradehall_engine_seq", "Newest engine seq this process has seen",
                 engine.last_seq),
                ("tradehall_projected_seq", "Newest seq in the read models, as last read",
                 platform.read_model.last_seq)):
            yield GaugeMetricFamily(name, doc, value=value)
        feed = next((c for c in platform.components if isinstance(c, MarketDataFeed)), None)
        if feed is not None:
            yield GaugeMetricFamily("tradehall_ws_clients", "Open /v1/ws connections",
                                    value=len(feed.connections))
        if platform.shortfalls is not None:
            yield from shortfall_metrics(platform.shortfalls)


def shortfall_metrics(totals: ShortfallTotals) -> list[CounterMetricFamily]:
    """Counters of the loss shortfalls a projector committed, by asset (a bounded label set),
    in the asset's minor units: alert on `uncovered`, a loss the insurance fund could not pay."""
    families: list[CounterMetricFamily] = [
        CounterMetricFamily("tradehall_loss_shortfalls",
                            "Realized losses larger than the account could pay", labels=["asset"]),
        CounterMetricFamily("tradehall_loss_shortfall_minor_units",
                            "Minor units of those losses the accounts could not pay",
                            labels=["asset"]),
        CounterMetricFamily("tradehall_loss_shortfall_covered_minor_units",
                            "Minor units the insurance fund paid of them", labels=["asset"]),
        CounterMetricFamily("tradehall_loss_shortfall_uncovered_minor_units",
                            "Minor units left on @clearing (the fund was short)",
                            labels=["asset"]),
    ]
    for asset, values in sorted(dict(totals.by_asset).items()):
        for family, value in zip(families, values, strict=True):
            family.add_metric([asset], value)
    return families


@router.get("/metrics", summary="Prometheus metrics of this process",
            response_class=Response)
async def metrics(request: Request) -> Response:
    """The process's metrics in Prometheus' text format (aggregates only)."""
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Counts and times every HTTP request by route template and status."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.duration.labels(method, template).observe(
                time.perf_counter() - start)
