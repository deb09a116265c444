"""The wire edge of market data: channel names, decimal rendering, UDF price format."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from tradehall.entrypoints.api.routers.udf import price_format
from tradehall.entrypoints.api.ws import protocol as p
from tradehall.entrypoints.api.ws.render import change_percent, timestamp


@pytest.mark.parametrize(("name", "kind", "symbol", "interval"), [
    ("book.BTC-USD", "book", "BTC-USD", None),
    ("trades.EUR-USD", "trades", "EUR-USD", None),
    ("ticker.AAPL", "ticker", "AAPL", None),
    ("candles.4h.BTC-USD", "candles", "BTC-USD", 14_400),
    ("orders", "orders", None, None),
    ("balances", "balances", None, None),
])
def test_parse_channel_when_name_is_valid_returns_its_parts(
        name: str, kind: str, symbol: str | None, interval: int | None) -> None:
    channel = p.parse_channel(name)

    assert (channel.kind, channel.symbol, channel.interval_s) == (kind, symbol, interval)
    assert channel.private is (symbol is None)


@pytest.mark.parametrize(("name", "code"), [
    ("book", "unknown_channel"), ("book.", "unknown_channel"), ("weather.BTC", "unknown_channel"),
    ("candles.2m.BTC-USD", "unknown_interval"), ("candles.1m", "unknown_channel"),
])
def test_parse_channel_when_name_is_bad_raises_with_a_code(name: str, code: str) -> None:
    with pytest.raises(p.ChannelError) as error:
        p.parse_channel(name)

    assert error.value.code == code


def test_client_messages_when_unknown_field_is_sent_refuse_to_decode() -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown field `chanels`"):
        p.decoder.decode(b'{"type": "subscribe", "chanels": []}')


@pytest.mark.parametrize(("last", "open_", "expected"), [
    (10_100, 10_000, "1.00"), (9_950, 10_000, "-0.50"), (10_000, 10_000, "0.00"),
    (1, 3, "-66.67"), (None, 10_000, None), (10_000, None, None),
])
def test_change_percent_when_computed_rounds_half_even_exactly(
        last: int | None, open_: int | None, expected: str | None) -> None:
    assert change_percent(last, open_) == expected


@pytest.mark.parametrize(("tick", "expected"), [
    ("0.01", (100, 1)), ("0.05", (100, 5)), ("0.00001", (100_000, 1)), ("1", (1, 1)),
    ("0.25", (100, 25)), ("5", (1, 5)),
])
def test_price_format_when_tick_given_gives_pricescale_and_minmov_exactly(
        tick: str, expected: tuple[int, int]) -> None:
    scale, minmov = price_format(Decimal(tick))

    assert (scale, minmov) == expected
    assert Decimal(minmov) / scale == Decimal(tick)


def test_timestamp_when_rendered_keeps_nanoseconds() -> None:
    assert timestamp(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"
