"""Reference data at the edge: assets and instruments, kept current from the event stream.

The edge converts decimal strings into the engine's integers before a command is sequenced,
so it needs every instrument's tick and lot size and every asset's scale. This copy is seeded
from the engine (or, in scale-out, from the read models) and updated by the `AssetAdded`,
`InstrumentAdded` and `InstrumentStatusChanged` events of each batch. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from tradehall.engine.queries import InstrumentView
from tradehall.kernel.errors import InvalidInput, NotFound
from tradehall.kernel.ids import AssetCode, Symbol
from tradehall.kernel.numeric import format_units, parse_units, step_for_scale
from tradehall.service.messages import EventBatch
from tradehall.trading import events as e
from tradehall.trading.instrument import Instrument
from tradehall.trading.model import InstrumentStatus


class ReferenceData:
    """Assets with their scales and instruments in their working (converting) form."""

    def __init__(self) -> None:
        self.asset_scales: dict[AssetCode, int] = {}
        self.instruments: dict[Symbol, Instrument] = {}

    def load(self, asset_scales: dict[AssetCode, int],
             instruments: Iterable[InstrumentView]) -> None:
        """Replace the contents with a snapshot of the engine's reference data."""
        self.asset_scales = dict(asset_scales)
        self.instruments = {}
        for view in instruments:
            inst = Instrument(view.spec, view.base_scale, view.quote_scale)
            inst.status = view.status
            self.instruments[view.spec.symbol] = inst

    def apply(self, batch: EventBatch) -> None:
        """Take in the reference-data events of a batch."""
        for result in batch.results:
            for ev in result.events:
                if isinstance(ev, e.AssetAdded):
                    self.asset_scales[ev.asset] = ev.scale
                elif isinstance(ev, e.InstrumentAdded):
                    spec = ev.spec
                    self.instruments[spec.symbol] = Instrument(
                        spec, self.asset_scales[spec.base], self.asset_scales[spec.quote])
                elif isinstance(ev, e.InstrumentStatusChanged):
                    self.instruments[ev.symbol].status = ev.status

    # -- Lookups and conversions ----------------------------------------------------------------

    def instrument(self, symbol: str) -> Instrument:
        """Return an instrument or raise NotFound (code `unknown_symbol`)."""
        inst = self.instruments.get(Symbol(symbol))
        if inst is None:
            raise NotFound(f"instrument {symbol} is not defined", code="unknown_symbol")
        return inst

    def scale(self, asset: str) -> int:
        """Return an asset's scale or raise InvalidInput (code `unknown_asset`)."""
        scale = self.asset_scales.get(AssetCode(asset))
        if scale is None:
            raise InvalidInput("asset", f"asset {asset} is not defined", code="unknown_asset")
        return scale

    def parse_amount(self, asset: str, value: object, field: str = "amount") -> int:
        """Convert a positive decimal amount of an asset into minor units."""
        return parse_units(value, step_for_scale(self.scale(asset)), field)

    def format_amount(self, asset: str, units: int) -> str:
        """Render minor units of an asset as a decimal string (negative allowed)."""
        step = step_for_scale(self.scale(asset))
        text = format_units(abs(units), step)
        return f"-{text}" if units < 0 else text

    def is_trading(self, symbol: str) -> bool:
        """Return True when the instrument accepts new orders of any kind."""
        return self.instrument(symbol).status is InstrumentStatus.TRADING
