"""One deadline per store call, however many steps the call takes inside.

Two mechanisms: :class:`Deadlines`, for the database, and :class:`deadline`, for
the many one-command Redis calls of the hot path (see there).

For the database, ``asyncio.timeout`` would not do: it cancels a call once; what
runs after the cancellation — a pre-ping's ``finally: ROLLBACK``, the pool
resetting the connection, the driver's graceful close — then waits on the dead
socket for a deadline of its own. Against a partitioned PostgreSQL the first call
took two deadlines.

So each call runs in a task of its own, and the caller waits for it at most
``seconds``: past that, the caller gets :class:`BackendUnavailable` at once and
the abandoned task finishes its cleanup in the background (each of its waits is
bounded by the driver's own timeouts). :meth:`Deadlines.drain` lets ``close``
wait for those stragglers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from mfa.storage.base import BackendUnavailable

R = TypeVar("R")


class Deadlines:
    def __init__(self) -> None:
        self._abandoned: set[asyncio.Task[Any]] = set()

    async def run(self, call: Coroutine[Any, Any, R], seconds: float, what: str) -> R:
        task = asyncio.ensure_future(call)
        try:
            done, _ = await asyncio.wait({task}, timeout=seconds)
        except asyncio.CancelledError:  # our caller gave up: so do we
            self._abandon(task)
            raise
        if done:
            return task.result()
        self._abandon(task)
        raise BackendUnavailable(f"database did not answer within {seconds}s during {what}")

    def _abandon(self, task: asyncio.Task[Any]) -> None:
        task.cancel()
        self._abandoned.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled():
            task.exception()  # already reported to the caller as BackendUnavailable

    async def drain(self, seconds: float) -> None:
        """Wait up to ``seconds`` for abandoned calls to finish their cleanup."""
        if self._abandoned:
            await asyncio.wait(set(self._abandoned), timeout=seconds)
        for task in list(self._abandoned):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


class Watchdog:
    """The one timer that the :class:`deadline` calls of an owner (a Redis
    connection set, used in one event loop) share."""

    __slots__ = ("_timer", "_when", "live")

    def __init__(self) -> None:
        self.live: dict[deadline, None] = {}  # an insertion-ordered set
        self._timer: asyncio.TimerHandle | None = None
        self._when = 0.0

    def add(self, call: deadline) -> None:
        self.live[call] = None
        if self._timer is None or call.due < self._when:
            self._arm(call.due)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._when = when
        self._timer = asyncio.get_running_loop().call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = asyncio.get_running_loop().time()
        earliest: float | None = None
        for call in list(self.live):
            if call.due <= now:
                del self.live[call]
                call.expire()
            elif earliest is None or call.due < earliest:
                earliest = call.due
        if earliest is not None:
            self._arm(earliest)


class deadline:
    """``async with deadline(seconds, watchdog):`` — :func:`asyncio.timeout` for
    the many short calls of the hot path, at the cost of a dict entry each.

    ``asyncio.timeout`` arms a timer per call and disarms it on the way out (on
    uvloop a TimerHandle and a libuv timer every time): with two Redis calls per
    verify-otp that was about 4 % of the request. Here the calls share the
    ``watchdog``'s one timer, armed for the earliest deadline in flight: entering
    puts the call in its set and leaving takes it out. Under load the timer fires
    about once per deadline length, finds the calls of then long finished and
    re-arms for the oldest live one.

    On expiry it does what ``asyncio.timeout`` does: the task is cancelled, and
    that cancellation leaves the block as :class:`TimeoutError` (unless the task
    was also cancelled by someone else, which then propagates as such).
    """

    __slots__ = ("_cancelling", "_expired", "_seconds", "_task", "_watchdog", "due")

    def __init__(self, seconds: float, watchdog: Watchdog) -> None:
        self._seconds = seconds
        self._watchdog = watchdog
        self._expired = False

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        assert task is not None  # awaited, so inside a task
        self._task = task
        self._cancelling = task.cancelling()
        self.due = asyncio.get_running_loop().time() + self._seconds
        self._watchdog.add(self)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._watchdog.live.pop(self, None)
        if self._expired:
            # Our cancellation is taken back however the block ended, as
            # asyncio.timeout does; it was ours alone if nobody else's is pending.
            ours = self._task.uncancel() <= self._cancelling
            if ours and exc_type is asyncio.CancelledError:
                raise TimeoutError from exc

    def expire(self) -> None:
        self._expired = True
        self._task.cancel()
