"""The Alpaca mapping, pure: times, symbols, decimal numbers from JSON, order folding, bodies.

Hypothesis checks the round trips (engine nanoseconds to RFC 3339 and back at microsecond
precision; any JSON number decoded exactly as its text says) and that an order folded from
random fills never reports more filled than ordered.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradehall.entrypoints.api.errors import ApiError
from tradehall.entrypoints.api.routers import alpaca_mapping as m
from tradehall.entrypoints.api.schemas.alpaca import AlpacaOrderCreate
from tradehall.kernel.errors import InvalidInput, NotFound
from tradehall.kernel.ids import AccountId, AssetCode, ClientOrderId, OrderId, Symbol, TradeId
from tradehall.service.messages import CommandResult, EventBatch
from tradehall.service.refdata import ReferenceData
from tradehall.trading import events as e
from tradehall.trading.model import (
    DEFAULT_STP,
    InstrumentKind,
    InstrumentSpec,
    OrderType,
    Side,
    TimeInForce,
)


def refdata() -> ReferenceData:
    data = ReferenceData()
    data.asset_scales = {AssetCode("USD"): 2, AssetCode("BTC"): 8, AssetCode("EUR"): 2,
                         AssetCode("AAPL"): 0}
    specs = [
        InstrumentSpec(symbol=Symbol("BTC-USD"), base=AssetCode("BTC"), quote=AssetCode("USD"),
                       tick_size=Decimal("0.01"), lot_size=Decimal("0.0001")),
        InstrumentSpec(symbol=Symbol("EUR-USD"), kind=InstrumentKind.MARGIN,
                       base=AssetCode("EUR"), quote=AssetCode("USD"),
                       tick_size=Decimal("0.00001"), lot_size=Decimal(1),
                       margin_rate=Decimal("0.05")),
        InstrumentSpec(symbol=Symbol("AAPL"), base=AssetCode("AAPL"), quote=AssetCode("USD"),
                       tick_size=Decimal("0.01"), lot_size=Decimal(1)),
    ]
    data.apply(EventBatch(1, 1, [CommandResult(1, 0, [e.InstrumentAdded(spec=s)
                                                       for s in specs])], [], []))
    return data


@given(st.integers(0, 2**62))
def test_timestamp_when_parsed_back_keeps_microseconds(ns: int) -> None:
    assert m.parse_time(m.timestamp(ns), "t") == ns // 1000 * 1000


def test_parse_time_when_text_is_not_a_time_raises_invalid_input() -> None:
    with pytest.raises(InvalidInput) as raised:
        m.parse_time("yesterday", "after")
    assert raised.value.field == "after"


@pytest.mark.parametrize(("text", "symbol"), [
    ("BTC/USD", "BTC-USD"), ("BTC-USD", "BTC-USD"), ("BTCUSD", "BTC-USD"),
    ("btc/usd", "BTC-USD"), ("AAPL", "AAPL"), ("EUR/USD", "EUR-USD")])
def test_resolve_symbol_when_alpaca_or_native_form_finds_instrument(text: str,
                                                                     symbol: str) -> None:
    assert m.resolve_symbol(refdata(), text).symbol == symbol


def test_resolve_symbol_when_asset_id_or_unknown() -> None:
    data = refdata()
    aapl = data.instrument("AAPL")

    assert m.resolve_symbol(data, m.asset_id(aapl)) is aapl
    with pytest.raises(NotFound):
        m.resolve_symbol(data, "DOGE/USD")


def test_render_asset_when_pair_fx_margin_or_name_maps_class() -> None:
    data = refdata()

    btc, eur, aapl = (m.render_asset(data.instrument(s)) for s in ("BTC-USD", "EUR-USD", "AAPL"))

    assert (btc.symbol, btc.asset_class, btc.exchange, btc.marginable) == (
        "BTC/USD", "crypto", "CRYPTO", False)
    assert (eur.symbol, eur.asset_class, eur.shortable, eur.attributes) == (
        "EUR/USD", "crypto", True, ["margin"])
    assert (aapl.symbol, aapl.asset_class, aapl.fractionable) == ("AAPL", "us_equity", False)
    assert eur.maintenance_margin_requirement == "5.00"  # no maintenance rate: the initial


def test_render_asset_when_a_maintenance_rate_is_set_reports_it_in_percent() -> None:
    data = refdata()
    spec = msgspec.structs.replace(data.instrument("EUR-USD").spec,
                                   symbol=Symbol("GBP-USD"), base=AssetCode("EUR"),
                                   maintenance_margin_rate=Decimal("0.025"))
    data.apply(EventBatch(2, 2, [CommandResult(2, 0, [e.InstrumentAdded(spec=spec)])], [], []))

    gbp = m.render_asset(data.instrument("GBP-USD"))

    assert gbp.maintenance_margin_requirement == "2.500"


@given(st.decimals(allow_nan=False, allow_infinity=False, places=8,
                   min_value=Decimal("-1e12"), max_value=Decimal("1e12")))
def test_decode_body_when_json_number_keeps_its_exact_value(value: Decimal) -> None:
    raw = ('{"symbol": "AAPL", "side": "buy", "qty": ' + f"{value:f}" + "}").encode()

    body = m.decode_body(raw, AlpacaOrderCreate)

    assert body.qty == value
    assert isinstance(body.qty, Decimal | int)


@pytest.mark.parametrize(("raw", "status", "code"), [
    (b'{"symbol": "AAPL", "side": "buy", "qty": 1, "x": 1}', 422, "unknown_field"),
    (b'{"side": "buy"}', 422, "missing_field"),
    (b'{"symbol": "AAPL", "side": "buy", "qty": false}', 422, "invalid_field"),
    (b"[]", 422, "invalid_body"), (b"{", 400, "invalid_json")])
def test_decode_body_when_malformed_raises_api_error(raw: bytes, status: int,
                                                     code: str) -> None:
    with pytest.raises(ApiError) as raised:
        m.decode_body(raw, AlpacaOrderCreate)
    assert (raised.value.status, raised.value.code) == (status, code)


def _accepted(qty: int) -> e.OrderAccepted:
    return e.OrderAccepted(
        order_id=OrderId(7), account=AccountId("a"), client_order_id=ClientOrderId("c"),
        symbol=Symbol("AAPL"), side=Side.BUY, order_type=OrderType.LIMIT, qty=qty,
        price=10_000, stop_price=None, time_in_force=TimeInForce.GTC, post_only=False,
        reduce_only=False, stp=DEFAULT_STP, hold_asset=AssetCode("USD"), held=0)


def _trade(qty: int, leaves: int) -> e.Trade:
    return e.Trade(
        trade_id=TradeId(1), symbol=Symbol("AAPL"), price=10_000, qty=qty, notional=qty * 10_000,
        taker_side=Side.BUY, maker_order_id=OrderId(1), maker_account=AccountId("m"),
        maker_client_order_id=ClientOrderId("m"), maker_fee=0, maker_leaves_qty=0,
        taker_order_id=OrderId(7), taker_account=AccountId("a"),
        taker_client_order_id=ClientOrderId("c"), taker_fee=0, taker_leaves_qty=leaves)


@given(st.lists(st.integers(1, 5), min_size=1, max_size=6))
def test_apply_event_when_fills_arrive_tracks_qty_and_status(fills: list[int]) -> None:
    total = sum(fills)
    rec = m.order_from_accepted(_accepted(total), 1, 0)
    done = 0
    for i, qty in enumerate(fills):
        done += qty
        rec = m.apply_event(rec, _trade(qty, total - done), i + 2, i)
        assert rec.filled_qty == done <= rec.qty
    assert rec.status == "filled"
    order = m.render_order(refdata().instrument("AAPL"), rec)
    assert (order.filled_qty, order.filled_avg_price, order.status) == (
        str(total), "100.000000", "filled")


def test_apply_event_when_amended_sets_total_and_price() -> None:
    rec = m.order_from_accepted(_accepted(10), 1, 0)
    rec = m.apply_event(rec, _trade(3, 7), 2, 1)

    rec = m.apply_event(rec, e.OrderAmended(
        order_id=OrderId(7), account=AccountId("a"), client_order_id=ClientOrderId("c"),
        symbol=Symbol("AAPL"), price=10_100, remaining_qty=2, priority_kept=False,
        hold_asset=AssetCode("USD"), held=0), 3, 2)

    assert (rec.qty, rec.filled_qty, rec.price, rec.status) == (5, 3, 10_100,
                                                                "partially_filled")
