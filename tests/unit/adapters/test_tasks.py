"""`stop_task` ends a task even when a cancellation is swallowed, as nats-py's requests can."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tradehall.adapters.nats.link import stop_task


async def _loop_that_swallows(times: int, ticks: list[int],
                               release: asyncio.Event | None = None) -> None:
    # Like a poll loop whose request ate the cancel (asyncio.wait_for on 3.11): it goes on.
    swallowed = 0
    while True:
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            if swallowed == times or (release is not None and release.is_set()):
                raise
            swallowed += 1
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
        ticks.append(1)


async def test_stop_task_when_the_first_cancel_is_swallowed_cancels_again_until_it_ends() -> None:
    # Arrange
    ticks: list[int] = []
    task = asyncio.create_task(_loop_that_swallows(2, ticks))
    await asyncio.sleep(0.03)

    # Act
    await asyncio.wait_for(stop_task(task, timeout_s=5), 5)

    # Assert
    assert task.cancelled()


async def test_stop_task_when_the_task_never_ends_leaves_it_behind_after_the_timeout(
        caplog: pytest.LogCaptureFixture) -> None:
    # Arrange
    release = asyncio.Event()
    task = asyncio.create_task(_loop_that_swallows(10**9, [], release), name="stubborn")

    # Act
    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(stop_task(task, timeout_s=0.3), 5)

    # Assert
    assert not task.done()
    assert any("stubborn did not stop" in r.getMessage() for r in caplog.records)
    release.set()
    task.cancel()
    await asyncio.wait({task}, timeout=5)


async def test_stop_task_when_the_task_failed_raises_its_error() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(fails())
    await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="boom"):
        await stop_task(task)
