"""The TOTP replay mark, kept behind Redis in the durable store.

Redis holds the authoritative mark (the atomic accept checks and sets it), but a
Redis without persistence forgets it on a restart, and a code seen before the
restart could then be accepted again. So every accepted step is also written to
the enrollment's row; start-flow copies it into the login transaction and
verify-otp refuses a step at or below it, with no extra read on the hot path.

The write is behind, not in, the request: steps are collected and written in one
statement every :data:`FLUSH_SECONDS`, so a verify costs no SQL round trip. What
this gives up: a step accepted in the last fraction of a second before a worker
dies *and* Redis loses its data at the same moment. Anything else survives.
"""

from __future__ import annotations

import logging

from mfa.periodic import Periodic
from mfa.storage.base import BackendUnavailable
from mfa.storage.protocols import DurableStore

log = logging.getLogger("mfa.totp_steps")

FLUSH_SECONDS = 0.1


class TotpStepLog(Periodic):
    def __init__(self, durable: DurableStore, interval: float = FLUSH_SECONDS) -> None:
        self._durable = durable
        super().__init__(interval, log, "record accepted TOTP steps")
        self._pending: dict[tuple[str, str], int] = {}

    def note(self, tenant_id: str, enrollment_id: str, step: int) -> None:
        key = (tenant_id, enrollment_id)
        if self._pending.get(key, -1) < step:
            self._pending[key] = step

    async def flush(self) -> None:
        """Write what was noted; on a database failure keep it for the next try."""
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        try:
            await self._durable.record_totp_steps([(t, e, s) for (t, e), s in batch.items()])
        except BackendUnavailable:
            for (t, e), step in batch.items():
                self.note(t, e, step)
            raise

    async def tick(self) -> None:
        await self.flush()
