"""The loss shortfall counters as Prometheus renders them: per asset, in minor units."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from tradehall.adapters.sql.projector import ShortfallTotals
from tradehall.entrypoints.api.metrics import shortfall_metrics
from tradehall.kernel.ids import AccountId, AssetCode, Symbol
from tradehall.trading import events as e

USD, EUR = AssetCode("USD"), AssetCode("EUR")


class _Totals(Collector):
    def __init__(self, totals: ShortfallTotals) -> None:
        self.totals = totals

    def collect(self) -> list[Metric]:
        return list(shortfall_metrics(self.totals))


def _shortfall(asset: AssetCode, shortfall: int, covered: int) -> e.LossShortfall:
    return e.LossShortfall(account=AccountId("alice"), symbol=Symbol("XYZ-PERP"), asset=asset,
                           shortfall=shortfall, covered=covered, uncovered=shortfall - covered)


def test_shortfall_metrics_when_rendered_sum_each_asset_apart() -> None:
    # Arrange
    totals = ShortfallTotals()
    for ev in (_shortfall(USD, 45_00, 20_00), _shortfall(USD, 10_00, 10_00),
               _shortfall(EUR, 3_00, 0)):
        totals.add(ev)
    registry = CollectorRegistry()
    registry.register(_Totals(totals))

    # Act
    text = generate_latest(registry).decode()

    # Assert
    samples = {(s.name, s.labels["asset"]): s.value
               for family in text_string_to_metric_families(text) for s in family.samples
               if not s.name.endswith("_created")}
    assert samples == {
        ("tradehall_loss_shortfalls_total", "EUR"): 1,
        ("tradehall_loss_shortfalls_total", "USD"): 2,
        ("tradehall_loss_shortfall_minor_units_total", "EUR"): 3_00,
        ("tradehall_loss_shortfall_minor_units_total", "USD"): 55_00,
        ("tradehall_loss_shortfall_covered_minor_units_total", "EUR"): 0,
        ("tradehall_loss_shortfall_covered_minor_units_total", "USD"): 30_00,
        ("tradehall_loss_shortfall_uncovered_minor_units_total", "EUR"): 3_00,
        ("tradehall_loss_shortfall_uncovered_minor_units_total", "USD"): 25_00,
    }
    assert "alice" not in text
