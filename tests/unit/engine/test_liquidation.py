"""Liquidation prices against the exact inequality, and the liquidation heaps' bounds."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec import UNSET, UnsetType

from tests.kit.factories import ALICE, BOB, PERP, T0, buy, make_engine, make_margin_instrument, sell
from tradehall.engine.liquidation import liquidation_price, underwater
from tradehall.engine.orders import MAX_PRICE_TICKS
from tradehall.engine.state import encode_state, restore, state_hash
from tradehall.kernel.ids import AccountId, AssetCode, Symbol
from tradehall.trading.instrument import Instrument
from tradehall.trading.model import InstrumentSpec
from tradehall.trading.positions import Position


@st.composite
def positions(draw: st.DrawFn) -> tuple[Instrument, Position]:
    margin_pct = draw(st.integers(1, 100))
    maint_pct = draw(st.integers(1, min(margin_pct, 99)))
    spec = make_margin_instrument(margin_rate=f"{margin_pct / 100}",
                                  maintenance_margin_rate=f"{maint_pct / 100}")
    inst = Instrument(spec, base_scale=draw(st.integers(0, 8)), quote_scale=2)
    pos = Position(AccountId("a"), Symbol(PERP))
    lots = draw(st.integers(1, 10_000))
    pos.net_qty = lots if draw(st.booleans()) else -lots
    pos.cost_ticks = lots * draw(st.integers(1, 1_000_000))
    pos.margin = draw(st.integers(0, 10**8))
    return inst, pos


@settings(max_examples=500)
@given(positions())
def test_liquidation_price_is_the_last_price_where_the_position_is_underwater(
        case: tuple[Instrument, Position]) -> None:
    inst, pos = case
    price = liquidation_price(inst, pos)
    if pos.net_qty > 0:
        if price:
            assert underwater(inst, pos, price)
        assert not underwater(inst, pos, price + 1)
    elif price:
        assert underwater(inst, pos, price)
        assert not underwater(inst, pos, price - 1)
    else:
        assert not underwater(inst, pos, MAX_PRICE_TICKS)  # due only beyond the highest price


def test_liquidation_price_without_a_maintenance_rate_or_position_is_none() -> None:
    inst = Instrument(make_margin_instrument(), base_scale=0, quote_scale=2)
    pos = Position(AccountId("a"), Symbol(PERP))
    assert liquidation_price(inst, pos) == 0
    pos.net_qty, pos.cost_ticks, pos.margin = -1, 100_00, 10_00
    assert liquidation_price(inst, pos) == 0
    assert not underwater(inst, pos, MAX_PRICE_TICKS)


def test_liquidation_heaps_when_positions_change_often_stay_bounded() -> None:
    # Arrange: two accounts trade back and forth; each fill moves both liquidation prices.
    engine = make_engine(instruments=[make_margin_instrument(maintenance_margin_rate="0.05")],
                         accounts=[ALICE, BOB], deposits={AssetCode("USD"): 10**12})
    ts = T0
    most = 0
    for n in range(3_000):
        price = 100_00 + n % 7
        qty = 1 + n % 5
        ts += 1
        engine.apply(buy(ALICE, f"a{n}", qty, price, symbol=PERP), ts)
        ts += 1
        engine.apply(sell(BOB, f"b{n}", qty, price, symbol=PERP), ts)
        longs, shorts = engine.liquidations[Symbol(PERP)]
        most = max(most, len(longs) + len(shorts))

    # Assert: stale entries are compacted away instead of piling up (6,000 fills happened).
    assert 2 <= most <= 2 * (1024 + 1)


@pytest.mark.parametrize("maintenance", [UNSET, None, Decimal("0.05")],
                         ids=["before-the-field", "null", "set"])
def test_state_when_restored_keeps_its_hash_with_or_without_a_maintenance_rate(
        maintenance: Decimal | UnsetType | None) -> None:
    # Arrange: UNSET encodes like an instrument defined before the field existed (older
    # snapshots); null like one defined while the field defaulted to None.
    spec = msgspec.structs.replace(make_margin_instrument(), maintenance_margin_rate=maintenance)
    engine = make_engine(instruments=[spec])
    payload = encode_state(engine)

    # Act
    restored = restore(payload)

    # Assert: the snapshot's own bytes are what the restored engine hashes to
    assert state_hash(restored) == state_hash(engine)
    assert (b"maintenance_margin_rate" in payload) is (maintenance is not UNSET)


def test_spec_when_decoded_without_a_maintenance_rate_liquidates_nothing() -> None:
    older = (b'{"symbol":"X-PERP","kind":"margin","base":"X","quote":"USD",'
             b'"tick_size":"0.01","lot_size":"1","margin_rate":"0.1"}')

    spec = msgspec.json.decode(older, type=InstrumentSpec)

    assert Instrument(spec, 0, 2).maint_ppm == 0
    assert msgspec.json.encode(spec) == msgspec.json.encode(
        msgspec.json.decode(msgspec.json.encode(spec), type=InstrumentSpec))
    assert b"maintenance_margin_rate" not in msgspec.json.encode(spec)
