"""The shared-timer deadline of the Redis calls (mfa.storage._deadline.deadline):
it must behave as asyncio.timeout does, with one timer for many calls."""

from __future__ import annotations

import asyncio
import time

import pytest

from mfa.storage._deadline import Watchdog, deadline

pytestmark = pytest.mark.anyio


async def test_a_call_past_its_deadline_is_cancelled_and_raises_timeout_error() -> None:
    watchdog = Watchdog()
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with deadline(0.05, watchdog):
            await asyncio.sleep(5)
    assert 0.04 <= time.monotonic() - started < 1.0
    assert not watchdog.live
    # The task is not left cancelled: it goes on awaiting.
    await asyncio.sleep(0.01)


async def test_a_call_within_its_deadline_is_untouched_and_forgotten() -> None:
    watchdog = Watchdog()
    for _ in range(100):
        async with deadline(0.05, watchdog):
            await asyncio.sleep(0)
    assert not watchdog.live
    await asyncio.sleep(0.08)  # the timer fires with nothing in flight: no cancellation
    await asyncio.sleep(0.01)


async def test_a_short_deadline_after_a_long_one_fires_on_time() -> None:
    """The timer is armed for the long call first; the short one re-arms it sooner."""
    watchdog = Watchdog()

    async def long_call() -> str:
        async with deadline(5, watchdog):
            await asyncio.sleep(0.3)
        return "finished"

    slow = asyncio.create_task(long_call())
    await asyncio.sleep(0.01)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with deadline(0.05, watchdog):
            await asyncio.sleep(5)
    assert time.monotonic() - started < 0.25
    assert await slow == "finished"  # not cancelled by the short call's expiry


async def test_many_concurrent_calls_expire_each_at_its_own_deadline() -> None:
    watchdog = Watchdog()

    async def call(seconds: float, sleep: float) -> str:
        try:
            async with deadline(seconds, watchdog):
                await asyncio.sleep(sleep)
        except TimeoutError:
            return "timeout"
        return "done"

    results = await asyncio.gather(
        call(0.05, 1), call(0.5, 0.1), call(0.1, 1), call(1, 0.01), call(0.2, 0.3)
    )
    assert results == ["timeout", "done", "timeout", "done", "timeout"]
    assert not watchdog.live


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    watchdog = Watchdog()
    entered = asyncio.Event()

    async def call() -> None:
        async with deadline(5, watchdog):
            entered.set()
            await asyncio.sleep(5)

    task = asyncio.create_task(call())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not watchdog.live


async def test_an_outside_cancellation_racing_the_deadline_is_not_swallowed() -> None:
    """Both cancel the task: the block must not turn it into a TimeoutError."""
    watchdog = Watchdog()

    async def call() -> None:
        async with deadline(0.05, watchdog):
            await asyncio.sleep(5)

    task = asyncio.create_task(call())
    await asyncio.sleep(0.01)
    # Expire it and cancel it from outside before it runs again.
    for live in list(watchdog.live):
        live.expire()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
