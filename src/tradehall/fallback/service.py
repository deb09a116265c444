"""The fallback use cases: users file requests, the desk works them, operators set the mode.

No I/O of its own: storage behind `ports.py`, last-known orders and positions from the read
model, instruments from `ReferenceData`, time from the `Clock`. Every change is audited and
the request's owner gets an alert on every status change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import msgspec

from tradehall.compliance.audit import AuditLog
from tradehall.fallback.model import FallbackRequest, ModeState, PlatformMode
from tradehall.fallback.ports import ModeStore, QueueQuery, RequestStore
from tradehall.identity.alerts import AlertService
from tradehall.identity.context import RequestContext
from tradehall.identity.principal import Principal
from tradehall.kernel.clock import Clock
from tradehall.service.ports import BalanceRecord, OrderRecord, PositionRecord, ReadModel
from tradehall.service.refdata import ReferenceData
from tradehall.trading import commands as c

MAX_IDEMPOTENCY_KEY = 128


@dataclass(frozen=True, slots=True)
class FallbackConfig:
    claim_ttl_s: int = 120
    """A claim not acted on for this long frees the request for other dealers."""
    four_eyes_notional: int | None = None
    """Requests above this notional (quote minor units) need a second dealer; None: off."""
    sla_warn_s: int = 120
    sla_breach_s: int = 600


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


class ModeService:
    """The platform mode: kept in the store, cached here, checked on every trading command."""

    def __init__(self, store: ModeStore, clock: Clock, audit: AuditLog) -> None:
        raise NotImplementedError

    @property
    def current(self) -> ModeState:
        """The cached mode (refreshed by `refresh`, updated at once by `set`)."""
        raise NotImplementedError

    async def refresh(self) -> ModeState:
        """Re-read the mode from the store (another process may have changed it)."""
        raise NotImplementedError

    async def set(self, mode: PlatformMode, *, actor: str, reason: str,
                  automatic: bool = False, ctx: RequestContext | None = None) -> ModeState:
        """Change the mode (audited)."""
        raise NotImplementedError

    def gate(self, command: c.EngineCommand) -> None:
        """Raise Rejected when the mode refuses a user's trading command.

        fallback: every order, amend, cancel and close (`platform_fallback`);
        close_only: orders that add risk (`close_only_mode`): allowed are cancels, cancel-all,
        closes, amends that only lower the quantity, reduce-only orders and spot sells.
        """
        raise NotImplementedError


class RequestService:
    """The user's side: last-known state, filing, withdrawing and following requests."""

    def __init__(self, store: RequestStore, modes: ModeService, read_model: ReadModel,
                 refdata: ReferenceData, clock: Clock, audit: AuditLog, alerts: AlertService,
                 config: FallbackConfig) -> None:
        raise NotImplementedError

    async def snapshot(self, principal: Principal) -> AccountSnapshot:
        raise NotImplementedError

    async def cancel_order(self, principal: Principal, order_id: str, *, note: str = "",
                           idempotency_key: str | None = None,
                           ctx: RequestContext | None = None) -> FallbackRequest:
        """Request an open order's cancel (NotFound `order_not_found` if not the caller's or
        not open; Conflict `request_open_for_target` if one is open already)."""
        raise NotImplementedError

    async def close_position(self, principal: Principal, symbol: str, *,
                             qty: object | None = None, note: str = "",
                             idempotency_key: str | None = None,
                             ctx: RequestContext | None = None) -> FallbackRequest:
        """Request a position's close, all of it or `qty` (a decimal string) of it."""
        raise NotImplementedError

    async def cancel_all(self, principal: Principal, *, symbol: str | None = None,
                         note: str = "", idempotency_key: str | None = None,
                         ctx: RequestContext | None = None) -> list[FallbackRequest]:
        """One request per open order without an open request (shared batch id)."""
        raise NotImplementedError

    async def close_all(self, principal: Principal, *, note: str = "",
                        idempotency_key: str | None = None,
                        ctx: RequestContext | None = None) -> list[FallbackRequest]:
        """One request per open position without an open request (shared batch id)."""
        raise NotImplementedError

    async def withdraw(self, principal: Principal, request_id: str,
                       ctx: RequestContext | None = None) -> FallbackRequest:
        """Withdraw a pending request (Conflict `request_state` once a dealer has it)."""
        raise NotImplementedError

    async def get(self, principal: Principal, request_id: str) -> FallbackRequest:
        """One of the caller's requests (NotFound `request_not_found` for anyone else's)."""
        raise NotImplementedError

    async def list(self, principal: Principal, *, open_only: bool = False,
                   updated_after_ns: int | None = None,
                   limit: int = 100) -> list[FallbackRequest]:
        raise NotImplementedError


class DeskService:
    """The dealing desk's side. Every method needs the dealer role (Forbidden otherwise)."""

    def __init__(self, store: RequestStore, modes: ModeService, read_model: ReadModel,
                 refdata: ReferenceData, clock: Clock, audit: AuditLog, alerts: AlertService,
                 config: FallbackConfig, wake_dispatcher: Callable[[], None] | None = None
                 ) -> None:
        raise NotImplementedError

    async def queue(self, dealer: Principal, query: QueueQuery) -> list[QueueItem]:
        raise NotImplementedError

    async def summary(self, dealer: Principal) -> dict[str, int]:
        """Open requests by status."""
        raise NotImplementedError

    async def get(self, dealer: Principal, request_id: str) -> QueueItem:
        raise NotImplementedError

    async def context(self, dealer: Principal, account: str) -> AccountContext:
        raise NotImplementedError

    async def claim(self, dealer: Principal, request_id: str,
                    ctx: RequestContext | None = None) -> FallbackRequest:
        """Claim (or renew the caller's claim); Conflict `request_claimed` if another
        dealer's claim is live."""
        raise NotImplementedError

    async def release(self, dealer: Principal, request_id: str,
                      ctx: RequestContext | None = None) -> FallbackRequest:
        raise NotImplementedError

    async def execute(self, dealer: Principal, request_id: str,
                      ctx: RequestContext | None = None) -> FallbackRequest:
        """Decide to execute at market: approved (the dispatcher executes it once the engine
        accepts commands), or awaiting_approval above the four-eyes notional. Claims it
        first when it is free."""
        raise NotImplementedError

    async def approve(self, dealer: Principal, request_id: str,
                      ctx: RequestContext | None = None) -> FallbackRequest:
        """Four-eyes approval by a second dealer (Forbidden `four_eyes_same_dealer`)."""
        raise NotImplementedError

    async def reject(self, dealer: Principal, request_id: str, *, code: str | None = None,
                     reason: str | None = None,
                     ctx: RequestContext | None = None) -> FallbackRequest:
        """Reject with a preset code (`REJECT_PRESETS`) and/or a free-text reason."""
        raise NotImplementedError

    async def bulk(self, dealer: Principal, request_ids: Sequence[str],
                   action: Literal["execute", "reject"], *, code: str | None = None,
                   reason: str | None = None,
                   ctx: RequestContext | None = None) -> list[BulkOutcome]:
        """Apply one action to each request; one failure does not stop the others."""
        raise NotImplementedError
