"""Native funds: the caller's balances, their withdrawals, and admin deposits and withdrawals.

Money moves only through the trading use cases (`service/trading.py`), so the engine's ledger
rules decide and its reason codes come back unchanged. A withdrawal may carry an
`Idempotency-Key`: the first answer is kept (per account, in this process, bounded) and replayed
for a retry with the same body; the same key with another body is refused. A withdrawal is a
step-up action: once the user has 2FA, it needs a code in the `X-Tradehall-OTP` header
(`identity/mfa.py`), checked before anything else.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from tradehall.entrypoints.api.deps import AdminDep, ContextDep, PlatformDep, PrincipalDep
from tradehall.entrypoints.api.errors import ApiError, error_responses
from tradehall.entrypoints.api.routers.native_common import caught_up, summaries_from_docstrings
from tradehall.entrypoints.api.schemas import native as s
from tradehall.identity.mfa import OTP_HEADER
from tradehall.kernel.errors import InvalidInput, NotFound
from tradehall.kernel.ids import AccountId
from tradehall.trading import events as e

router = APIRouter(prefix="/v1", tags=["funds"])
MAX_IDEMPOTENCY_KEYS = 10_000
_KEY_HEADER = Header(alias="Idempotency-Key", max_length=128,
                     description="retry-safe key: the same key and body give the first answer")
_OTP_HEADER = Header(alias=OTP_HEADER, max_length=64,
                     description="2FA code (TOTP or recovery code), needed once 2FA is on")


class IdempotencyCache:
    """First answers of keyed requests, per (account, key), oldest evicted first."""

    def __init__(self, capacity: int = MAX_IDEMPOTENCY_KEYS) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[tuple[str, str], tuple[str, asyncio.Future[bytes]]] = (
            OrderedDict())

    def claim(self, account: str, key: str, fingerprint: str) -> asyncio.Future[bytes] | None:
        """Return the stored answer's future, or None when this request is the first."""
        entry = self._entries.get((account, key))
        if entry is not None:
            if entry[0] != fingerprint:
                raise ApiError(422, "idempotency_key_reused",
                               "this Idempotency-Key was used with another request",
                               "Idempotency-Key")
            return entry[1]
        self._entries[(account, key)] = (fingerprint, asyncio.get_running_loop().create_future())
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
        return None

    def settle(self, account: str, key: str, body: bytes | None) -> None:
        """Store the first answer, or forget the key when the request failed."""
        entry = self._entries.get((account, key))
        if entry is None:
            return
        if body is None:
            del self._entries[(account, key)]
            entry[1].cancel()
        else:
            entry[1].set_result(body)


def _cache(request: Request) -> IdempotencyCache:
    cache: IdempotencyCache | None = getattr(request.app.state, "native_idempotency", None)
    if cache is None:
        cache = request.app.state.native_idempotency = IdempotencyCache()
    return cache


def _transfer(platform: PlatformDep, ev: e.Deposited | e.Withdrawn) -> s.TransferPublic:
    fmt = platform.refdata.format_amount
    return s.TransferPublic(kind="deposit" if isinstance(ev, e.Deposited) else "withdrawal",
                            account=ev.account, asset=ev.asset,
                            amount=fmt(ev.asset, ev.amount), available=fmt(ev.asset, ev.available))


@router.get("/balances", response_model=s.BalancesPublic, responses=error_responses(401))
async def list_balances(platform: PlatformDep, principal: PrincipalDep) -> s.BalancesPublic:
    """List the caller's balances per asset: available, held by orders, total."""
    await caught_up(platform)
    records = await platform.read_model.balances(principal.account)
    fmt = platform.refdata.format_amount
    return s.BalancesPublic(data=[
        s.BalancePublic(asset=r.asset, available=fmt(r.asset, r.available),
                        held=fmt(r.asset, r.held), total=fmt(r.asset, r.available + r.held))
        for r in sorted(records, key=lambda r: r.asset)])


@router.post("/withdrawals", response_model=s.TransferPublic, status_code=201,
             responses=error_responses(401, 403, 409, 422, 503))
async def create_withdrawal(body: s.WithdrawalCreate, request: Request, platform: PlatformDep,
                            principal: PrincipalDep, ctx: ContextDep,
                            idempotency_key: Annotated[str | None, _KEY_HEADER] = None,
                            otp: Annotated[str | None, _OTP_HEADER] = None,
                            ) -> s.TransferPublic | Response:
    """Withdraw from the caller's available balance (optional `Idempotency-Key`)."""
    await platform.auth.mfa.require_step_up(principal.user_id, otp, action="withdrawal",
                                            ctx=ctx)
    if idempotency_key is None:
        ev = await platform.trading.withdraw(principal.account, body.asset, body.amount)
        await caught_up(platform)
        return _transfer(platform, ev)
    if not idempotency_key.isprintable() or not idempotency_key.strip():
        raise InvalidInput("Idempotency-Key", "must be printable text",
                           code="invalid_idempotency_key")
    cache = _cache(request)
    fingerprint = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    earlier = cache.claim(principal.account, idempotency_key, fingerprint)
    if earlier is not None:
        try:
            stored = await asyncio.shield(earlier)
        except asyncio.CancelledError:
            raise ApiError(409, "idempotency_key_in_use", "the first request with this "
                           "Idempotency-Key failed or is still running; retry",
                           "Idempotency-Key") from None
        return Response(stored, status_code=201, media_type="application/json",
                        headers={"Idempotent-Replayed": "true"})
    answer: bytes | None = None
    try:
        ev = await platform.trading.withdraw(principal.account, body.asset, body.amount)
        await caught_up(platform)
        public = _transfer(platform, ev)
        answer = public.model_dump_json().encode()
        return public
    finally:
        cache.settle(principal.account, idempotency_key, answer)


async def _account_of(platform: PlatformDep, username: str) -> AccountId:
    user = await platform.identity.get_user_by_username(username)
    if user is None:
        raise NotFound(f"no user {username}", code="user_not_found")
    return user.account


@router.post("/admin/deposits", response_model=s.TransferPublic, status_code=201,
             responses=error_responses(401, 403, 404, 422, 503))
async def admin_deposit(body: s.AdminTransferCreate, platform: PlatformDep,
                        _: AdminDep) -> s.TransferPublic:
    """Credit a user's account from custody (admin role)."""
    account = await _account_of(platform, body.username)
    ev = await platform.trading.deposit(account, body.asset, body.amount)
    await caught_up(platform)
    return _transfer(platform, ev)


@router.post("/admin/withdrawals", response_model=s.TransferPublic, status_code=201,
             responses=error_responses(401, 403, 404, 422, 503))
async def admin_withdrawal(body: s.AdminTransferCreate, platform: PlatformDep,
                           _: AdminDep) -> s.TransferPublic:
    """Debit a user's available balance to custody (admin role)."""
    account = await _account_of(platform, body.username)
    ev = await platform.trading.withdraw(account, body.asset, body.amount)
    await caught_up(platform)
    return _transfer(platform, ev)


summaries_from_docstrings(router)
