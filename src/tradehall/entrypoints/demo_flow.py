"""A generated, reproducible order flow for the demo: instruments, funded accounts, orders.

Seeded `random.Random` only (never the module functions), so the same seed gives the same
flow and therefore the same engine state hash on every machine. Produces replay-format
dicts (decimal strings), converted at the edge like any other input.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

Op = dict[str, Any]


@dataclass(frozen=True, slots=True)
class DemoInstrument:
    symbol: str
    kind: str
    base: str
    quote: str
    tick: Decimal
    lot: Decimal
    mid: Decimal
    margin_rate: str | None = None


INSTRUMENTS = (
    DemoInstrument("BTC-USD", "spot", "BTC", "USD", Decimal("0.01"), Decimal("0.0001"),
                   Decimal("65000")),
    DemoInstrument("ETH-USD", "spot", "ETH", "USD", Decimal("0.01"), Decimal("0.001"),
                   Decimal("3200")),
    DemoInstrument("EUR-USD", "margin", "EUR", "USD", Decimal("0.00001"), Decimal("1000"),
                   Decimal("1.08"), margin_rate="0.05"),
    DemoInstrument("AAPL", "spot", "AAPL", "USD", Decimal("0.01"), Decimal("1"),
                   Decimal("190")),
)
ASSETS = (("USD", 2), ("BTC", 8), ("ETH", 8), ("EUR", 2), ("AAPL", 0))


def reference_data() -> Iterator[Op]:
    """Yield the assets and instruments of the demo market."""
    for code, scale in ASSETS:
        yield {"op": "asset", "asset": code, "scale": scale}
    for inst in INSTRUMENTS:
        op: Op = {"op": "instrument", "symbol": inst.symbol, "kind": inst.kind,
                  "base": inst.base, "quote": inst.quote, "tick_size": str(inst.tick),
                  "lot_size": str(inst.lot), "maker_fee": "0.0005", "taker_fee": "0.001",
                  "price_band": "0.2"}
        if inst.margin_rate:
            op["margin_rate"] = inst.margin_rate
        yield op


def funding(accounts: int) -> Iterator[Op]:
    """Yield deposits that let every account trade every instrument."""
    for i in range(accounts):
        account = f"trader{i:03d}"
        yield {"op": "deposit", "account": account, "asset": "USD", "amount": "5000000"}
        yield {"op": "deposit", "account": account, "asset": "BTC", "amount": "50"}
        yield {"op": "deposit", "account": account, "asset": "ETH", "amount": "500"}
        yield {"op": "deposit", "account": account, "asset": "AAPL", "amount": "20000"}


def order_flow(seed: int, count: int, accounts: int) -> Iterator[Op]:
    """Yield `count` order, cancel and amend ops around random-walking mid prices."""
    rng = random.Random(seed)
    mids = {inst.symbol: inst.mid for inst in INSTRUMENTS}
    live: list[tuple[str, str]] = []
    for i in range(count):
        inst = INSTRUMENTS[rng.randrange(len(INSTRUMENTS))]
        account = f"trader{rng.randrange(accounts):03d}"
        roll = rng.random()
        if live and roll < 0.28:
            owner, coid = live.pop(rng.randrange(len(live)))
            yield {"op": "cancel", "account": owner, "client_order_id": coid}
            continue
        step = inst.tick * max(1, int(inst.mid * Decimal("0.0002") / inst.tick))
        mids[inst.symbol] += step * rng.choice((-1, 0, 0, 1))
        mid = mids[inst.symbol]
        side = "buy" if rng.random() < 0.5 else "sell"
        coid = f"d{i}"
        qty = inst.lot * rng.randint(1, 20)
        op: Op = {"op": "order", "account": account, "client_order_id": coid,
                  "symbol": inst.symbol, "side": side, "qty": str(qty)}
        if roll < 0.36:
            op["type"] = "market"
        else:
            offset = step * rng.randint(-2, 12)
            price = mid - offset if side == "buy" else mid + offset
            op["price"] = str(max(inst.tick, price.quantize(inst.tick)))
            live.append((account, coid))
        yield op
