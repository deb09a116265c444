"""`tradehall replay` as a user runs it: the issue's example in, JSON Lines events out."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

TRADEHALL = str(Path(sys.executable).parent / "tradehall")
EXAMPLE = """\
{"op":"instrument","symbol":"BTC-USD","kind":"spot","base":"BTC","quote":"USD","tick_size":"0.01","lot_size":"0.0001"}
{"op":"deposit","account":"alice","asset":"USD","amount":"1000000"}
{"op":"deposit","account":"bob","asset":"BTC","amount":"10"}
{"op":"withdraw","account":"alice","asset":"USD","amount":"10"}
{"op":"order","account":"alice","client_order_id":"a1","symbol":"BTC-USD","side":"buy","type":"limit","price":"100.25","qty":"1.5","time_in_force":"gtc","stp":"none"}
{"op":"order","account":"bob","client_order_id":"b1","symbol":"BTC-USD","side":"sell","type":"market","qty":"0.5","stp":"none"}
{"op":"cancel","account":"alice","client_order_id":"a1"}
"""


def _replay(text: str, *args: str) -> list[dict[str, Any]]:
    out = subprocess.run([TRADEHALL, "replay", "-", *args], input=text, capture_output=True,
                         text=True, check=True, timeout=60)
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_replay_when_given_the_reference_example_prints_the_documented_events() -> None:
    # Act
    events = _replay(EXAMPLE)

    # Assert
    names = [e["event"] for e in events]
    assert names == ["asset_added", "asset_added", "instrument_added", "deposited", "deposited",
                     "withdrawn", "order_accepted", "order_accepted", "trade", "order_canceled"]
    trade = events[8]
    assert trade["price"] == "100.25"
    assert trade["qty"] == "0.5000"
    assert trade["maker"]["account"] == "alice"
    assert trade["maker"]["client_order_id"] == "a1"
    assert trade["taker"] == trade["taker"] | {"account": "bob", "client_order_id": "b1"}
    assert trade["taker_side"] == "sell"
    canceled = events[9]
    assert canceled["remaining_qty"] == "1.0000"
    assert canceled["account"] == "alice"


def test_replay_when_market_order_outsizes_book_cancels_the_rest() -> None:
    # Arrange: bob sells more than alice bids
    text = EXAMPLE.replace('"qty":"0.5"', '"qty":"2"').rsplit("\n", 2)[0] + "\n"

    # Act
    events = _replay(text)

    # Assert
    assert events[-1]["event"] == "order_canceled"
    assert events[-1]["client_order_id"] == "b1"
    assert events[-1]["remaining_qty"] == "0.5000"
    assert events[-1]["reason"] == "unfilled"


def test_replay_when_lines_are_bad_reports_each_and_changes_nothing() -> None:
    # Arrange
    bad = "\n".join([
        '{"op":"order","account":"alice","client_order_id":"x","symbol":"BTC-USD",'
        '"side":"buy","price":"100.255","qty":"1"}',
        '{"op":"order","account":"alice","client_order_id":"x","symbol":"BTC-USD",'
        '"side":"buy","price":"NaN","qty":"1"}',
        '{"op":"order","account":"alice","client_order_id":"x","symbol":"BTC-USD",'
        '"side":"buy","price":"100","qty":"-1"}',
        '{"op":"order","account":"alice","client_order_id":"x","symbol":"BTC-USD",'
        '"side":"buy","price":1e400,"qty":"1"}',
        '{"op":"order","account":"alice","client_order_id":"x","symbol":"BTC-USD",'
        '"side":"up","price":"100","qty":"1"}',
        '{"op":"withdraw","account":"alice","asset":"USD","amount":"99999999"}',
        '{"op":"deposit","account":"alice","asset":"XYZ","amount":"1"}',
        "{not json",
    ]) + "\n"

    # Act
    clean = _replay(EXAMPLE, "--state")
    dirty = _replay(EXAMPLE + bad, "--state")

    # Assert
    reasons = [e.get("reason") for e in dirty[len(clean) - 1:-1]]
    assert reasons == ["too_many_decimals", "not_a_number", "not_positive", "not_a_number",
                       "invalid_field", "insufficient_funds", "unknown_asset", "invalid_json"]
    assert dirty[-1]["state_hash"] == clean[-1]["state_hash"]
    assert dirty[-1]["balances"] == clean[-1]["balances"]


def test_replay_when_file_is_missing_exits_with_error(tmp_path: Path) -> None:
    result = subprocess.run([TRADEHALL, "replay", str(tmp_path / "nope.jsonl")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "not a readable file" in result.stderr


def test_replay_when_a_margin_position_passes_its_liquidation_price_prints_the_liquidation(
) -> None:
    # Arrange: alice goes long 10 at 100.00 with 10% margin; with 5% maintenance she is
    # liquidated at 94.73 or below.
    lines = [
        '{"op":"instrument","symbol":"XYZ-PERP","kind":"margin","base":"XYZ","quote":"USD",'
        '"tick_size":"0.01","lot_size":"1","margin_rate":"0.1",'
        '"maintenance_margin_rate":"0.05"}',
        *[f'{{"op":"deposit","account":"{a}","asset":"USD","amount":"10000"}}'
          for a in ("alice", "bob", "carol")],
        '{"op":"order","account":"alice","client_order_id":"a1","symbol":"XYZ-PERP",'
        '"side":"buy","type":"limit","price":"100","qty":"10"}',
        '{"op":"order","account":"bob","client_order_id":"b1","symbol":"XYZ-PERP",'
        '"side":"sell","type":"limit","price":"100","qty":"10"}',
        '{"op":"order","account":"carol","client_order_id":"c1","symbol":"XYZ-PERP",'
        '"side":"buy","type":"limit","price":"94.5","qty":"11"}',
        '{"op":"order","account":"bob","client_order_id":"b2","symbol":"XYZ-PERP",'
        '"side":"sell","type":"limit","price":"94.5","qty":"1"}',
    ]

    # Act
    events = _replay("\n".join(lines) + "\n")

    # Assert
    liquidation = next(e for e in events if e["event"] == "liquidation_triggered")
    assert liquidation == liquidation | {
        "account": "alice", "symbol": "XYZ-PERP", "net_qty": "10",
        "liquidation_price": "94.73", "last_price": "94.50"}
    assert Decimal(liquidation["margin"]) == 100  # USD was created with 8 decimals
    trade = events[-1]
    assert trade["event"] == "trade"
    assert trade["taker"]["client_order_id"] == f"liquidation-{liquidation['order_id']}"
    assert (trade["price"], trade["qty"]) == ("94.50", "10")
    assert Decimal(trade["taker"]["fee"]) == 0


def test_replay_when_a_liquidated_loss_outgrows_the_account_prints_the_shortfall_and_cover(
) -> None:
    # Arrange: as above, with a 1% liquidation fee; alice keeps 5.00 besides her margin, the
    # insurance fund holds 20.00, and she is liquidated at 85.00: 150.00 lost, 105.00 paid.
    lines = [
        '{"op":"instrument","symbol":"XYZ-PERP","kind":"margin","base":"XYZ","quote":"USD",'
        '"tick_size":"0.01","lot_size":"1","margin_rate":"0.1",'
        '"maintenance_margin_rate":"0.05","liquidation_fee_rate":"0.01"}',
        *[f'{{"op":"deposit","account":"{a}","asset":"USD","amount":"10000"}}'
          for a in ("alice", "bob", "carol")],
        '{"op":"deposit","account":"@insurance","asset":"USD","amount":"20"}',
        '{"op":"order","account":"alice","client_order_id":"a1","symbol":"XYZ-PERP",'
        '"side":"buy","type":"limit","price":"100","qty":"10"}',
        '{"op":"order","account":"bob","client_order_id":"b1","symbol":"XYZ-PERP",'
        '"side":"sell","type":"limit","price":"100","qty":"10"}',
        '{"op":"withdraw","account":"alice","asset":"USD","amount":"9895"}',
        '{"op":"order","account":"carol","client_order_id":"c1","symbol":"XYZ-PERP",'
        '"side":"buy","type":"limit","price":"85","qty":"10"}',
        '{"op":"order","account":"carol","client_order_id":"c2","symbol":"XYZ-PERP",'
        '"side":"buy","type":"limit","price":"89","qty":"1"}',
        '{"op":"order","account":"bob","client_order_id":"b2","symbol":"XYZ-PERP",'
        '"side":"sell","type":"limit","price":"89","qty":"1"}',
    ]

    # Act
    events = _replay("\n".join(lines) + "\n", "--state")

    # Assert
    added = next(e for e in events if e["event"] == "instrument_added")
    assert added["spec"]["liquidation_fee_rate"] == "0.01"
    shortfall = next(e for e in events if e["event"] == "loss_shortfall")
    assert shortfall == shortfall | {"account": "alice", "symbol": "XYZ-PERP", "asset": "USD"}
    assert [Decimal(shortfall[k]) for k in ("shortfall", "covered", "uncovered")] == [45, 20, 25]
    trade = events[-2]
    assert trade["taker"]["client_order_id"].startswith("liquidation-")
    assert Decimal(trade["taker"]["fee"]) == 0  # nothing was left to pay it with
    balances = {(b["account"], b["asset"]): b for b in events[-1]["balances"]}
    assert Decimal(balances["@insurance", "USD"]["available"]) == 0
    assert Decimal(balances["@clearing", "USD"]["available"]) == 125
