"""The demo market on a real platform (engine thread, journal, SQL read models, bus).

Runs the demo component fast (requotes every 50 ms) and checks what a newcomer would see:
two-sided books with several levels on every demo instrument, trades, quotes that leave with
the makers, and a set-up that is done once: a second start keeps the users, keys and
balances, and a lost credentials file is replaced by new API keys for the same users.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.kit.server import running_platform
from tradehall.entrypoints.demo import catalog, credentials
from tradehall.entrypoints.demo.makers import DemoMarketConfig
from tradehall.entrypoints.demo.setup import DemoComponent
from tradehall.kernel.ids import AccountId
from tradehall.trading.model import Side

FAST = DemoMarketConfig(seed=3, requote_interval_s=0.05, taker_interval_s=0.05,
                        max_commands_per_s=2_000)


async def test_demo_when_running_keeps_two_sided_books_and_trades(tmp_path: Path) -> None:
    async with running_platform(tmp_path / "p", market=False) as srv:
        # Arrange
        demo = DemoComponent(FAST)

        # Act
        await demo.start(srv.platform)
        await asyncio.sleep(2.0)
        market = demo.market
        assert market is not None
        tracker = market.tracker
        sides = {inst.symbol: {o.side for o in tracker.live(inst.maker_account, inst.symbol)}
                 for inst in catalog.INSTRUMENTS}
        depth = {inst.symbol: len(tracker.live(inst.maker_account, inst.symbol))
                 for inst in catalog.INSTRUMENTS}
        trades = tracker.trades
        await demo.stop()
        await srv.platform.read_model.wait_for(srv.platform.engine.last_seq)
        left = [await srv.platform.read_model.list_orders(inst.maker_account, status="open")
                for inst in catalog.INSTRUMENTS]

        # Assert
        assert all(s == {Side.BUY, Side.SELL} for s in sides.values()), sides
        assert all(n >= 2 * FAST.levels - 2 for n in depth.values()), depth
        assert trades > 0
        assert left == [[] for _ in catalog.INSTRUMENTS]  # the quotes leave with the makers
        assert set(tracker.last_price) == {inst.symbol for inst in catalog.INSTRUMENTS}


async def test_demo_when_started_again_creates_nothing_twice(tmp_path: Path) -> None:
    async with running_platform(tmp_path / "p", market=False) as srv:
        # Arrange
        platform = srv.platform
        first = DemoComponent(FAST)
        await first.start(platform)
        await first.stop()
        await platform.read_model.wait_for(platform.engine.last_seq)
        alice = AccountId("alice")
        balances = await platform.read_model.balances(alice)
        saved = credentials.load(platform.settings.data_dir)

        # Act
        second = DemoComponent(FAST)
        await second.start(platform)
        await second.stop()
        await platform.read_model.wait_for(platform.engine.last_seq)

        # Assert
        assert second.credentials == first.credentials
        assert credentials.load(platform.settings.data_dir) == saved
        assert await platform.read_model.balances(alice) == balances
        assert len(await platform.identity.list_users()) == len(catalog.USERS)
        assert len(platform.refdata.instruments) == len(catalog.INSTRUMENTS)


async def test_demo_when_credentials_file_is_lost_issues_new_keys(tmp_path: Path) -> None:
    async with running_platform(tmp_path / "p", market=False) as srv:
        # Arrange
        platform = srv.platform
        first = DemoComponent(FAST)
        await first.start(platform)
        await first.stop()
        credentials.path_in(platform.settings.data_dir).unlink()

        # Act
        second = DemoComponent(FAST)
        await second.start(platform)
        await second.stop()

        # Assert: same users, fresh keys that work, passwords unknown
        assert [c.username for c in second.credentials] == [u.username for u in catalog.USERS]
        for old, new in zip(first.credentials, second.credentials, strict=True):
            assert new.api_key_id != old.api_key_id
            assert new.password is None
            principal = await platform.auth.authenticate_api_key(new.api_key_id,
                                                                 new.api_secret_key)
            assert principal.username == old.username
        assert credentials.load(platform.settings.data_dir) == {
            c.username: c for c in second.credentials}
