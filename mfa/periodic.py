"""A background task that runs one step every few seconds while the service is open.

Work kept out of the request path — accepted TOTP steps and enrollment activity
written behind, audit events moved to the durable store, webhook deliveries —
runs the same way:
:meth:`Periodic.start` when the service opens, one :meth:`~Periodic.tick` per
interval, and :meth:`~Periodic.on_stop` when it stops (a last tick, unless a
subclass says otherwise). A tick that meets a backend outage is tried again next time;
any other failure is logged, and the loop carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from mfa.storage.base import BackendUnavailable


class Periodic:
    def __init__(self, interval: float, logger: logging.Logger, what: str) -> None:
        self._interval = interval
        self._log = logger
        self._what = what
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> None:
        raise NotImplementedError

    async def on_stop(self) -> None:
        """After the loop ends: by default one last tick, so a clean shutdown leaves
        nothing behind."""
        await self.tick()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(BackendUnavailable):
            await self.on_stop()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.tick()
            except BackendUnavailable:
                self._log.warning("could not %s yet; will retry", self._what)
            except Exception:  # the loop must outlive any one failure
                self._log.exception("%s failed", self._what)
