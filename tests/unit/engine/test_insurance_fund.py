"""The insurance fund's posting and the liquidation fee's place in the canonical state."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from tests.kit.factories import USD, make_engine, make_instrument, make_margin_instrument
from tradehall.engine.state import encode_state, restore, state_hash
from tradehall.kernel.ids import CLEARING_ACCOUNT, INSURANCE_ACCOUNT
from tradehall.ledger.model import Ledger
from tradehall.trading.instrument import Instrument
from tradehall.trading.model import InstrumentSpec


def test_cover_shortfall_when_the_fund_is_short_pays_what_it_has_to_clearing() -> None:
    # Arrange
    ledger = Ledger()
    ledger.deposit(INSURANCE_ACCOUNT, USD, 30_00)

    # Act
    covered = ledger.cover_shortfall(USD, 45_00)

    # Assert
    assert covered == 30_00
    assert ledger.balance(INSURANCE_ACCOUNT, USD).available == 0
    assert ledger.balance(CLEARING_ACCOUNT, USD).available == 30_00
    ledger.check_invariants()


def test_cover_shortfall_when_the_fund_holds_enough_pays_the_whole_shortfall() -> None:
    ledger = Ledger()
    ledger.deposit(INSURANCE_ACCOUNT, USD, 50_00)

    assert ledger.cover_shortfall(USD, 45_00) == 45_00
    assert ledger.balance(INSURANCE_ACCOUNT, USD).available == 5_00


def test_cover_shortfall_when_there_is_no_fund_pays_nothing_and_creates_no_bucket() -> None:
    ledger = Ledger()

    assert ledger.cover_shortfall(USD, 45_00) == 0
    assert list(ledger) == []


def test_state_when_no_instrument_sets_a_liquidation_fee_encodes_without_the_field() -> None:
    # Arrange: specs that leave the field unset encode as before it existed, so snapshots
    # written then still restore to their recorded state hash.
    engine = make_engine(instruments=[make_instrument(), make_margin_instrument(
        maintenance_margin_rate="0.05")])

    # Act
    payload = encode_state(engine)

    # Assert
    assert b"liquidation_fee_rate" not in payload
    assert state_hash(restore(payload)) == state_hash(engine)


def test_state_when_an_instrument_sets_a_liquidation_fee_carries_it_through_a_restore() -> None:
    engine = make_engine(instruments=[make_margin_instrument(
        maintenance_margin_rate="0.05", liquidation_fee_rate="0.005")])

    restored = restore(encode_state(engine))

    assert restored.instruments[next(iter(restored.instruments))].liquidation_fee_ppm == 5_000
    assert state_hash(restored) == state_hash(engine)


def test_spec_when_decoded_from_a_definition_without_the_field_charges_no_fee() -> None:
    # Arrange: an instrument as journaled before the field existed.
    older = (b'{"symbol":"X-PERP","kind":"margin","base":"X","quote":"USD",'
             b'"tick_size":"0.01","lot_size":"1","margin_rate":"0.1",'
             b'"maintenance_margin_rate":"0.05"}')

    # Act
    spec = msgspec.json.decode(older, type=InstrumentSpec)

    # Assert
    assert Instrument(spec, 0, 2).liquidation_fee_ppm == 0
    assert b"liquidation_fee_rate" not in msgspec.json.encode(spec)
    explicit = msgspec.structs.replace(spec, liquidation_fee_rate=Decimal(0))
    assert Instrument(explicit, 0, 2).liquidation_fee_ppm == 0
