"""One deadline per store call, however many steps the call takes inside.

``asyncio.timeout`` cancels a call once; what runs after the cancellation — a
pre-ping's ``finally: ROLLBACK``, the pool resetting the connection, the driver's
graceful close — then waits on the dead socket for a deadline of its own. Against
a partitioned PostgreSQL the first call took two deadlines.

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
