"""Enrollment activity: when an enrollment was last used, and the last error it met.

The backend's status view (:mod:`mfa.enrollment_status`) shows both. They are
written behind the request, like the TOTP replay mark (:mod:`mfa.totp_steps`):
the flows :meth:`~EnrollmentActivity.used` and :meth:`~EnrollmentActivity.failed`
only note into a dict, and one task writes what was noted every
:data:`FLUSH_SECONDS` (one UPDATE per column for the whole batch), together with
the accepted TOTP steps noted meanwhile, in one transaction: a login rewrites its
enrollment's row once. So verify-otp keeps its two Redis round trips and gains no
SQL one.

The trade-off, written down:

- a note younger than :data:`FLUSH_SECONDS` is lost when the worker dies; the
  status is a help for support, not an audit record (that is the events trail);
- several notes of one enrollment within an interval collapse to the newest;
- while the database is down, notes wait (at most :data:`MAX_PENDING`
  enrollments; beyond that new ones are dropped, never the hot path blocked);
- each worker writes its own: two workers may write one enrollment's activity
  in either order within an interval, so ``last_used_at`` may lag by that much.

Only the errors that say something about the enrollment are kept — wrong codes,
delivery failures, quota refusals (:data:`RECORDED_FAMILIES`) — not a bad
request or an expired transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mfa.errors import MFAError
from mfa.periodic import Periodic
from mfa.storage.base import BackendUnavailable, Transaction
from mfa.storage.protocols import DurableStore
from mfa.totp_steps import TotpStepLog

log = logging.getLogger("mfa.activity")

FLUSH_SECONDS = 0.1
MAX_PENDING = 100_000
RECORDED_FAMILIES = frozenset({"WrongCode", "DeliveryFailed", "QuotaExceeded"})

_Key = tuple[str, str]


class EnrollmentActivity(Periodic):
    def __init__(
        self,
        durable: DurableStore,
        clock: Callable[[], float],
        interval: float = FLUSH_SECONDS,
        steps: TotpStepLog | None = None,
    ) -> None:
        self._durable = durable
        self._clock = clock
        # Accepted TOTP steps (mfa.totp_steps), written in the same transaction.
        self._steps = steps
        super().__init__(interval, log, "record enrollment activity")
        self._used: dict[_Key, datetime] = {}
        self._errors: dict[_Key, dict[str, Any]] = {}

    # ------------------------------------------------------------------ noting

    def used(self, tx: Transaction) -> None:
        """The transaction's enrollment answered right (a login or its confirmation)."""
        key = _key(tx)
        if key is not None and self._room(key, self._used):
            self._used[key] = datetime.fromtimestamp(self._clock(), UTC)

    def failed(self, tx: Transaction, error: MFAError) -> None:
        """The transaction's enrollment met ``error``; kept if its family says
        something about the enrollment."""
        key = _key(tx)
        if key is None or error.spec.family not in RECORDED_FAMILIES:
            return
        if self._room(key, self._errors):
            at = datetime.fromtimestamp(self._clock(), UTC)
            self._errors[key] = {
                "code": error.code,
                "at": at.isoformat().replace("+00:00", "Z"),
                "method": error.method,
                "retry_after": error.retry_after,
            }

    def _room(self, key: _Key, pending: dict[_Key, Any]) -> bool:
        return key in pending or len(pending) < MAX_PENDING

    # ------------------------------------------------------------------ writing

    async def flush(self) -> None:
        """Write what was noted, with the TOTP steps noted meanwhile, in one
        transaction; on a database failure keep all of it for the next try."""
        steps = self._steps.take() if self._steps is not None else []
        if not self._used and not self._errors and not steps:
            return
        used, self._used = self._used, {}
        errors, self._errors = self._errors, {}
        try:
            await self._durable.record_enrollment_activity(
                [(t, e, at) for (t, e), at in used.items()],
                [(t, e, err) for (t, e), err in errors.items()],
                steps,
            )
        except BackendUnavailable:
            # Newer notes taken meanwhile win over the ones put back.
            self._used = {**used, **self._used}
            self._errors = {**errors, **self._errors}
            if self._steps is not None:
                self._steps.put_back(steps)
            raise

    async def tick(self) -> None:
        await self.flush()


def _key(tx: Transaction) -> _Key | None:
    eid = tx.data.get("enrollment_id")
    return None if eid is None else (tx.tenant_id, str(eid))
