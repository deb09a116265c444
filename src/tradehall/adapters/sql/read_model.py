"""`SqlReadModel`: the `ReadModel` queries over the projected tables, plus reference data.

Read-only: this module never writes a projection (the projector does). Rows become the
port's records (`service/ports.py`) with integers as stored; rendering to decimal strings is
the edge's business. `reference_data()` returns the assets and instruments in the engine's
own view types, so that a process without an engine (scale-out) can seed `ReferenceData`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import msgspec
from sqlalchemy import Select, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tradehall.adapters.sql import tables as t
from tradehall.adapters.sql.progress import Progress
from tradehall.adapters.sql.projection import CLOSED_STATUSES
from tradehall.engine.queries import InstrumentView
from tradehall.kernel.ids import AccountId, AssetCode, ClientOrderId, OrderId, Symbol
from tradehall.service.ports import (
    BalanceRecord,
    CandleRecord,
    FillRecord,
    OrderRecord,
    PositionRecord,
    StatusFilter,
)
from tradehall.trading.model import InstrumentSpec, InstrumentStatus

_MAX_LIMIT = 10_000


class SqlReadModel:
    """Queries over the read models of one database."""

    def __init__(self, engine: AsyncEngine, progress: Progress) -> None:
        self._engine = engine
        self._progress = progress

    @property
    def last_seq(self) -> int:
        return self._progress.seq

    async def wait_for(self, seq: int, timeout_s: float = 1.0) -> bool:
        """Wait until the projections include `seq`; False on timeout."""
        return await self._progress.wait_for(seq, timeout_s, self.projected_seq)

    async def refresh(self) -> int:
        """Read the projected seq from the database when another process projects (a local
        projector keeps `last_seq` current itself); return the new `last_seq`."""
        if not self._progress.local:
            self._progress.advance(await self.projected_seq())
        return self._progress.seq

    async def projected_seq(self) -> int:
        """Read the last projected seq from the database (another process may project)."""
        stmt = select(t.projection_state.c.seq).where(t.projection_state.c.name == "main")
        async with self._engine.connect() as conn:
            return int((await conn.execute(stmt)).scalar_one_or_none() or 0)

    async def _rows(self, stmt: Select[Any]) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            return [dict(row) for row in (await conn.execute(stmt)).mappings()]

    # -- Orders and fills -----------------------------------------------------------------------

    async def get_order(self, order_uuid: str) -> OrderRecord | None:
        rows = await self._rows(select(t.orders).where(t.orders.c.id == order_uuid))
        return OrderRecord(**rows[0]) if rows else None

    async def get_order_by_order_id(self, order_id: OrderId) -> OrderRecord | None:
        """Return an order by engine id."""
        rows = await self._rows(select(t.orders).where(t.orders.c.order_id == order_id))
        return OrderRecord(**rows[0]) if rows else None

    async def get_order_by_client_id(self, account: AccountId,
                                     client_order_id: ClientOrderId) -> OrderRecord | None:
        """Return the newest order of an account with that client order id."""
        o = t.orders.c
        stmt = (select(t.orders)
                .where(o.account == account, o.client_order_id == client_order_id)
                .order_by(o.order_id.desc()).limit(1))
        rows = await self._rows(stmt)
        return OrderRecord(**rows[0]) if rows else None

    async def list_orders(self, account: AccountId, *, status: StatusFilter = "open",
                          symbols: Sequence[Symbol] | None = None, after_ns: int | None = None,
                          until_ns: int | None = None, limit: int = 50,
                          direction: Literal["asc", "desc"] = "desc") -> list[OrderRecord]:
        """Orders of an account by creation time; `after_ns`/`until_ns` bound it exclusively."""
        o = t.orders.c
        stmt = select(t.orders).where(o.account == account)
        if status == "open":
            stmt = stmt.where(text(t.OPEN_ORDERS))
        elif status == "closed":
            stmt = stmt.where(o.status.in_(CLOSED_STATUSES))
        if symbols:
            stmt = stmt.where(o.symbol.in_(list(symbols)))
        if after_ns is not None:
            stmt = stmt.where(o.created_ns > after_ns)
        if until_ns is not None:
            stmt = stmt.where(o.created_ns < until_ns)
        if direction == "asc":
            stmt = stmt.order_by(o.created_ns.asc(), o.order_id.asc())
        else:
            stmt = stmt.order_by(o.created_ns.desc(), o.order_id.desc())
        stmt = stmt.limit(_clamp(limit))
        return [OrderRecord(**row) for row in await self._rows(stmt)]

    async def list_fills(self, account: AccountId, *, symbol: Symbol | None = None,
                         order_id: OrderId | None = None, before_seq: int | None = None,
                         limit: int = 100) -> list[FillRecord]:
        """Fills of an account, newest first; page with `before_seq`."""
        f = t.fills.c
        stmt = select(t.fills).where(f.account == account)
        if symbol is not None:
            stmt = stmt.where(f.symbol == symbol)
        if order_id is not None:
            stmt = stmt.where(f.order_id == order_id)
        if before_seq is not None:
            stmt = stmt.where(f.seq < before_seq)
        stmt = stmt.order_by(f.seq.desc(), f.trade_id.desc(), f.liquidity).limit(_clamp(limit))
        return [FillRecord(**row) for row in await self._rows(stmt)]

    # -- Balances, positions, candles -----------------------------------------------------------

    async def balances(self, account: AccountId) -> list[BalanceRecord]:
        b = t.balances.c
        stmt = select(t.balances).where(b.account == account).order_by(b.asset)
        return [BalanceRecord(**row) for row in await self._rows(stmt)]

    async def positions(self, account: AccountId) -> list[PositionRecord]:
        """Open positions (net_qty != 0) of an account, by symbol."""
        p = t.positions.c
        stmt = (select(t.positions).where(p.account == account, p.net_qty != 0)
                .order_by(p.symbol))
        return [PositionRecord(**row) for row in await self._rows(stmt)]

    async def candles(self, symbol: Symbol, interval_s: int, *, from_ns: int | None = None,
                      to_ns: int | None = None, limit: int = 500) -> list[CandleRecord]:
        """Candles starting in [from_ns, to_ns], oldest first; the newest `limit` of them."""
        c = t.candles.c
        stmt = select(t.candles).where(c.symbol == symbol, c.interval_s == interval_s)
        if from_ns is not None:
            stmt = stmt.where(c.start_ns >= from_ns)
        if to_ns is not None:
            stmt = stmt.where(c.start_ns <= to_ns)
        stmt = stmt.order_by(c.start_ns.desc()).limit(_clamp(limit))
        rows = await self._rows(stmt)
        return [CandleRecord(**row) for row in reversed(rows)]

    # -- Reference data -------------------------------------------------------------------------

    async def reference_data(self) -> tuple[dict[AssetCode, int], list[InstrumentView]]:
        """Return the asset scales and the instruments, as `ReferenceData.load` takes them."""
        scales = {AssetCode(row["asset"]): int(row["scale"])
                  for row in await self._rows(select(t.assets).order_by(t.assets.c.asset))}
        views = []
        for row in await self._rows(select(t.instruments).order_by(t.instruments.c.symbol)):
            spec = msgspec.json.decode(row["spec"], type=InstrumentSpec)
            views.append(InstrumentView(spec, InstrumentStatus(row["status"]),
                                        scales[spec.base], scales[spec.quote]))
        return scales, views


def _clamp(limit: int) -> int:
    return max(1, min(limit, _MAX_LIMIT))
