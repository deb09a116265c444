"""Factories for engine tests: readable ids, instruments, a preloaded engine, command builders.

Numbers are chosen so tables stay readable: USD has 2 decimals and prices tick in cents, lots
are whole units, so a price of `100_00` ticks is 100.00 USD and the notional of `q` lots at `p`
ticks is exactly `p * q` cents. `ABC` (spot base) and `XYZ` (margin base) have no decimals,
so selling `q` lots holds `q` units. Pure: builds values, runs nothing but the engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from msgspec import UNSET

from tradehall.engine.book import OrderBook
from tradehall.engine.matcher import BookFactory, MatchingEngine
from tradehall.kernel.clock import NANOS_PER_DAY, NANOS_PER_SECOND
from tradehall.kernel.ids import AccountId, AssetCode, ClientOrderId, OrderId, Symbol
from tradehall.trading import commands as c
from tradehall.trading import events as e
from tradehall.trading.model import (
    DEFAULT_STP,
    InstrumentKind,
    InstrumentSpec,
    InstrumentStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)

ALICE = AccountId("alice")
BOB = AccountId("bob")
CAROL = AccountId("carol")
DAVE = AccountId("dave")
ACCOUNTS = (ALICE, BOB, CAROL, DAVE)

USD = AssetCode("USD")
ABC = AssetCode("ABC")
XYZ = AssetCode("XYZ")
ASSET_SCALES: Mapping[AssetCode, int] = {USD: 2, ABC: 0, XYZ: 0}

SPOT = Symbol("ABC-USD")
PERP = Symbol("XYZ-PERP")

# Engine time of the first command: 09:00 UTC on some day, so a DAY order has hours to live.
DAY0 = 20_000 * NANOS_PER_DAY
T0 = DAY0 + 9 * 3_600 * NANOS_PER_SECOND
DAY_NS = NANOS_PER_DAY
NEXT_DAY = DAY0 + DAY_NS

DEFAULT_DEPOSITS: Mapping[AssetCode, int] = {USD: 10_000_000_00, ABC: 1_000, XYZ: 1_000}


def make_instrument(symbol: str = SPOT, *, base: str = ABC, quote: str = USD,
                    tick_size: str = "0.01", lot_size: str = "1",
                    min_qty: str | None = None, max_qty: str | None = None,
                    price_band: str | None = None, maker_fee: str = "0",
                    taker_fee: str = "0", stop_collar: str = "0.05",
                    status: InstrumentStatus = InstrumentStatus.TRADING) -> InstrumentSpec:
    """Build a spot instrument spec; decimals are given as strings."""
    return InstrumentSpec(
        symbol=Symbol(symbol), kind=InstrumentKind.SPOT, base=AssetCode(base),
        quote=AssetCode(quote), tick_size=Decimal(tick_size), lot_size=Decimal(lot_size),
        min_qty=_dec(min_qty), max_qty=_dec(max_qty), price_band=_dec(price_band),
        maker_fee=Decimal(maker_fee), taker_fee=Decimal(taker_fee),
        stop_collar=Decimal(stop_collar), status=status)


def make_margin_instrument(symbol: str = PERP, *, base: str = XYZ, quote: str = USD,
                           margin_rate: str = "0.1", maker_fee: str = "0",
                           taker_fee: str = "0", price_band: str | None = None,
                           stop_collar: str = "0.05",
                           maintenance_margin_rate: str | None = None,
                           liquidation_fee_rate: str | None = None) -> InstrumentSpec:
    """Build a margin instrument spec (10% initial margin, no liquidation, unless told
    otherwise)."""
    return InstrumentSpec(
        symbol=Symbol(symbol), kind=InstrumentKind.MARGIN, base=AssetCode(base),
        quote=AssetCode(quote), tick_size=Decimal("0.01"), lot_size=Decimal(1),
        price_band=_dec(price_band), maker_fee=Decimal(maker_fee),
        taker_fee=Decimal(taker_fee), margin_rate=Decimal(margin_rate),
        maintenance_margin_rate=_dec(maintenance_margin_rate),
        liquidation_fee_rate=UNSET if liquidation_fee_rate is None else Decimal(
            liquidation_fee_rate),
        stop_collar=Decimal(stop_collar))


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def make_engine(book_factory: BookFactory = OrderBook, *,
                instruments: Iterable[InstrumentSpec] | None = None,
                accounts: Iterable[AccountId] = ACCOUNTS,
                deposits: Mapping[AssetCode, int] | None = None,
                ts: int = 0) -> MatchingEngine:
    """Return an engine with the kit's assets and instruments, every account funded."""
    engine = MatchingEngine(book_factory)
    specs = [make_instrument(), make_margin_instrument()] if instruments is None else instruments
    setup: list[c.EngineCommand] = [
        c.AddAsset(asset=asset, scale=scale) for asset, scale in ASSET_SCALES.items()]
    setup += [c.AddInstrument(spec=spec) for spec in specs]
    funds = DEFAULT_DEPOSITS if deposits is None else deposits
    setup += [c.Deposit(account=account, asset=asset, amount=amount)
              for account in accounts for asset, amount in funds.items() if amount]
    for command in setup:
        for event in engine.apply(command, ts):
            if isinstance(event, e.CommandRejected):
                raise AssertionError(f"setup command refused: {event}")
    return engine


# -- Command builders --------------------------------------------------------------------------


def order(account: AccountId, client_order_id: str, side: Side, qty: int,
          price: int | None = None, *, stop: int | None = None, symbol: str = SPOT,
          tif: TimeInForce = TimeInForce.GTC, post_only: bool = False,
          reduce_only: bool = False, stp: SelfTradePrevention = DEFAULT_STP,
          order_type: OrderType | None = None) -> c.SubmitOrder:
    """Build a SubmitOrder; the type follows from `price` and `stop` unless given."""
    if order_type is None:
        if stop is None:
            order_type = OrderType.MARKET if price is None else OrderType.LIMIT
        else:
            order_type = OrderType.STOP if price is None else OrderType.STOP_LIMIT
    return c.SubmitOrder(
        account=account, client_order_id=ClientOrderId(client_order_id),
        symbol=Symbol(symbol), side=side, order_type=order_type, qty=qty, price=price,
        stop_price=stop, time_in_force=tif, post_only=post_only, reduce_only=reduce_only,
        stp=stp)


def buy(account: AccountId, client_order_id: str, qty: int, price: int | None = None, *,
        stop: int | None = None, symbol: str = SPOT, tif: TimeInForce = TimeInForce.GTC,
        post_only: bool = False, reduce_only: bool = False,
        stp: SelfTradePrevention = DEFAULT_STP) -> c.SubmitOrder:
    """Build a buy: limit with a price, market without, stop or stop-limit with `stop`."""
    return order(account, client_order_id, Side.BUY, qty, price, stop=stop, symbol=symbol,
                 tif=tif, post_only=post_only, reduce_only=reduce_only, stp=stp)


def sell(account: AccountId, client_order_id: str, qty: int, price: int | None = None, *,
         stop: int | None = None, symbol: str = SPOT, tif: TimeInForce = TimeInForce.GTC,
         post_only: bool = False, reduce_only: bool = False,
         stp: SelfTradePrevention = DEFAULT_STP) -> c.SubmitOrder:
    """Build a sell: limit with a price, market without, stop or stop-limit with `stop`."""
    return order(account, client_order_id, Side.SELL, qty, price, stop=stop, symbol=symbol,
                 tif=tif, post_only=post_only, reduce_only=reduce_only, stp=stp)


def cancel(account: AccountId, client_order_id: str | None = None, *,
           order_id: int | None = None) -> c.CancelOrder:
    """Build a CancelOrder by client order id or engine order id."""
    return c.CancelOrder(
        account=account,
        client_order_id=None if client_order_id is None else ClientOrderId(client_order_id),
        order_id=None if order_id is None else OrderId(order_id))


def amend(account: AccountId, client_order_id: str, *, qty: int | None = None,
          price: int | None = None) -> c.AmendOrder:
    """Build an AmendOrder (new total qty and/or new price)."""
    return c.AmendOrder(account=account, client_order_id=ClientOrderId(client_order_id),
                        qty=qty, price=price)


def cancel_all(account: AccountId, symbol: str | None = None) -> c.CancelAll:
    """Build a CancelAll for every symbol, or for one."""
    return c.CancelAll(account=account, symbol=None if symbol is None else Symbol(symbol))


def deposit(account: AccountId, asset: AssetCode, amount: int) -> c.Deposit:
    """Build a Deposit."""
    return c.Deposit(account=account, asset=asset, amount=amount)


def withdraw(account: AccountId, asset: AssetCode, amount: int) -> c.Withdraw:
    """Build a Withdraw."""
    return c.Withdraw(account=account, asset=asset, amount=amount)


def set_status(symbol: str, status: InstrumentStatus) -> c.SetInstrumentStatus:
    """Build a SetInstrumentStatus."""
    return c.SetInstrumentStatus(symbol=Symbol(symbol), status=status)


def advance_time() -> c.AdvanceTime:
    """Build an AdvanceTime (give it a later ts to expire DAY orders)."""
    return c.AdvanceTime()


def configure(retention_ns: int) -> c.ConfigureEngine:
    """Build a ConfigureEngine setting the client order id retention window."""
    return c.ConfigureEngine(client_order_id_retention_ns=retention_ns)
