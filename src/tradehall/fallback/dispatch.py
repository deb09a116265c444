"""`Dispatcher`: executes the desk's decisions through the engine, exactly once.

It runs where the engine runs, while the engine accepts commands and the mode is not
fallback. Each approved request is first moved to `executing` by a conditional update (so one
dispatcher wins), then checked against the live state: the read model is caught up with the
engine before it is read, and the engine itself refuses what is no longer there (a cancel of a
filled order, a close of a flat position). A close is sent with the client order id
`fb-<request id>`: if the process dies after the engine took it, the next run finds that
order in the read model and records what the engine did instead of sending it again; a repeat
would be refused by the engine anyway (client order ids are unique per account).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import msgspec

from tradehall.compliance.audit import AuditLog
from tradehall.fallback.model import (
    Booking,
    Execution,
    FallbackRequest,
    RequestKind,
    RequestStatus,
)
from tradehall.fallback.ports import RequestStore
from tradehall.fallback.service import notify
from tradehall.identity.alerts import AlertService
from tradehall.kernel.clock import Clock
from tradehall.kernel.errors import NotFound, Rejected, TemporaryError
from tradehall.kernel.ids import AccountId, ClientOrderId, order_uuid
from tradehall.service.ports import OrderRecord, ReadModel
from tradehall.service.trading import OrderOutcome, TradingService, order_outcome
from tradehall.trading import commands as c
from tradehall.trading import events as e
from tradehall.trading.model import Side

_log = logging.getLogger(__name__)
ACTOR = "dispatcher"
_MODE_REFUSALS = frozenset({"platform_fallback", "close_only_mode"})
_CATCH_UP_S = 2.0


class _NotNow(Exception):
    """The engine or the mode does not take the command now; try again on the next run."""


class Dispatcher:
    """Works approved requests off through the trading use cases."""

    def __init__(self, store: RequestStore, trading: TradingService, read_model: ReadModel,
                 clock: Clock, audit: AuditLog, alerts: AlertService,
                 engine_seq: Callable[[], int] | None = None,
                 house_account: str | None = None) -> None:
        self._store = store
        self._trading = trading
        self._read = read_model
        self._clock = clock
        self._audit = audit
        self._alerts = alerts
        self._engine_seq = engine_seq
        self._house = house_account

    async def run_once(self, limit: int = 100) -> int:
        """Execute (or settle) the due requests; return how many reached a final status."""
        done = 0
        for request in await self._store.due_for_dispatch(limit):
            if request.booking is Booking.PENDING:
                if not await self._book(request):
                    break
                done += 1
                continue
            if request.status is RequestStatus.APPROVED:
                started = msgspec.structs.replace(request, status=RequestStatus.EXECUTING,
                                                  updated_ns=self._clock.now_ns(),
                                                  version=request.version + 1)
                if not await self._store.update(started, expected_version=request.version):
                    continue  # another dispatcher took it
                request, recovering = started, False
            elif request.status is RequestStatus.EXECUTING:
                recovering = True
            else:
                continue
            try:
                final = await self._execute(request, recovering)
            except _NotNow:
                break  # stays executing; the next run settles it
            if await self._store.update(final, expected_version=request.version):
                await self._audit.record(
                    "fallback.request_" + final.status.value, actor=ACTOR, target=final.id,
                    detail={"account": final.account, "kind": final.kind.value,
                            "symbol": final.symbol, "executed_qty": final.executed_qty,
                            "price": final.price, "engine_order_id": final.engine_order_id,
                            "reject_code": final.reject_code, "recovered": recovering})
                await notify(self._alerts, final)
                done += 1
            else:
                _log.warning("fallback request %s changed while it executed", final.id)
        return done

    # -- Manual executions ----------------------------------------------------------------------

    async def _book(self, r: FallbackRequest) -> bool:
        """Book a manual execution against the house; False when it must wait."""
        try:
            await self._catch_up()
            booked = await self._booking(r)
        except _NotNow:
            return False
        except TemporaryError:
            return False
        if await self._store.update(booked, expected_version=r.version):
            await self._audit.record(
                "fallback.manual_" + booked.booking.value, actor=ACTOR, target=booked.id,
                detail={"account": booked.account, "symbol": booked.symbol,
                        "qty": booked.executed_qty, "price": booked.price,
                        "engine_order_id": booked.engine_order_id,
                        "reason": booked.reject_reason})
        return True

    async def _booking(self, r: FallbackRequest) -> FallbackRequest:
        account = AccountId(r.account)
        cid = ClientOrderId(r.client_order_id)
        known = await self._read.get_order_by_client_id(account, cid)
        if known is not None:  # booked before the process stopped
            return self._booked(r, known.filled_qty, known.id)
        if self._house is None or r.price is None:
            return self._booking_failed(r, "no house account is configured")
        inst = self._trading.refdata.instrument(r.symbol)
        live = next((p.net_qty for p in await self._read.positions(account)
                     if p.symbol == inst.symbol), 0)
        if live == 0 or (live > 0) != (r.side == "long"):
            return self._booking_failed(r, "the position was already closed")
        lots = min(r.executed_qty or abs(live), abs(live))
        command = c.ManualFill(
            account=account, client_order_id=cid, symbol=inst.symbol,
            side=Side.SELL if live > 0 else Side.BUY, qty=lots, price=r.price,
            counterparty=AccountId(self._house), reduce_only=inst.is_margin)
        # The desk's booking, not a user's order: it does not pass the mode's gate.
        result = await self._trading.engine.execute(command)
        try:
            outcome = order_outcome(result, cid)
        except (Rejected, NotFound) as exc:
            return self._booking_failed(r, f"{exc.code}: {exc.message}")
        if outcome.duplicate:
            raise _NotNow  # the read model shows it on the next run
        if outcome.filled_qty == 0:
            reason = outcome.canceled.reason if outcome.canceled else "nothing filled"
            return self._booking_failed(r, reason)
        return self._booked(r, outcome.filled_qty, order_uuid(outcome.order_id))

    def _booked(self, r: FallbackRequest, qty: int, engine_order_id: str) -> FallbackRequest:
        if qty == 0:
            return self._booking_failed(r, "nothing filled")
        return msgspec.structs.replace(r, booking=Booking.BOOKED, executed_qty=qty,
                                       engine_order_id=engine_order_id,
                                       updated_ns=self._clock.now_ns(), version=r.version + 1)

    def _booking_failed(self, r: FallbackRequest, reason: str) -> FallbackRequest:
        # The user was told it executed: the desk reconciles a failed booking by hand.
        _log.warning("manual execution %s not booked: %s", r.id, reason)
        return msgspec.structs.replace(r, booking=Booking.FAILED, reject_reason=reason[:500],
                                       updated_ns=self._clock.now_ns(), version=r.version + 1)

    # -- Engine executions ----------------------------------------------------------------------

    async def _execute(self, r: FallbackRequest, recovering: bool) -> FallbackRequest:
        await self._catch_up()
        try:
            if r.kind is RequestKind.CANCEL_ORDER:
                return await self._cancel(r, recovering)
            return await self._close(r)
        except TemporaryError as exc:
            raise _NotNow from exc
        except Rejected as exc:
            if exc.code in _MODE_REFUSALS:
                raise _NotNow from exc
            return self._rejected(r, exc.code, exc.message)

    async def _catch_up(self) -> None:
        """Read the live state only once the read model has every engine event."""
        if self._engine_seq is not None and not await self._read.wait_for(
                self._engine_seq(), timeout_s=_CATCH_UP_S):
            raise _NotNow

    async def _cancel(self, r: FallbackRequest, recovering: bool) -> FallbackRequest:
        order = None if r.order_id is None else await self._read.get_order(r.order_id)
        if order is None:
            return self._rejected(r, "already_done", "The order no longer exists.")
        try:
            result = await self._trading.cancel_order(AccountId(r.account), order.order_id)
        except NotFound:
            return await self._cancel_refused(r, order, recovering)
        canceled = sum(ev.remaining_qty for ev in result.events
                       if isinstance(ev, e.OrderCanceled))
        return self._executed(r, qty=canceled, price=None, engine_order_id=order.id)

    async def _cancel_refused(self, r: FallbackRequest, order: OrderRecord,
                              recovering: bool) -> FallbackRequest:
        await self._catch_up()
        now = await self._read.get_order(order.id) or order
        if now.status == "filled":
            return self._rejected(r, "already_done",
                                  "The order was filled before it could be canceled.")
        if recovering and now.status == "canceled":
            # Canceled by this request before the process stopped: it is done.
            return self._executed(r, qty=max(0, now.qty - now.filled_qty), price=None,
                                  engine_order_id=now.id)
        return self._rejected(r, "already_done",
                              f"The order was already {now.status.replace('_', ' ')}.")

    async def _close(self, r: FallbackRequest) -> FallbackRequest:
        account = AccountId(r.account)
        cid = ClientOrderId(r.client_order_id)
        known = await self._read.get_order_by_client_id(account, cid)
        if known is not None:  # the engine took it before the process stopped
            return await self._from_record(r, known)
        inst = self._trading.refdata.instrument(r.symbol)
        live = next((p.net_qty for p in await self._read.positions(account)
                     if p.symbol == inst.symbol), 0)
        if live == 0 or (live > 0) != (r.side == "long"):
            return self._rejected(r, "already_done", "The position was already closed.")
        lots = abs(live) if r.qty is None else min(r.qty, abs(live))
        try:
            outcome = await self._trading.close_position(
                account, inst.symbol, net_qty=live, qty=inst.format_qty(lots),
                client_order_id=cid)
        except NotFound:
            return self._rejected(r, "already_done", "The position was already closed.")
        if outcome.duplicate:
            await self._catch_up()
            record = await self._read.get_order_by_client_id(account, cid)
            if record is None:
                raise _NotNow
            return await self._from_record(r, record)
        return self._from_outcome(r, outcome)

    def _from_outcome(self, r: FallbackRequest, outcome: OrderOutcome) -> FallbackRequest:
        filled = outcome.filled_qty
        if filled == 0:
            return self._rejected(r, "insufficient_liquidity",
                                  "There was no liquidity to close the position at market.")
        price = sum(t.price * t.qty for t in outcome.trades) // filled
        return self._executed(r, qty=filled, price=price,
                              engine_order_id=order_uuid(outcome.order_id))

    async def _from_record(self, r: FallbackRequest, record: OrderRecord) -> FallbackRequest:
        if record.filled_qty == 0:
            return self._rejected(r, "insufficient_liquidity",
                                  "There was no liquidity to close the position at market.")
        fills = await self._read.list_fills(AccountId(r.account), order_id=record.order_id,
                                            limit=500)
        qty = sum(f.qty for f in fills)
        price = sum(f.price * f.qty for f in fills) // qty if qty else None
        return self._executed(r, qty=record.filled_qty, price=price, engine_order_id=record.id)

    def _executed(self, r: FallbackRequest, *, qty: int, price: int | None,
                  engine_order_id: str) -> FallbackRequest:
        now = self._clock.now_ns()
        return msgspec.structs.replace(
            r, status=RequestStatus.EXECUTED, execution=Execution.ENGINE, price=price,
            executed_qty=qty, executed_ns=now, engine_order_id=engine_order_id,
            updated_ns=now, version=r.version + 1)

    def _rejected(self, r: FallbackRequest, code: str, reason: str) -> FallbackRequest:
        now = self._clock.now_ns()
        return msgspec.structs.replace(r, status=RequestStatus.REJECTED, reject_code=code,
                                       reject_reason=reason, updated_ns=now,
                                       version=r.version + 1)
