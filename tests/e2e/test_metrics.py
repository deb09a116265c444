"""`/metrics`: Prometheus text with requests per route template and status, and the platform's
state; aggregates only, nothing that names a user."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.kit.server import running_platform


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def test_metrics_when_scraped_count_requests_by_route_template(tmp_path: Path) -> None:
    # Arrange
    async with running_platform(tmp_path) as server:
        user = await server.create_user("meg")
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            placed = await client.post("/v1/orders", headers=user.headers, json={
                "symbol": "BTC-USD", "side": "buy", "qty": "0.5", "price": "100.00"})
            order_id = placed.json()["order"]["id"]
            await client.get(f"/v1/orders/{order_id}", headers=user.headers)
            await client.get("/v1/orders/not-an-order", headers=user.headers)
            await client.get("/no/such/path")

            # Act
            scraped = await client.get("/metrics")

    # Assert
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    samples = _samples(scraped.text)
    requests = "tradehall_http_requests_total"
    assert samples[(requests, (("method", "POST"), ("route", "/v1/orders"),
                               ("status", "201")))] == 1
    by_id = "/v1/orders/{order_id}"
    assert samples[(requests, (("method", "GET"), ("route", by_id), ("status", "200")))] == 1
    assert samples[(requests, (("method", "GET"), ("route", by_id), ("status", "404")))] == 1
    assert samples[(requests, (("method", "GET"), ("route", "unmatched"),
                               ("status", "404")))] == 1
    assert samples[("tradehall_http_request_duration_seconds_count",
                    (("method", "POST"), ("route", "/v1/orders")))] == 1
    assert samples[("tradehall_ready", ())] == 1
    assert samples[("tradehall_engine_seq", ())] >= 1
    assert ("tradehall_ws_clients", ()) in samples
    # This process projects: its loss shortfall counters are there (no shortfall yet)
    assert "# TYPE tradehall_loss_shortfall_uncovered_minor_units_total counter" in scraped.text
    assert "meg" not in scraped.text
    assert order_id not in scraped.text
