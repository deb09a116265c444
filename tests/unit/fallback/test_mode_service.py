"""The cached mode: a re-read that started before a set() never overwrites the newer mode."""

from __future__ import annotations

import asyncio

from tradehall.compliance.audit import MemoryAuditLog
from tradehall.fallback.model import ModeState, PlatformMode
from tradehall.fallback.service import ModeService
from tradehall.kernel.clock import NANOS_PER_SECOND, TestClock


class SlowModeStore:
    """A mode store whose reads can be held at the database, as a slow query is."""

    def __init__(self) -> None:
        self.state = ModeState()
        self.hold = asyncio.Event()
        self.hold.set()
        self.reading = asyncio.Event()

    async def get(self) -> ModeState:
        read = self.state  # what the query saw
        self.reading.set()
        await self.hold.wait()
        return read

    async def set(self, state: ModeState, *, expected_version: int) -> bool:
        if expected_version != self.state.version:
            return False
        self.state = state
        return True


async def test_refresh_when_a_set_happens_meanwhile_keeps_the_newer_mode() -> None:
    # Arrange: the worker's periodic re-read is under way and has read NORMAL.
    clock = TestClock(1_000 * NANOS_PER_SECOND)
    store = SlowModeStore()
    modes = ModeService(store, clock, MemoryAuditLog(clock.now_ns))
    store.hold.clear()
    refresh = asyncio.create_task(modes.refresh())
    await store.reading.wait()

    # Act: an operator sets fallback, then the stale read completes.
    store.hold.set()
    await modes.set(PlatformMode.FALLBACK, actor="desk", reason="maintenance")
    await refresh

    # Assert
    assert modes.current.mode is PlatformMode.FALLBACK
    assert (await modes.refresh()).mode is PlatformMode.FALLBACK


async def test_refresh_without_a_set_takes_what_another_process_stored() -> None:
    clock = TestClock(1_000 * NANOS_PER_SECOND)
    store = SlowModeStore()
    modes = ModeService(store, clock, MemoryAuditLog(clock.now_ns))
    store.state = ModeState(mode=PlatformMode.CLOSE_ONLY, version=3)

    assert (await modes.refresh()).mode is PlatformMode.CLOSE_ONLY
    assert modes.current.version == 3
    assert modes.reachable
