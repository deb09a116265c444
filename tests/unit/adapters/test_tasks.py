"""`stop_task` ends a task even when a cancellation is swallowed, as `asyncio.wait_for` can."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys

import pytest

from tradehall.adapters.tasks import stop_task


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


async def test_stop_task_when_wait_for_returns_as_the_cancel_arrives_ends_the_loop() -> None:
    # Arrange: the real race of gh-86296, a loop parked in wait_for whose event is set in the
    # same round of the event loop as the task is cancelled.
    wake = asyncio.Event()
    rounds: list[int] = []

    async def loop() -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), 10)
            wake.clear()
            rounds.append(1)

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.01)

    # Act
    wake.set()
    await asyncio.wait_for(stop_task(task, timeout_s=5), 5)

    # Assert
    assert task.cancelled()
    if sys.version_info < (3, 12):
        assert rounds == [1]  # the first cancel was swallowed: the loop went round once more


async def test_stop_task_when_the_task_returns_after_a_swallowed_cancel_raises_nothing() -> None:
    async def returns_once_cancelled() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)

    task = asyncio.create_task(returns_once_cancelled())
    await asyncio.sleep(0)

    await asyncio.wait_for(stop_task(task), 5)

    assert task.done()
    assert not task.cancelled()


async def test_stop_task_when_the_task_ended_already_returns_at_once() -> None:
    async def ends() -> None:
        return None

    task = asyncio.create_task(ends())
    await task

    await asyncio.wait_for(stop_task(task, timeout_s=0), 1)

    assert task.done()
