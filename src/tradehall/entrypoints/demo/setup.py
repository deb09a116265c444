"""The demo market as a platform component: create it once, then keep it live.

On start it brings the platform to the demo's state without ever doing a step twice: assets
and instruments missing from the reference data are added; each demo account (users, makers,
the taker) gets its deposits only when the read models, caught up with the engine, show no
balance of that asset for it (so a restart never deposits again); demo users missing from the
identity store are created with an API key pair, and the credentials file is checked against
the store and kept. Then it starts the market makers and the taker flow, resuming each mid
from the last one-minute candle. Everything goes through the engine port and the auth
service, never through HTTP.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING

from tradehall.entrypoints.demo import catalog, credentials
from tradehall.entrypoints.demo.credentials import DemoCredential
from tradehall.entrypoints.demo.makers import DemoMarket, DemoMarketConfig
from tradehall.identity.context import RequestContext
from tradehall.identity.principal import SCOPES
from tradehall.kernel.clock import NANOS_PER_SECOND
from tradehall.kernel.errors import TemporaryError, Unauthorized
from tradehall.kernel.ids import AccountId, AssetCode, Symbol, random_token
from tradehall.trading import commands as c
from tradehall.trading import events as e

if TYPE_CHECKING:
    from tradehall.bootstrap import Platform

_log = logging.getLogger(__name__)
_CATCH_UP_S = 60.0


class DemoComponent:
    """Sets up the demo market on start and runs its makers until stop."""

    def __init__(self, config: DemoMarketConfig | None = None) -> None:
        self.config = config or DemoMarketConfig()
        self.market: DemoMarket | None = None
        self.credentials: list[DemoCredential] = []

    async def attach(self, platform: Platform) -> None:
        """Nothing to subscribe before the engine starts."""

    async def start(self, platform: Platform) -> None:
        """Create what is missing, write the credentials file, start the makers."""
        await ensure_reference_data(platform)
        await ensure_funding(platform)
        self.credentials = await ensure_users(platform)
        credentials.save(platform.settings.data_dir, self.credentials)
        start_prices = await last_prices(platform)
        run_id = _base36(platform.clock.now_ns() // 1_000_000)
        self.market = DemoMarket(platform.engine, platform.bus, self.config, run_id)
        self.market.start(start_prices)

    async def stop(self) -> None:
        """Stop the makers and the taker."""
        if self.market is not None:
            await self.market.stop()
            self.market = None


async def ensure_reference_data(platform: Platform) -> None:
    """Add the demo assets and instruments the engine does not have yet."""
    refdata = platform.refdata
    commands: list[c.EngineCommand] = [*catalog.asset_commands(set(refdata.asset_scales))]
    commands += catalog.instrument_commands(set(refdata.instruments))
    if not commands:
        return
    results = await platform.engine.execute_many(commands)
    for result in results:
        for event in result.events:
            if isinstance(event, e.CommandRejected):
                raise RuntimeError(f"demo reference data refused: {event.reason}: "
                                   f"{event.message}")


def _planned_deposits() -> list[tuple[AccountId, str, Decimal]]:
    planned = catalog.system_funding()
    for user in catalog.USERS:
        planned += [(AccountId(user.username), asset, amount) for asset, amount in user.deposits]
    return planned


async def ensure_funding(platform: Platform) -> None:
    """Deposit into each demo account every asset it has never held."""
    read_model = platform.read_model
    if not await read_model.wait_for(platform.engine.last_seq, _CATCH_UP_S):
        raise TemporaryError("the read models did not catch up with the engine",
                             code="projection_lagging")
    held: dict[AccountId, set[AssetCode]] = {}
    commands: list[c.EngineCommand] = []
    for account, asset, amount in _planned_deposits():
        if account not in held:
            held[account] = {b.asset for b in await read_model.balances(account)}
        if asset in held[account]:
            continue
        units = platform.refdata.parse_amount(asset, str(amount))
        commands.append(c.Deposit(account=account, asset=AssetCode(asset), amount=units))
    if commands:
        await platform.engine.execute_many(commands)
        await read_model.wait_for(platform.engine.last_seq, _CATCH_UP_S)


async def ensure_users(platform: Platform) -> list[DemoCredential]:
    """Create the missing demo users and return the credentials of every one."""
    known = credentials.load(platform.settings.data_dir)
    out = []
    for demo_user in catalog.USERS:
        entry = await _ensure_user(platform, demo_user, known.get(demo_user.username))
        if entry is not None:
            out.append(entry)
    return out


async def _ensure_user(platform: Platform, demo_user: catalog.DemoUser,
                       entry: DemoCredential | None) -> DemoCredential | None:
    username = demo_user.username
    auth = platform.auth
    user = await platform.identity.get_user_by_username(username)
    if user is None:
        fresh = random_token(12)
        user = await auth.create_user(username, fresh, demo_user.roles)
        key = await auth.create_api_key(user, "demo", scopes=SCOPES)
        return DemoCredential(username=username, password=fresh, api_key_id=key.key_id,
                              api_secret_key=key.secret)
    if user.account != AccountId(username):
        _log.warning("demo user %s trades another account: left out of the demo", username)
        return None
    password: str | None = None if entry is None else entry.password
    if password is not None:
        try:
            # Only check the password: a login would open a session on every start.
            await auth.users.verify_login(username, password, None,
                                          RequestContext(user_agent="demo setup"))
        except Unauthorized:
            _log.warning("demo user %s: the stored password no longer matches", username)
            password = None
    if entry is not None:
        try:
            await auth.authenticate_api_key(entry.api_key_id, entry.api_secret_key)
        except Unauthorized:
            entry = None
        else:
            return DemoCredential(username=username, password=password,
                                  api_key_id=entry.api_key_id,
                                  api_secret_key=entry.api_secret_key)
    # The file lost this user's key (or was removed): issue a new pair; a lost password
    # cannot be recovered, only hashed copies exist.
    key = await auth.create_api_key(user, "demo", scopes=SCOPES)
    if password is None:
        _log.warning("demo user %s: password unknown (credentials file was lost)", username)
    return DemoCredential(username=username, password=password, api_key_id=key.key_id,
                          api_secret_key=key.secret)


async def last_prices(platform: Platform) -> dict[Symbol, int]:
    """Return the close of each demo instrument's newest one-minute candle, if any."""
    since = platform.clock.now_ns() - 7 * 86_400 * NANOS_PER_SECOND
    out: dict[Symbol, int] = {}
    for inst in catalog.INSTRUMENTS:
        candles = await platform.read_model.candles(inst.symbol, 60, from_ns=since, limit=1)
        if candles:
            out[inst.symbol] = candles[-1].close
    return out


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
        if value == 0:
            return out
