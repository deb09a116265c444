"""The fallback use cases: users file requests, the desk works them, operators set the mode.

No I/O of its own: storage behind `ports.py`, last-known orders and positions from the read
model, instruments from `ReferenceData`, time from the `Clock`. Every change is audited and
the request's owner gets an alert on every status change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from tradehall.compliance.audit import AuditLog
from tradehall.fallback.model import (
    MAX_REASON,
    REJECT_PRESETS,
    Booking,
    Execution,
    FallbackRequest,
    ModeState,
    PlatformMode,
    RequestKind,
    RequestStatus,
    check_note,
    check_transition,
)
from tradehall.fallback.ports import IdempotencyRecord, ModeStore, QueueQuery, RequestStore
from tradehall.identity.alerts import AlertService
from tradehall.identity.context import RequestContext
from tradehall.identity.principal import Principal, require_role
from tradehall.kernel.clock import NANOS_PER_SECOND, Clock
from tradehall.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound, Rejected
from tradehall.kernel.ids import AccountId, random_uuid
from tradehall.service.ports import BalanceRecord, OrderRecord, PositionRecord, ReadModel
from tradehall.service.refdata import ReferenceData
from tradehall.trading import commands as c
from tradehall.trading.model import InstrumentKind, Side

MAX_IDEMPOTENCY_KEY = 128
DEALER = "dealer"
Requests = list[FallbackRequest]


@dataclass(frozen=True, slots=True)
class FallbackConfig:
    claim_ttl_s: int = 120
    """A claim not acted on for this long frees the request for other dealers."""
    four_eyes_notional: int | None = None
    """Requests above this notional (quote minor units) need a second dealer; None: off."""
    sla_warn_s: int = 120
    sla_breach_s: int = 600
    house_account: str | None = None
    """The account on the other side of manual executions; None: manual execution is off."""


class AccountSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """What a user sees in fallback: orders and positions as last known, and since when."""

    account: str
    as_of_ns: int
    """When this state was last updated by the engine (the start of fallback, else now)."""
    projected_seq: int
    mode: ModeState
    orders: list[OrderRecord]
    positions: list[PositionRecord]
    balances: list[BalanceRecord]
    requests: list[FallbackRequest]
    """The account's open requests."""


class QueueItem(msgspec.Struct, frozen=True, kw_only=True):
    request: FallbackRequest
    age_s: int
    sla: Literal["ok", "warn", "breach"]


class AccountContext(msgspec.Struct, frozen=True, kw_only=True):
    """What a dealer sees beside a request."""

    account: str
    balances: list[BalanceRecord]
    orders: list[OrderRecord]
    positions: list[PositionRecord]
    requests: list[FallbackRequest]
    """Recent requests of the account, newest first."""


class BulkOutcome(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    ok: bool
    request: FallbackRequest | None = None
    code: str | None = None
    message: str | None = None


_ORDER_OPEN = frozenset({"new", "partially_filled", "pending_new"})
_FALLBACK_REFUSED = "the platform is in fallback mode: file a request to the dealing desk"
_CLOSE_ONLY_REFUSED = ("the platform is in close-only mode: only cancels, closes and orders "
                       "that reduce a position are accepted")
_STATUS_TITLES: dict[RequestStatus, str] = {
    RequestStatus.PENDING: "is waiting for the dealing desk",
    RequestStatus.CLAIMED: "is being handled by the dealing desk",
    RequestStatus.AWAITING_APPROVAL: "waits for a second dealer's approval",
    RequestStatus.APPROVED: "was approved and will execute when trading resumes",
    RequestStatus.EXECUTING: "is executing",
    RequestStatus.EXECUTED: "was executed",
    RequestStatus.REJECTED: "was rejected",
    RequestStatus.WITHDRAWN: "was withdrawn",
}


def describe(request: FallbackRequest) -> str:
    """A short text naming the request for alerts and the audit trail."""
    if request.kind is RequestKind.CANCEL_ORDER:
        return f"cancel of your {request.symbol} {request.side} order"
    part = "close" if request.qty is None else "partial close"
    return f"{part} of your {request.symbol} {request.side} position"


async def notify(alerts: AlertService, request: FallbackRequest) -> None:
    """Tell the request's owner its new status."""
    title = f"Your {describe(request)} {_STATUS_TITLES[request.status]}"
    detail = request.reject_reason or ""
    await alerts.raise_alert(request.user_id, f"fallback_{request.status.value}", title, detail)


def _ctx(ctx: RequestContext | None) -> RequestContext:
    return ctx or RequestContext()


class ModeService:
    """The platform mode: kept in the store, cached here, checked on every trading command."""

    def __init__(self, store: ModeStore, clock: Clock, audit: AuditLog,
                 refdata: ReferenceData | None = None) -> None:
        self._store = store
        self._clock = clock
        self._audit = audit
        self._refdata = refdata
        self._current = ModeState()
        self._changes = 0  # bumped by every set(): a refresh read before it is older
        self.reachable = False
        """Whether the last read of the store succeeded (the fallback role's readiness)."""

    @property
    def current(self) -> ModeState:
        """The cached mode (refreshed by `refresh`, updated at once by `set`)."""
        return self._current

    async def refresh(self) -> ModeState:
        """Re-read the mode from the store (another process may have changed it)."""
        changes = self._changes
        try:
            state = await self._store.get()
        except Exception:
            self.reachable = False
            raise
        self.reachable = True
        if changes == self._changes:  # else a set() meanwhile left a newer state
            self._current = state
        return self._current

    async def set(self, mode: PlatformMode, *, actor: str, reason: str,
                  automatic: bool = False, ctx: RequestContext | None = None) -> ModeState:
        """Change the mode (audited); Conflict `mode_changed` when another writer won."""
        text = check_note(reason, "reason", MAX_REASON)
        before = await self._store.get()
        state = ModeState(mode=mode, reason=text, set_by=actor, since_ns=self._clock.now_ns(),
                          automatic=automatic and mode is PlatformMode.FALLBACK,
                          previous=before.mode if mode is not before.mode else before.previous,
                          version=before.version + 1)
        if not await self._store.set(state, expected_version=before.version):
            self._current = await self._store.get()
            self._changes += 1
            raise Conflict("the mode was changed by someone else meanwhile; read it again",
                           code="mode_changed")
        self._current = state
        self._changes += 1
        where = _ctx(ctx)
        await self._audit.record("platform.mode_set", actor=actor, target=mode.value,
                                 ip=where.ip, user_agent=where.user_agent,
                                 detail={"from": before.mode.value, "to": mode.value,
                                         "reason": text, "automatic": state.automatic})
        return state

    def gate(self, command: c.EngineCommand, /, *, current_qty: int | None = None) -> None:
        """Raise Rejected when the mode refuses a user's trading command.

        fallback: every order, amend, cancel and close (`platform_fallback`);
        close_only: orders that add risk (`close_only_mode`): allowed are cancels, cancel-all,
        closes, amends that only lower the quantity (`current_qty` is the order's total now),
        reduce-only orders and spot sells.
        """
        mode = self._current.mode
        if mode is PlatformMode.NORMAL:
            return
        if mode is PlatformMode.FALLBACK:
            raise Rejected(_FALLBACK_REFUSED, code="platform_fallback")
        if isinstance(command, c.CancelOrder | c.CancelAll | c.ClosePosition):
            return
        if isinstance(command, c.AmendOrder):
            if (command.price is None and command.qty is not None and current_qty is not None
                    and command.qty < current_qty):
                return
        elif isinstance(command, c.SubmitOrder) and (
                command.reduce_only or (command.side is Side.SELL and self._is_spot(command))):
            return
        raise Rejected(_CLOSE_ONLY_REFUSED, code="close_only_mode")

    def _is_spot(self, command: c.SubmitOrder) -> bool:
        if self._refdata is None:
            return False
        return self._refdata.instrument(command.symbol).kind is InstrumentKind.SPOT

    def require(self, *modes: PlatformMode) -> None:
        """Raise Rejected `fallback_not_active` unless the mode is one of `modes`."""
        if self._current.mode not in modes:
            raise Rejected("requests to the dealing desk are taken only while the platform "
                           "is in fallback or close-only mode", code="fallback_not_active")


class _Filing:
    """What one filing call asks for, before it is checked against the state."""

    def __init__(self, kind: str, **fields: object) -> None:
        body = {"kind": kind, **{k: v for k, v in fields.items() if v is not None}}
        self.fingerprint = hashlib.sha256(
            json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def check_idempotency_key(key: str | None) -> str | None:
    """An `Idempotency-Key`: 1-128 printable ASCII characters, or None."""
    if key is None:
        return None
    if not 0 < len(key) <= MAX_IDEMPOTENCY_KEY or not all(33 <= ord(ch) < 127 for ch in key):
        raise InvalidInput("Idempotency-Key", f"must be 1-{MAX_IDEMPOTENCY_KEY} printable "
                           "ASCII characters without spaces", code="invalid_field")
    return key


class _UseCases:
    """What both sides work with."""

    def __init__(self, store: RequestStore, modes: ModeService, read_model: ReadModel,
                 refdata: ReferenceData, clock: Clock, audit: AuditLog, alerts: AlertService,
                 config: FallbackConfig) -> None:
        self._store = store
        self._modes = modes
        self._read = read_model
        self._refdata = refdata
        self._clock = clock
        self._audit = audit
        self._alerts = alerts
        self._config = config


class RequestService(_UseCases):
    """The user's side: last-known state, filing, withdrawing and following requests."""

    async def snapshot(self, principal: Principal) -> AccountSnapshot:
        account = principal.account
        mode = self._modes.current
        now = self._clock.now_ns()
        as_of = min(now, mode.since_ns) if mode.mode is PlatformMode.FALLBACK else now
        return AccountSnapshot(
            account=account, as_of_ns=as_of, projected_seq=self._read.last_seq, mode=mode,
            orders=await self._read.list_orders(account, status="open", limit=500),
            positions=await self._read.positions(account),
            balances=await self._read.balances(account),
            requests=await self._store.list_for_account(account, open_only=True, limit=500))

    async def cancel_order(self, principal: Principal, order_id: str, *, note: str = "",
                           idempotency_key: str | None = None,
                           ctx: RequestContext | None = None) -> FallbackRequest:
        """Request an open order's cancel (NotFound `order_not_found` if not the caller's or
        not open; Conflict `request_open_for_target` if one is open already)."""
        text = check_note(note)
        filing = _Filing("cancel_order", order_id=order_id, note=text)
        repeat = await self._repeat(principal, idempotency_key, filing)
        if repeat is not None:
            return repeat[0]
        self._modes.require(PlatformMode.FALLBACK, PlatformMode.CLOSE_ONLY)
        order = await self._read.get_order(order_id)
        if order is None or order.account != principal.account or \
                order.status not in _ORDER_OPEN:
            raise NotFound(f"no open order {order_id}", code="order_not_found")
        request = self._order_request(principal, order, text, batch_id=None)
        [stored] = await self._create(principal, [request], idempotency_key, filing, ctx)
        return stored

    async def close_position(self, principal: Principal, symbol: str, *,
                             qty: object | None = None, note: str = "",
                             idempotency_key: str | None = None,
                             ctx: RequestContext | None = None) -> FallbackRequest:
        """Request a position's close, all of it or `qty` (a decimal string) of it."""
        text = check_note(note)
        inst = self._refdata.instrument(symbol)
        lots = None if qty is None else inst.qty_to_lots(qty, "qty")
        filing = _Filing("close_position", symbol=inst.symbol, qty=lots, note=text)
        repeat = await self._repeat(principal, idempotency_key, filing)
        if repeat is not None:
            return repeat[0]
        self._modes.require(PlatformMode.FALLBACK, PlatformMode.CLOSE_ONLY)
        position = next((p for p in await self._read.positions(principal.account)
                         if p.symbol == inst.symbol and p.net_qty != 0), None)
        if position is None:
            raise NotFound(f"no open position in {inst.symbol}", code="no_position")
        if lots is not None and lots > abs(position.net_qty):
            raise InvalidInput("qty", "is larger than the position", code="qty_above_position")
        request = self._position_request(principal, position, lots, text, batch_id=None)
        [stored] = await self._create(principal, [request], idempotency_key, filing, ctx)
        return stored

    async def cancel_all(self, principal: Principal, *, symbol: str | None = None,
                         note: str = "", idempotency_key: str | None = None,
                         ctx: RequestContext | None = None) -> Requests:
        """One request per open order without an open request (shared batch id)."""
        text = check_note(note)
        sym = None if symbol is None else self._refdata.instrument(symbol).symbol
        filing = _Filing("cancel_all", symbol=sym, note=text)
        repeat = await self._repeat(principal, idempotency_key, filing)
        if repeat is not None:
            return repeat
        self._modes.require(PlatformMode.FALLBACK, PlatformMode.CLOSE_ONLY)
        orders = await self._read.list_orders(principal.account, status="open",
                                              symbols=None if sym is None else [sym], limit=500)
        batch = random_uuid()

        async def build() -> Requests:
            return [self._order_request(principal, o, text, batch_id=batch) for o in orders
                    if await self._store.open_for_target(principal.account,
                                                         f"order:{o.id}") is None]
        return await self._create_batch(principal, build, idempotency_key, filing, ctx)

    async def close_all(self, principal: Principal, *, note: str = "",
                        idempotency_key: str | None = None,
                        ctx: RequestContext | None = None) -> Requests:
        """One request per open position without an open request (shared batch id)."""
        text = check_note(note)
        filing = _Filing("close_all", note=text)
        repeat = await self._repeat(principal, idempotency_key, filing)
        if repeat is not None:
            return repeat
        self._modes.require(PlatformMode.FALLBACK, PlatformMode.CLOSE_ONLY)
        positions = [p for p in await self._read.positions(principal.account) if p.net_qty]
        batch = random_uuid()

        async def build() -> Requests:
            return [self._position_request(principal, p, None, text, batch_id=batch)
                    for p in positions
                    if await self._store.open_for_target(principal.account,
                                                         f"position:{p.symbol}") is None]
        return await self._create_batch(principal, build, idempotency_key, filing, ctx)

    async def withdraw(self, principal: Principal, request_id: str,
                       ctx: RequestContext | None = None) -> FallbackRequest:
        """Withdraw a pending request (Conflict `request_state` once a dealer has it)."""
        for _ in range(3):
            found = await self.get(principal, request_id)
            now = self._clock.now_ns()
            status = found.status
            if status is RequestStatus.CLAIMED and not found.claimed_now(now):
                status = RequestStatus.PENDING  # an expired claim frees the request
            if status is not RequestStatus.PENDING:
                raise Conflict(f"a {found.status.value} request cannot be withdrawn",
                               code="request_state")
            new = msgspec.structs.replace(found, status=RequestStatus.WITHDRAWN,
                                          claimed_by=None, claim_expires_ns=None,
                                          updated_ns=now, version=found.version + 1)
            if await self._store.update(new, expected_version=found.version):
                where = _ctx(ctx)
                await self._audit.record("fallback.request_withdrawn",
                                         actor=principal.user_id, target=new.id, ip=where.ip,
                                         user_agent=where.user_agent,
                                         detail={"account": new.account, "kind": new.kind.value,
                                                 "symbol": new.symbol})
                await notify(self._alerts, new)
                return new
        raise Conflict("the request changed meanwhile; read it again", code="request_state")

    async def get(self, principal: Principal, request_id: str) -> FallbackRequest:
        """One of the caller's requests (NotFound `request_not_found` for anyone else's)."""
        found = await self._store.get(request_id)
        if found is None or found.account != principal.account:
            raise NotFound(f"request {request_id} not found", code="request_not_found")
        return found

    async def list(self, principal: Principal, *, open_only: bool = False,
                   updated_after_ns: int | None = None,
                   limit: int = 100) -> Requests:
        return await self._store.list_for_account(principal.account, open_only=open_only,
                                                  updated_after_ns=updated_after_ns,
                                                  limit=limit)

    # -- Helpers --------------------------------------------------------------------------------

    async def _repeat(self, principal: Principal, key: str | None,
                      filing: _Filing) -> Requests | None:
        """The requests a key filed before (same content), None for a new key."""
        if check_idempotency_key(key) is None:
            return None
        assert key is not None
        record = await self._store.idempotency_record(principal.account, key)
        if record is None:
            return None
        if record.fingerprint != filing.fingerprint:
            raise Conflict("this Idempotency-Key was used for another request",
                           code="idempotency_key_reused")
        return await self._store.get_many(record.request_ids)

    def _base(self, principal: Principal) -> dict[str, Any]:
        now = self._clock.now_ns()
        return {"id": random_uuid(), "account": principal.account,
                "user_id": principal.user_id, "username": principal.username,
                "created_ns": now, "updated_ns": now}

    def _order_request(self, principal: Principal, order: OrderRecord, note: str,
                       batch_id: str | None) -> FallbackRequest:
        inst = self._refdata.instrument(order.symbol)
        leaves = max(0, order.qty - order.filled_qty)
        price = order.price if order.price is not None else order.stop_price
        notional = 0 if price is None else inst.notional_floor(price, leaves)
        return FallbackRequest(**self._base(principal), kind=RequestKind.CANCEL_ORDER,
                               symbol=order.symbol, order_id=order.id, side=order.side,
                               known_qty=leaves, known_price=price, notional=notional,
                               note=note, batch_id=batch_id)

    def _position_request(self, principal: Principal, position: PositionRecord,
                          lots: int | None, note: str,
                          batch_id: str | None) -> FallbackRequest:
        inst = self._refdata.instrument(position.symbol)
        size = abs(position.net_qty)
        entry = abs(position.cost_ticks) // size if size else None
        notional = 0 if entry is None else inst.notional_floor(entry, size if lots is None
                                                               else lots)
        return FallbackRequest(**self._base(principal), kind=RequestKind.CLOSE_POSITION,
                               symbol=position.symbol,
                               side="long" if position.net_qty > 0 else "short", qty=lots,
                               known_qty=size, known_price=entry, notional=notional,
                               note=note, batch_id=batch_id)

    async def _create(self, principal: Principal, requests: Requests,
                      key: str | None, filing: _Filing,
                      ctx: RequestContext | None) -> Requests:
        idem = None if key is None else IdempotencyRecord(
            account=principal.account, key=key, fingerprint=filing.fingerprint,
            request_ids=tuple(r.id for r in requests), created_ns=self._clock.now_ns())
        stored = await self._store.create(requests, idem)
        if [r.id for r in stored] != [r.id for r in requests]:
            # Another process filed the same key first: answer what it filed, when it is the
            # same content.
            record = await self._store.idempotency_record(principal.account, key or "")
            if record is not None and record.fingerprint != filing.fingerprint:
                raise Conflict("this Idempotency-Key was used for another request",
                               code="idempotency_key_reused")
            return stored
        where = _ctx(ctx)
        for r in stored:
            await self._audit.record("fallback.request_filed", actor=principal.user_id,
                                     target=r.id, ip=where.ip, user_agent=where.user_agent,
                                     detail={"account": r.account, "kind": r.kind.value,
                                             "symbol": r.symbol, "target": r.target,
                                             "qty": r.qty, "batch_id": r.batch_id})
            await notify(self._alerts, r)
        return stored

    async def _create_batch(self, principal: Principal,
                            build: Callable[[], Awaitable[Requests]],
                            key: str | None, filing: _Filing,
                            ctx: RequestContext | None) -> Requests:
        # A target may get an open request between the check and the insert (another tab):
        # build the batch again without it.
        for attempt in range(3):
            requests = await build()
            try:
                return await self._create(principal, requests, key, filing, ctx)
            except Conflict as exc:
                if exc.code != "request_open_for_target" or attempt == 2:
                    raise
        raise AssertionError("unreachable")


def sla_of(config: FallbackConfig, age_s: int) -> Literal["ok", "warn", "breach"]:
    if age_s >= config.sla_breach_s:
        return "breach"
    if age_s >= config.sla_warn_s:
        return "warn"
    return "ok"


class DeskService(_UseCases):
    """The dealing desk's side. Every method needs the dealer role (Forbidden otherwise)."""

    def __init__(self, store: RequestStore, modes: ModeService, read_model: ReadModel,
                 refdata: ReferenceData, clock: Clock, audit: AuditLog, alerts: AlertService,
                 config: FallbackConfig, wake_dispatcher: Callable[[], None] | None = None
                 ) -> None:
        super().__init__(store, modes, read_model, refdata, clock, audit, alerts, config)
        self._wake = wake_dispatcher

    async def queue(self, dealer: Principal, query: QueueQuery) -> list[QueueItem]:
        require_role(dealer, DEALER)
        now = self._clock.now_ns()
        return [self._item(r, now) for r in await self._store.queue(query)]

    async def summary(self, dealer: Principal) -> dict[str, int]:
        """Open requests by status."""
        require_role(dealer, DEALER)
        return {s.value: n for s, n in (await self._store.count_open()).items()}

    async def get(self, dealer: Principal, request_id: str) -> QueueItem:
        require_role(dealer, DEALER)
        return self._item(await self._load(request_id), self._clock.now_ns())

    async def context(self, dealer: Principal, account: str) -> AccountContext:
        require_role(dealer, DEALER)
        acc = AccountId(account)
        requests = await self._store.list_for_account(acc, limit=20)
        balances = await self._read.balances(acc)
        if not requests and not balances:
            raise NotFound(f"account {account} not found", code="account_not_found")
        return AccountContext(account=acc, balances=balances,
                              orders=await self._read.list_orders(acc, status="open",
                                                                  limit=500),
                              positions=await self._read.positions(acc), requests=requests)

    async def claim(self, dealer: Principal, request_id: str,
                    ctx: RequestContext | None = None) -> FallbackRequest:
        """Claim (or renew the caller's claim); Conflict `request_claimed` if another
        dealer's claim is live."""
        require_role(dealer, DEALER)

        def change(r: FallbackRequest, now: int) -> FallbackRequest:
            self._check_claimable(r, dealer, now)
            return self._claimed(r, dealer, now)
        return await self._transition(dealer, request_id, change, "desk.claim", ctx)

    async def release(self, dealer: Principal, request_id: str,
                      ctx: RequestContext | None = None) -> FallbackRequest:
        require_role(dealer, DEALER)

        def change(r: FallbackRequest, now: int) -> FallbackRequest:
            if r.status is not RequestStatus.CLAIMED:
                raise Conflict(f"a {r.status.value} request is not claimed",
                               code="request_state")
            if r.claimed_now(now) and r.claimed_by != dealer.username:
                raise Conflict(f"claimed by {r.claimed_by}", code="request_claimed")
            return msgspec.structs.replace(r, status=RequestStatus.PENDING, claimed_by=None,
                                           claim_expires_ns=None)
        return await self._transition(dealer, request_id, change, "desk.release", ctx)

    async def execute(self, dealer: Principal, request_id: str,
                      ctx: RequestContext | None = None, *,
                      price: object | None = None) -> FallbackRequest:
        """Decide to execute: at market, approved (the dispatcher executes it once the engine
        accepts commands); or, for a close with `price` (a decimal string), manually at that
        price: executed at once for the user, booked against the house account when the
        engine accepts commands. Above the four-eyes notional it awaits a second dealer
        first. Claims it first when it is free."""
        require_role(dealer, DEALER)
        limit = self._config.four_eyes_notional
        ticks = None if price is None else await self._manual_price(request_id, price)

        def change(r: FallbackRequest, now: int) -> FallbackRequest:
            self._check_claimable(r, dealer, now)
            needs_second = limit is not None and r.notional > limit
            decided = msgspec.structs.replace(
                self._claimed(r, dealer, now), decided_by=dealer.username,
                claim_expires_ns=None,
                execution=Execution.ENGINE if ticks is None else Execution.MANUAL,
                price=ticks)
            if needs_second:
                return msgspec.structs.replace(decided,
                                               status=RequestStatus.AWAITING_APPROVAL)
            return self._decided(decided, now)
        found = await self._transition(dealer, request_id, change, "desk.execute", ctx)
        self._wake_if_due(found)
        return found

    async def _manual_price(self, request_id: str, price: object) -> int:
        if self._config.house_account is None:
            raise Conflict("manual execution is off: no house account is configured "
                           "(TRADEHALL_FALLBACK_HOUSE_ACCOUNT)",
                           code="manual_execution_unavailable")
        found = await self._load(request_id)
        if found.kind is not RequestKind.CLOSE_POSITION:
            raise InvalidInput("price", "a price applies to closing a position only",
                               code="field_not_allowed")
        ticks = self._refdata.instrument(found.symbol).price_to_ticks(price, "price")
        if ticks <= 0:
            raise InvalidInput("price", "must be positive", code="invalid_price")
        return ticks

    @staticmethod
    def _decided(r: FallbackRequest, now: int) -> FallbackRequest:
        """Approved for the dispatcher, or, for a manual execution, executed now (booked
        later)."""
        if r.execution is Execution.MANUAL:
            return msgspec.structs.replace(r, status=RequestStatus.EXECUTED,
                                           executed_qty=r.qty or r.known_qty,
                                           executed_ns=now, booking=Booking.PENDING)
        return msgspec.structs.replace(r, status=RequestStatus.APPROVED)

    def _wake_if_due(self, r: FallbackRequest) -> None:
        due = r.status is RequestStatus.APPROVED or r.booking is Booking.PENDING
        if due and self._wake is not None:
            self._wake()

    async def approve(self, dealer: Principal, request_id: str,
                      ctx: RequestContext | None = None) -> FallbackRequest:
        """Four-eyes approval by a second dealer (Forbidden `four_eyes_same_dealer`)."""
        require_role(dealer, DEALER)

        def change(r: FallbackRequest, now: int) -> FallbackRequest:
            if r.status is not RequestStatus.AWAITING_APPROVAL:
                raise Conflict(f"a {r.status.value} request does not wait for approval",
                               code="request_state")
            if r.decided_by == dealer.username:
                raise Forbidden("a second dealer must approve this request",
                                code="four_eyes_same_dealer")
            return self._decided(msgspec.structs.replace(r, approved_by=dealer.username), now)
        found = await self._transition(dealer, request_id, change, "desk.approve", ctx)
        self._wake_if_due(found)
        return found

    async def reject(self, dealer: Principal, request_id: str, *, code: str | None = None,
                     reason: str | None = None,
                     ctx: RequestContext | None = None) -> FallbackRequest:
        """Reject with a preset code (`REJECT_PRESETS`) and/or a free-text reason."""
        require_role(dealer, DEALER)
        if code is not None and code not in REJECT_PRESETS:
            raise InvalidInput("code", "is not a preset reason: use one of "
                               + ", ".join(REJECT_PRESETS), code="unknown_reject_code")
        text = check_note(reason or "", "reason", MAX_REASON)
        if code is None and not text:
            raise InvalidInput("reason", "give a preset code or a reason",
                               code="reason_required")
        shown = text or REJECT_PRESETS[code or ""]

        def change(r: FallbackRequest, now: int) -> FallbackRequest:
            if r.status in (RequestStatus.PENDING, RequestStatus.CLAIMED):
                self._check_claimable(r, dealer, now)
            elif r.status not in (RequestStatus.AWAITING_APPROVAL, RequestStatus.APPROVED):
                # Approved but not yet taken by the dispatcher may still be stopped: the
                # conditional update lets only one of the two win.
                raise Conflict(f"a {r.status.value} request cannot be rejected",
                               code="request_state")
            return msgspec.structs.replace(r, status=RequestStatus.REJECTED,
                                           decided_by=dealer.username, claim_expires_ns=None,
                                           execution=None, price=None,
                                           reject_code=code or "dealer", reject_reason=shown)
        return await self._transition(dealer, request_id, change, "desk.reject", ctx)

    async def bulk(self, dealer: Principal, request_ids: Sequence[str],
                   action: Literal["execute", "reject"], *, code: str | None = None,
                   reason: str | None = None,
                   ctx: RequestContext | None = None) -> list[BulkOutcome]:
        """Apply one action to each request; one failure does not stop the others."""
        require_role(dealer, DEALER)
        outcomes: list[BulkOutcome] = []
        for request_id in dict.fromkeys(request_ids):  # each id once, in the given order
            try:
                if action == "execute":
                    done = await self.execute(dealer, request_id, ctx)
                else:
                    done = await self.reject(dealer, request_id, code=code, reason=reason,
                                             ctx=ctx)
            except (Conflict, NotFound, Rejected, Forbidden) as exc:
                outcomes.append(BulkOutcome(id=request_id, ok=False, code=exc.code,
                                            message=exc.message))
            else:
                outcomes.append(BulkOutcome(id=request_id, ok=True, request=done))
        return outcomes

    # -- Helpers --------------------------------------------------------------------------------

    def _item(self, request: FallbackRequest, now: int) -> QueueItem:
        shown = request
        if request.status is RequestStatus.CLAIMED and not request.claimed_now(now):
            # An expired claim is free again: show it as pending.
            shown = msgspec.structs.replace(request, status=RequestStatus.PENDING,
                                            claimed_by=None, claim_expires_ns=None)
        age_s = max(0, (now - request.created_ns) // NANOS_PER_SECOND)
        sla = sla_of(self._config, age_s) if shown.is_open else "ok"
        return QueueItem(request=shown, age_s=age_s, sla=sla)

    async def _load(self, request_id: str) -> FallbackRequest:
        found = await self._store.get(request_id)
        if found is None:
            raise NotFound(f"request {request_id} not found", code="request_not_found")
        return found

    @staticmethod
    def _check_claimable(r: FallbackRequest, dealer: Principal, now: int) -> None:
        if r.status is RequestStatus.CLAIMED:
            if r.claimed_now(now) and r.claimed_by != dealer.username:
                raise Conflict(f"claimed by {r.claimed_by}", code="request_claimed")
        elif r.status is not RequestStatus.PENDING:
            raise Conflict(f"a {r.status.value} request cannot be worked on",
                           code="request_state")

    def _claimed(self, r: FallbackRequest, dealer: Principal, now: int) -> FallbackRequest:
        return msgspec.structs.replace(
            r, status=RequestStatus.CLAIMED, claimed_by=dealer.username,
            claim_expires_ns=now + self._config.claim_ttl_s * NANOS_PER_SECOND)

    async def _transition(self, dealer: Principal, request_id: str,
                          change: Callable[[FallbackRequest, int], FallbackRequest],
                          action: str, ctx: RequestContext | None) -> FallbackRequest:
        """Read, change, and store conditionally; a lost race re-reads and tries again."""
        for _ in range(3):
            current = await self._load(request_id)
            now = self._clock.now_ns()
            changed = change(current, now)
            check_transition(current.status, changed.status)
            new = msgspec.structs.replace(changed, updated_ns=now, version=current.version + 1)
            if await self._store.update(new, expected_version=current.version):
                where = _ctx(ctx)
                await self._audit.record(action, actor=dealer.user_id, target=new.id,
                                         ip=where.ip, user_agent=where.user_agent,
                                         detail={"account": new.account, "from":
                                                 current.status.value, "to": new.status.value,
                                                 "dealer": dealer.username,
                                                 "reject_code": new.reject_code})
                if new.status is not current.status:
                    await notify(self._alerts, new)
                return new
        raise Conflict("the request changed meanwhile; read it again", code="request_state")
