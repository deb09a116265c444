"""What the demo market is made of: assets, instruments, demo users, market-maker accounts.

Pure data and the engine commands that create it. Prices and sizes are written as decimals like
an operator would; `instrument_commands` turns them into engine commands, and the market makers
convert through each instrument's own grid. Nothing here talks to the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from msgspec import UNSET

from tradehall.kernel.ids import AccountId, AssetCode, Symbol
from tradehall.trading import commands as c
from tradehall.trading.model import InstrumentKind, InstrumentSpec

ASSETS: tuple[tuple[str, int], ...] = (
    ("USD", 2), ("BTC", 8), ("ETH", 8), ("EUR", 2), ("AAPL", 0),
)


@dataclass(frozen=True, slots=True)
class DemoInstrument:
    """One demo instrument: its definition plus how the market makers quote it.

    `vol_bp` is the standard deviation of one random-walk step of the mid (one requote), in
    basis points; `half_spread_bp` the distance of the best quotes from the mid; `level_bp` the
    distance between quote levels; `quote_lots` the range of a level's size in lots;
    `take_lots` the range of a taker order's size.
    """

    spec: InstrumentSpec
    mid: Decimal
    vol_bp: Decimal
    half_spread_bp: Decimal
    level_bp: Decimal
    quote_lots: tuple[int, int]
    take_lots: tuple[int, int]
    maker_inventory: tuple[tuple[str, Decimal], ...]

    @property
    def symbol(self) -> Symbol:
        return self.spec.symbol

    @property
    def maker_account(self) -> AccountId:
        return AccountId(f"demo:mm-{self.spec.symbol.lower()}")


def _spec(symbol: str, kind: InstrumentKind, base: str, quote: str, *, tick: str, lot: str,
          maker_fee: str, taker_fee: str, band: str, margin_rate: str | None = None,
          maintenance_margin_rate: str | None = None,
          liquidation_fee_rate: str | None = None) -> InstrumentSpec:
    return InstrumentSpec(
        symbol=Symbol(symbol), kind=kind, base=AssetCode(base), quote=AssetCode(quote),
        tick_size=Decimal(tick), lot_size=Decimal(lot), maker_fee=Decimal(maker_fee),
        taker_fee=Decimal(taker_fee), price_band=Decimal(band),
        margin_rate=None if margin_rate is None else Decimal(margin_rate),
        maintenance_margin_rate=(UNSET if maintenance_margin_rate is None
                                 else Decimal(maintenance_margin_rate)),
        liquidation_fee_rate=(UNSET if liquidation_fee_rate is None
                              else Decimal(liquidation_fee_rate)))


INSTRUMENTS: tuple[DemoInstrument, ...] = (
    DemoInstrument(
        spec=_spec("BTC-USD", InstrumentKind.SPOT, "BTC", "USD", tick="0.01", lot="0.0001",
                   maker_fee="0.0005", taker_fee="0.001", band="0.25"),
        mid=Decimal("60000"), vol_bp=Decimal("3"), half_spread_bp=Decimal("1.5"),
        level_bp=Decimal("1"), quote_lots=(500, 5_000), take_lots=(10, 2_000),
        maker_inventory=(("BTC", Decimal("200")), ("USD", Decimal("20000000")))),
    DemoInstrument(
        spec=_spec("ETH-USD", InstrumentKind.SPOT, "ETH", "USD", tick="0.01", lot="0.001",
                   maker_fee="0.0005", taker_fee="0.001", band="0.25"),
        mid=Decimal("3000"), vol_bp=Decimal("4"), half_spread_bp=Decimal("2"),
        level_bp=Decimal("1.5"), quote_lots=(500, 8_000), take_lots=(10, 3_000),
        maker_inventory=(("ETH", Decimal("5000")), ("USD", Decimal("20000000")))),
    DemoInstrument(
        spec=_spec("EUR-USD", InstrumentKind.MARGIN, "EUR", "USD", tick="0.00001", lot="1000",
                   maker_fee="0", taker_fee="0.00002", band="0.05", margin_rate="0.05",
                   maintenance_margin_rate="0.025", liquidation_fee_rate="0.005"),
        mid=Decimal("1.08"), vol_bp=Decimal("0.5"), half_spread_bp=Decimal("0.4"),
        level_bp=Decimal("0.3"), quote_lots=(100, 2_000), take_lots=(1, 500),
        maker_inventory=(("USD", Decimal("50000000")),)),
    DemoInstrument(
        spec=_spec("AAPL", InstrumentKind.SPOT, "AAPL", "USD", tick="0.01", lot="1",
                   maker_fee="0", taker_fee="0.0005", band="0.15"),
        mid=Decimal("190"), vol_bp=Decimal("2"), half_spread_bp=Decimal("1"),
        level_bp=Decimal("1"), quote_lots=(20, 400), take_lots=(1, 150),
        maker_inventory=(("AAPL", Decimal("500000")), ("USD", Decimal("20000000")))),
)

BY_SYMBOL: dict[str, DemoInstrument] = {inst.spec.symbol: inst for inst in INSTRUMENTS}


@dataclass(frozen=True, slots=True)
class DemoUser:
    """A demo user: a login, its roles, and what is deposited into its account once."""

    username: str
    deposits: tuple[tuple[str, Decimal], ...]
    roles: tuple[str, ...] = ("trader",)


# Enough cash to buy a lot of every instrument (one BTC is ~60,000 USD), plus some of each
# spot asset so a newcomer can sell before buying.
_USER_DEPOSITS: tuple[tuple[str, Decimal], ...] = (
    ("USD", Decimal("1000000")), ("BTC", Decimal("2")), ("ETH", Decimal("20")),
    ("AAPL", Decimal("500")),
)
USERS: tuple[DemoUser, ...] = (
    *(DemoUser(name, _USER_DEPOSITS) for name in ("alice", "bob", "carol")),
    # The dealing desk's demo operator (fallback requests, /app/desk); a trader too.
    DemoUser("dealer", _USER_DEPOSITS, roles=("trader", "dealer")),
)

# The house account on the other side of the desk's manual executions in the demo.
HOUSE_ACCOUNT = AccountId("demo:house")
HOUSE_INVENTORY: tuple[tuple[str, Decimal], ...] = (
    ("USD", Decimal("100000000")), ("BTC", Decimal("500")), ("ETH", Decimal("10000")),
    ("AAPL", Decimal("1000000")),
)

# The taker flow: an account of its own that trades against the makers now and then. Demo
# accounts contain ':', which no username may, so no user can ever log into one.
TAKER_ACCOUNT = AccountId("demo:taker")
TAKER_INVENTORY: tuple[tuple[str, Decimal], ...] = (
    ("USD", Decimal("50000000")), ("BTC", Decimal("200")), ("ETH", Decimal("5000")),
    ("AAPL", Decimal("500000")),
)


def asset_commands(existing: set[str]) -> list[c.AddAsset]:
    """Return the commands that add the demo assets not yet defined."""
    return [c.AddAsset(asset=AssetCode(code), scale=scale)
            for code, scale in ASSETS if code not in existing]


def instrument_commands(existing: set[str]) -> list[c.AddInstrument]:
    """Return the commands that add the demo instruments not yet defined."""
    return [c.AddInstrument(spec=inst.spec) for inst in INSTRUMENTS
            if inst.spec.symbol not in existing]


def system_funding() -> list[tuple[AccountId, str, Decimal]]:
    """Return (account, asset, amount) of every maker's and the taker's inventory."""
    out = [(inst.maker_account, asset, amount)
           for inst in INSTRUMENTS for asset, amount in inst.maker_inventory]
    out += [(TAKER_ACCOUNT, asset, amount) for asset, amount in TAKER_INVENTORY]
    out += [(HOUSE_ACCOUNT, asset, amount) for asset, amount in HOUSE_INVENTORY]
    return out
