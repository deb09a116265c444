"""Trading vocabulary: sides, order types, time in force, self-trade prevention, instrument
kinds and statuses, and `InstrumentSpec`, the definition of an instrument as an operator gives
it. The engine's working form with integer conversions is `trading/instrument.py`. Pure.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

import msgspec
from msgspec import UNSET, UnsetType

from tradehall.kernel.ids import AssetCode, Symbol


class InstrumentKind(StrEnum):
    SPOT = "spot"
    MARGIN = "margin"
    BINARY_OPTION = "binary_option"  # reserved: accepted by the schema, refused by the engine


class InstrumentStatus(StrEnum):
    TRADING = "trading"
    HALTED = "halted"
    CLOSE_ONLY = "close_only"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class TimeInForce(StrEnum):
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    DAY = "day"


class SelfTradePrevention(StrEnum):
    """What happens when an order would trade against its own account's resting order.

    The mode is the incoming order's. The default is `cancel_newest`: the incoming order's
    remaining quantity is canceled and the resting order keeps its place.
    """

    NONE = "none"
    CANCEL_NEWEST = "cancel_newest"
    CANCEL_OLDEST = "cancel_oldest"
    CANCEL_BOTH = "cancel_both"


DEFAULT_STP = SelfTradePrevention.CANCEL_NEWEST
DEFAULT_ASSET_SCALE = 8


class InstrumentSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Definition of a tradable instrument, as given by an operator."""

    symbol: Symbol
    kind: InstrumentKind = InstrumentKind.SPOT
    base: AssetCode
    quote: AssetCode
    tick_size: Decimal
    lot_size: Decimal
    min_qty: Decimal | None = None
    max_qty: Decimal | None = None
    price_band: Decimal | None = None
    maker_fee: Decimal = Decimal(0)
    taker_fee: Decimal = Decimal(0)
    margin_rate: Decimal | None = None
    # UNSET is left out of the encoding, so a spec without these encodes, and the engine
    # state hashes, exactly as before the fields existed: older snapshots still verify. Read
    # them through the functions below (None: no liquidation; 0: no fee).
    maintenance_margin_rate: Decimal | UnsetType | None = UNSET
    liquidation_fee_rate: Decimal | UnsetType = UNSET
    stop_collar: Decimal = Decimal("0.05")
    status: InstrumentStatus = InstrumentStatus.TRADING


def maintenance_margin_rate(spec: InstrumentSpec) -> Decimal | None:
    """Return the spec's maintenance margin rate, None when it sets none."""
    rate = spec.maintenance_margin_rate
    return None if isinstance(rate, UnsetType) else rate


def liquidation_fee_rate(spec: InstrumentSpec) -> Decimal:
    """Return the spec's liquidation fee rate, 0 when it sets none."""
    rate = spec.liquidation_fee_rate
    return Decimal(0) if isinstance(rate, UnsetType) else rate
