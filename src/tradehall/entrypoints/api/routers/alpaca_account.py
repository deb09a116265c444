"""Alpaca `GET /v2/account`: cash, buying power and equity of the caller's account, in USD.

Cash is the USD balance (available plus held), buying power the available part. Equity adds the
market value of the spot holdings quoted in USD and the unrealized P&L of USD-quoted margin
positions (their notional is not owned, so it is not added); other currencies and other quotes
are left out (docs/api-alpaca.md). There is no day boundary, so `last_equity` equals `equity`.
"""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter

from tradehall.entrypoints.api.deps import PlatformDep, PrincipalDep
from tradehall.entrypoints.api.errors import error_responses
from tradehall.entrypoints.api.routers.alpaca_mapping import timestamp
from tradehall.entrypoints.api.routers.alpaca_positions import valuations
from tradehall.entrypoints.api.schemas import alpaca as s
from tradehall.kernel.ids import AssetCode, account_uuid
from tradehall.kernel.numeric import format_units, step_for_scale
from tradehall.trading.model import InstrumentKind

router = APIRouter(prefix="/v2", tags=["alpaca: account"])
CURRENCY = AssetCode("USD")
_DEFAULT_SCALE = 2


@router.get("/account", summary="Get the account", response_model=s.AlpacaAccount,
            responses=error_responses(401))
async def get_account(platform: PlatformDep, principal: PrincipalDep) -> s.AlpacaAccount:
    """The caller's account: USD cash, buying power, equity, market values, margin."""
    account = principal.account
    scale = platform.refdata.asset_scales.get(CURRENCY, _DEFAULT_SCALE)
    step = step_for_scale(scale)
    usd = next((b for b in await platform.read_model.balances(account)
                if b.asset == CURRENCY), None)
    available = 0 if usd is None else usd.available
    cash = Decimal(0) if usd is None else Decimal(usd.available + usd.held) * step
    long_value = short_value = added = margin = Decimal(0)
    for v in await valuations(platform, account):
        if v.inst.quote != CURRENCY:
            continue
        if v.market_value >= 0:
            long_value += v.market_value
        else:
            short_value += v.market_value
        if v.inst.kind is InstrumentKind.MARGIN:
            added += v.unrealized
            margin += Decimal(v.record.margin) * step
        else:
            added += v.market_value
    equity = cash + added

    def text(amount: Decimal) -> str:
        return f"{amount.quantize(step):f}"

    power = format_units(available, step)
    user = await platform.identity.get_user(principal.user_id)
    return s.AlpacaAccount(
        id=account_uuid(account), account_number=account, cash=text(cash),
        buying_power=power, regt_buying_power=power, daytrading_buying_power=power,
        non_marginable_buying_power=power, effective_buying_power=power,
        portfolio_value=text(equity), equity=text(equity), last_equity=text(equity),
        long_market_value=text(long_value), short_market_value=text(short_value),
        position_market_value=text(long_value + short_value), initial_margin=text(margin),
        maintenance_margin=text(margin), last_maintenance_margin=text(margin),
        created_at=None if user is None else timestamp(user.created_ns))
