"""Platform components' loops stop even when an awaited call swallows the cancel (gh-86296).

Each test parks the component's loop in a `SwallowingCall` standing in for what it awaits
(the mode store, the engine port, the key ring), stops the component, and expects the stop to
return well within its bound. A stop that cancels once and awaits would wait for ever here.
The key ring's database drivers cannot swallow a cancel today (they carry their own fixed
`wait_for`); the upkeep is stopped like every component loop all the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

from tests.kit.cancels import SwallowingCall, ends_within
from tradehall.adapters.inproc.bus import InprocEventBus
from tradehall.entrypoints.demo.makers import DemoMarket, DemoMarketConfig
from tradehall.entrypoints.workers.fallback_worker import FallbackWorker
from tradehall.entrypoints.workers.session_upkeep import SessionUpkeep
from tradehall.service.messages import CommandResult
from tradehall.trading.commands import EngineCommand

if TYPE_CHECKING:
    from tradehall.bootstrap import Platform

STOP_S = 2.0  # far below a hang, far above the helper's repeat of 0.1 s


def _running(prefix: str) -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith(prefix) and not t.done()]


async def test_fallback_worker_stop_when_the_mode_refresh_swallows_the_cancel_ends_it() -> None:
    # Arrange
    refresh = SwallowingCall(armed=False)  # start() refreshes once before the loop
    parts = SimpleNamespace(modes=SimpleNamespace(refresh=refresh), wake=asyncio.Event())
    platform = cast("Platform", SimpleNamespace(fallback=parts,
                                                engine=SimpleNamespace(is_ready=lambda: True)))
    worker = FallbackWorker(tick_s=0.01, with_engine=False)
    await worker.start(platform)
    refresh.armed = True
    await asyncio.wait_for(refresh.parked.wait(), STOP_S)

    # Act
    assert await ends_within(worker.stop(), STOP_S)

    # Assert
    assert refresh.swallowed == 1
    assert _running("fallback-worker") == []


async def test_session_upkeep_stop_when_maintenance_swallows_the_cancel_ends_it() -> None:
    # Arrange
    maintain = SwallowingCall()
    auth = SimpleNamespace(tokens=SimpleNamespace(maintain=maintain),
                           sessions=SimpleNamespace(maintain=SwallowingCall(armed=False)))
    upkeep = SessionUpkeep(interval_s=0.01)
    await upkeep.start(cast("Platform", SimpleNamespace(auth=auth)))
    await asyncio.wait_for(maintain.parked.wait(), STOP_S)

    # Act
    assert await ends_within(upkeep.stop(), STOP_S)

    # Assert
    assert maintain.swallowed == 1
    assert _running("session-upkeep") == []


class _Engine:
    """An `EnginePort` whose every call goes through `call` first."""

    def __init__(self, call: SwallowingCall) -> None:
        self.call = call
        self.seq = 0

    async def execute(self, command: EngineCommand) -> CommandResult:
        [result] = await self.execute_many((command,))
        return result

    async def execute_many(self, commands: Sequence[EngineCommand]) -> list[CommandResult]:
        await self.call()
        results = []
        for _ in commands:
            self.seq += 1
            results.append(CommandResult(seq=self.seq, ts_ns=0, events=[]))
        return results

    def is_ready(self) -> bool:
        return True


async def test_demo_market_stop_when_a_maker_swallows_the_cancel_ends_every_task() -> None:
    # Arrange: every maker parks in its first command; the one cancelled first swallows it.
    call = SwallowingCall()
    engine = _Engine(call)
    config = DemoMarketConfig(requote_interval_s=0.01, taker_interval_s=60.0)
    market = DemoMarket(engine, InprocEventBus(), config, run_id="t")
    market.start({})
    await asyncio.wait_for(call.parked.wait(), STOP_S)

    # Act
    assert await ends_within(market.stop(), STOP_S)

    # Assert
    assert call.swallowed == 1
    assert _running("demo-") == []
