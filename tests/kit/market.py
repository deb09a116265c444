"""The test market: the assets and instruments the service tests trade (one per asset class)."""

from __future__ import annotations

from decimal import Decimal

from tradehall.kernel.ids import AssetCode, Symbol
from tradehall.trading.model import InstrumentKind, InstrumentSpec

ASSETS = {"USD": 2, "BTC": 8, "ETH": 8, "EUR": 2, "AAPL": 4}
INSTRUMENTS = (
    InstrumentSpec(symbol=Symbol("BTC-USD"), base=AssetCode("BTC"),
                   quote=AssetCode("USD"), tick_size=Decimal("0.01"),
                   lot_size=Decimal("0.0001")),
    InstrumentSpec(symbol=Symbol("ETH-USD"), base=AssetCode("ETH"),
                   quote=AssetCode("USD"), tick_size=Decimal("0.01"),
                   lot_size=Decimal("0.001")),
    InstrumentSpec(symbol=Symbol("EUR-USD"), kind=InstrumentKind.MARGIN, base=AssetCode("EUR"),
                   quote=AssetCode("USD"),
                   tick_size=Decimal("0.00001"), lot_size=Decimal("1"),
                   margin_rate=Decimal("0.05")),
    InstrumentSpec(symbol=Symbol("AAPL"), base=AssetCode("AAPL"),
                   quote=AssetCode("USD"), tick_size=Decimal("0.01"),
                   lot_size=Decimal("1")),
)
