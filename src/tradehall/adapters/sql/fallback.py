"""`SqlRequestStore` and `SqlModeStore`: the fallback's requests and the platform mode in SQL.

Several stateless processes share these rows, so every write is conditional: a request update
matches on its version, the unique (account, open_target) index refuses a second open request
for the same order or position, and the mode row changes only from the version it was read at.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from tradehall.adapters.sql import tables_fallback as tf
from tradehall.fallback.model import (
    OPEN_STATUSES,
    Booking,
    FallbackRequest,
    ModeState,
    RequestStatus,
)
from tradehall.fallback.ports import IdempotencyRecord, QueueQuery
from tradehall.kernel.errors import Conflict

_REQ = tf.fallback_requests
_IDEM = tf.fallback_idempotency
_MODE = tf.platform_mode
_MODE_ROW = "platform"
MAX_QUEUE = 500
_OPEN = sorted(s.value for s in OPEN_STATUSES)
_DUE = (RequestStatus.APPROVED.value, RequestStatus.EXECUTING.value)
_SORTS = {"created": _REQ.c.created_ns, "notional": _REQ.c.notional,
          "symbol": _REQ.c.symbol, "updated": _REQ.c.updated_ns}


def _row(request: FallbackRequest) -> dict[str, Any]:
    row: dict[str, Any] = msgspec.to_builtins(request)
    # A manual execution not yet booked still holds its target: nothing else may close it.
    holds = request.is_open or request.booking is Booking.PENDING
    row["open_target"] = request.target if holds else None
    return row


def _request(row: Any) -> FallbackRequest:
    data = {str(k): v for k, v in row._mapping.items()}  # keys may be str subclasses
    data.pop("open_target", None)
    return msgspec.convert(data, FallbackRequest)


class SqlRequestStore:
    """Fallback requests; implements `RequestStore`."""

    def __init__(self, engine: AsyncEngine, writer: AsyncEngine) -> None:
        self._engine = engine
        self._writer = writer

    async def create(self, requests: Sequence[FallbackRequest],
                     idempotency: IdempotencyRecord | None) -> list[FallbackRequest]:
        try:
            async with self._writer.begin() as conn:
                if idempotency is not None:
                    await conn.execute(insert(_IDEM), {
                        "account": idempotency.account, "key": idempotency.key,
                        "fingerprint": idempotency.fingerprint,
                        "request_ids": json.dumps(list(idempotency.request_ids)),
                        "created_ns": idempotency.created_ns})
                if requests:
                    await conn.execute(insert(_REQ), [_row(r) for r in requests])
        except IntegrityError as exc:
            if idempotency is not None:
                known = await self.idempotency_record(idempotency.account, idempotency.key)
                if known is not None:  # another process filed the same key first
                    return await self.get_many(known.request_ids)
            raise Conflict("an open request for this order or position exists already",
                           code="request_open_for_target") from exc
        return list(requests)

    async def idempotency_record(self, account: str, key: str) -> IdempotencyRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(_IDEM).where(
                _IDEM.c.account == account, _IDEM.c.key == key))).first()
        if row is None:
            return None
        return IdempotencyRecord(account=row.account, key=row.key, fingerprint=row.fingerprint,
                                 request_ids=tuple(json.loads(row.request_ids)),
                                 created_ns=row.created_ns)

    async def get(self, request_id: str) -> FallbackRequest | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(_REQ).where(_REQ.c.id == request_id))).first()
        return None if row is None else _request(row)

    async def get_many(self, request_ids: Sequence[str]) -> list[FallbackRequest]:
        if not request_ids:
            return []
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(_REQ).where(
                _REQ.c.id.in_(list(request_ids))))).all()
        found = {r.id: _request(r) for r in rows}
        return [found[i] for i in request_ids if i in found]

    async def open_for_target(self, account: str, target: str) -> FallbackRequest | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(_REQ).where(
                _REQ.c.account == account, _REQ.c.open_target == target))).first()
        return None if row is None else _request(row)

    async def list_for_account(self, account: str, *, open_only: bool = False,
                               updated_after_ns: int | None = None,
                               limit: int = 100) -> list[FallbackRequest]:
        query = select(_REQ).where(_REQ.c.account == account)
        if open_only:
            query = query.where(_REQ.c.status.in_(_OPEN))
        if updated_after_ns is not None:
            query = query.where(_REQ.c.updated_ns > updated_after_ns).order_by(
                _REQ.c.updated_ns.desc())
        else:
            query = query.order_by(_REQ.c.created_ns.desc(), _REQ.c.id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.limit(max(1, min(limit, MAX_QUEUE))))).all()
        return [_request(r) for r in rows]

    async def queue(self, query: QueueQuery) -> list[FallbackRequest]:
        statuses = [s.value for s in query.statuses] or _OPEN
        conds: list[ColumnElement[bool]] = [_REQ.c.status.in_(statuses)]
        if query.kind is not None:
            conds.append(_REQ.c.kind == query.kind.value)
        if query.symbol is not None:
            conds.append(_REQ.c.symbol == query.symbol)
        if query.account is not None:
            conds.append(_REQ.c.account == query.account)
        if query.username is not None:
            conds.append(_REQ.c.username == query.username)
        if query.created_before_ns is not None:
            conds.append(_REQ.c.created_ns < query.created_before_ns)
        if query.min_notional is not None:
            conds.append(_REQ.c.notional >= query.min_notional)
        column = _SORTS[query.sort]
        order = column.desc() if query.descending else column.asc()
        stmt = (select(_REQ).where(and_(*conds)).order_by(order, _REQ.c.id)
                .limit(max(1, min(query.limit, MAX_QUEUE))).offset(max(0, query.offset)))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_request(r) for r in rows]

    async def count_open(self) -> dict[RequestStatus, int]:
        stmt = (select(_REQ.c.status, func.count()).where(_REQ.c.status.in_(_OPEN))
                .group_by(_REQ.c.status))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        counts = dict.fromkeys(sorted(OPEN_STATUSES), 0)
        counts.update({RequestStatus(status): int(n) for status, n in rows})
        return counts

    async def update(self, request: FallbackRequest, *, expected_version: int) -> bool:
        row = _row(request)
        row.pop("id")
        try:
            async with self._writer.begin() as conn:
                result = await conn.execute(update(_REQ).where(
                    _REQ.c.id == request.id, _REQ.c.version == expected_version).values(row))
        except IntegrityError as exc:  # re-opening onto a target that has an open request
            raise Conflict("an open request for this order or position exists already",
                           code="request_open_for_target") from exc
        return bool(result.rowcount == 1)

    async def due_for_dispatch(self, limit: int = 100) -> list[FallbackRequest]:
        stmt = (select(_REQ).where(
            (_REQ.c.status.in_(_DUE))
            | ((_REQ.c.status == RequestStatus.EXECUTED.value)
               & (_REQ.c.booking == Booking.PENDING.value)))
            .order_by(_REQ.c.updated_ns, _REQ.c.id).limit(max(1, min(limit, MAX_QUEUE))))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_request(r) for r in rows]


class SqlModeStore:
    """The platform mode row; implements `ModeStore`."""

    def __init__(self, engine: AsyncEngine, writer: AsyncEngine) -> None:
        self._engine = engine
        self._writer = writer

    async def get(self) -> ModeState:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(_MODE).where(_MODE.c.name == _MODE_ROW))).first()
        if row is None:
            return ModeState()
        data = {str(k): v for k, v in row._mapping.items()}
        data.pop("name")
        return msgspec.convert(data, ModeState)

    async def set(self, state: ModeState, *, expected_version: int) -> bool:
        values: dict[str, Any] = msgspec.to_builtins(state)
        try:
            async with self._writer.begin() as conn:
                if expected_version == 0:
                    exists = (await conn.execute(select(_MODE.c.version).where(
                        _MODE.c.name == _MODE_ROW))).first()
                    if exists is None:
                        await conn.execute(insert(_MODE), {"name": _MODE_ROW, **values})
                        return True
                result = await conn.execute(update(_MODE).where(
                    _MODE.c.name == _MODE_ROW,
                    _MODE.c.version == expected_version).values(values))
        except IntegrityError:  # two first writers: the other one inserted the row
            return False
        return bool(result.rowcount == 1)
