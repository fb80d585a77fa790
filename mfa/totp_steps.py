"""The TOTP replay mark, kept behind Redis in the durable store.

Redis holds the authoritative mark (the atomic accept checks and sets it), but a
Redis without persistence forgets it on a restart, and a code seen before the
restart could then be accepted again. So every accepted step is also written to
the enrollment's row; start-flow copies it into the login transaction and
verify-otp refuses a step at or below it, with no extra read on the hot path.

The write is behind, not in, the request: steps are noted here and written by the
enrollment activity's flush (:class:`mfa.activity.EnrollmentActivity`), every
:data:`mfa.activity.FLUSH_SECONDS`, in the same transaction as the logins' last
use, since both rewrite the same row. So a verify costs no SQL round trip. What
this gives up: a step accepted in the last fraction of a second before a worker
dies *and* Redis loses its data at the same moment. Anything else survives: on a
database failure the steps are kept for the next try.
"""

from __future__ import annotations

Step = tuple[str, str, int]  # tenant id, enrollment id, time step


class TotpStepLog:
    def __init__(self) -> None:
        self._pending: dict[tuple[str, str], int] = {}

    def note(self, tenant_id: str, enrollment_id: str, step: int) -> None:
        key = (tenant_id, enrollment_id)
        if self._pending.get(key, -1) < step:
            self._pending[key] = step

    def take(self) -> list[Step]:
        """What was noted, to be written now; :meth:`put_back` if the write fails."""
        batch, self._pending = self._pending, {}
        return [(t, e, s) for (t, e), s in batch.items()]

    def put_back(self, steps: list[Step]) -> None:
        for tenant_id, enrollment_id, step in steps:
            self.note(tenant_id, enrollment_id, step)  # the greater step wins
