"""The two storage Protocols: what the durable and the ephemeral store must do.

mfa keeps two kinds of state, with different needs:

- the **durable store** (:class:`DurableStore`): tenants, API keys, enrollments.
  Few writes, must survive restarts. SQLAlchemy Core: SQLite embedded,
  PostgreSQL in production (:mod:`mfa.storage.sql`).
- the **ephemeral store** (:class:`EphemeralStore`): transactions, tickets,
  attempt counters, TOTP replay marks, quota counters. Hot, short-lived, every
  decision atomic. Redis (:mod:`mfa.storage.redis`) or in-process
  (:mod:`mfa.storage.memory`) for the single-process embedded mode.

Both are Protocols so a test double or another backend plugs in without
inheritance; one contract test suite (``tests/storage``) runs against every
implementation. Implementations raise :class:`~mfa.storage.base.BackendUnavailable`
(from the driver's own error) when their backend cannot be reached; the HTTP layer
turns it into ``service_unavailable``. The records they hold and the errors they
raise are in :mod:`mfa.storage.base`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from mfa.names import Channel, Quota
from mfa.storage.audit_store import AuditStore
from mfa.storage.base import (
    ApiKey,
    AttemptEvent,
    AttemptLimits,
    AttemptOutcome,
    Enrollment,
    HostedPages,
    QuotaDecision,
    QuotaEvent,
    RecoveryHandover,
    Tenant,
    Transaction,
    TxState,
)


@runtime_checkable
class DurableStore(AuditStore, Protocol):
    async def open(self) -> None:
        """Connect, check the schema (raise :class:`SchemaOutdated`, or upgrade when
        the store was built with ``migrate=True``)."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise :class:`BackendUnavailable` unless the database answers."""

    # tenants
    async def create_tenant(self, tenant: Tenant) -> Tenant:
        """Raise :class:`Conflict` when the id exists."""

    async def get_tenant(self, tenant_id: str) -> Tenant | None: ...

    async def list_tenants(self) -> list[Tenant]: ...

    async def update_tenant(
        self,
        tenant_id: str,
        *,
        factors: dict[str, bool] | None = None,
        features: dict[str, bool] | None = None,
        quotas: dict[str, Quota] | None = None,
        sms_otp_length: int | None = None,
        hosted_pages: HostedPages | None = None,
    ) -> Tenant | None:
        """Merge the given entries into the tenant's settings; None if no such tenant."""

    async def delete_tenant(self, tenant_id: str) -> bool:
        """Delete the tenant with its API keys and enrollments."""

    # API keys
    async def create_api_key(self, key: ApiKey) -> None: ...

    async def find_api_key(self, key_hash: bytes) -> ApiKey | None: ...

    async def list_api_keys(self, tenant_id: str | None) -> list[ApiKey]: ...

    async def delete_api_key(self, tenant_id: str | None, key_id: str) -> bool: ...

    # enrollments (at most one per user)
    async def create_enrollment(self, enrollment: Enrollment) -> None:
        """Raise :class:`Conflict` when the user already has an enrollment."""

    async def get_enrollment(self, tenant_id: str, enrollment_id: str) -> Enrollment | None: ...

    async def get_user_enrollment(self, tenant_id: str, user_id: str) -> Enrollment | None: ...

    async def update_enrollment(
        self, tenant_id: str, enrollment_id: str, changes: dict[str, Any]
    ) -> Enrollment | None:
        """Set the given fields (names of :class:`Enrollment`); None if no such row."""

    async def swap_recovery_hash(
        self, tenant_id: str, enrollment_id: str, old_hash: str, new_hash: str
    ) -> bool:
        """Compare-and-set: replace the hash only if it is still ``old_hash``, so two
        concurrent uses of one recovery code cannot both win."""

    # A used recovery code's replacement, kept until it is known to be delivered
    # (see mfa.flows.recovery for why): rotate → end, or undo, or a later claim.
    async def rotate_recovery_code(
        self,
        tenant_id: str,
        enrollment_id: str,
        old_hash: str,
        new_hash: str,
        sealed_new_code: bytes,
        now: datetime,
    ) -> bool:
        """Compare-and-set like :meth:`swap_recovery_hash`, and in the same write keep
        ``old_hash`` and the sealed new code as the pending handover."""

    async def get_recovery_handover(
        self, tenant_id: str, enrollment_id: str
    ) -> RecoveryHandover | None: ...

    async def claim_recovery_handover(
        self, tenant_id: str, enrollment_id: str, since: datetime, now: datetime
    ) -> bool:
        """Take the pending handover if it is still the one from ``since`` (one
        claimer wins); it stays pending, dated ``now``."""

    async def end_recovery_handover(self, tenant_id: str, enrollment_id: str) -> None:
        """The new code was delivered: forget the old hash and the sealed code."""

    async def reset_recovery_code(self, tenant_id: str, enrollment_id: str, new_hash: str) -> bool:
        """An administrator's new code: set the hash and drop any handover, in one write."""

    async def undo_recovery_rotation(
        self, tenant_id: str, enrollment_id: str, new_hash: str, old_hash: str
    ) -> bool:
        """Put ``old_hash`` back (if the hash is still ``new_hash``), with no handover."""

    async def record_enrollment_activity(
        self,
        used: list[tuple[str, str, datetime]],
        errors: list[tuple[str, str, dict[str, Any]]],
        steps: Sequence[tuple[str, str, int]] = (),
    ) -> None:
        """Set ``last_used_at`` (tenant, enrollment, time) and ``last_error``
        (tenant, enrollment, error) of existing rows, and raise each ``steps``
        entry's (tenant, enrollment, step) last accepted TOTP step to ``step`` (never
        lower it), all in one transaction (a login touches its row once); rows that
        do not exist are skipped. ``updated_at`` is left alone: activity is not a
        change of the enrollment."""

    async def delete_enrollment(self, tenant_id: str, enrollment_id: str) -> bool: ...

    async def find_enrollment(self, enrollment_id: str) -> Enrollment | None:
        """The enrollment with this id in any tenant (ids are globally unique).

        Only for the phone's device-account calls, whose URL and credentials name
        the enrollment but not its tenant; the caller then proves it owns it."""


@runtime_checkable
class EphemeralStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise :class:`BackendUnavailable` unless the store answers."""

    # transactions
    async def create_transaction(self, tx: Transaction) -> None:
        """Store with a TTL reaching ``tx.expires_at``."""

    async def get_transaction(self, tenant_id: str, txid: str) -> Transaction | None: ...

    async def update_transaction(
        self,
        tenant_id: str,
        txid: str,
        *,
        state: TxState | None = None,
        enrollment: dict[str, Any] | None = None,
        token: str | None = None,
        data: dict[str, Any] | None = None,
        only_if_pending: bool = True,
    ) -> bool:
        """Atomically change the given fields (``data`` is merged key by key), keeping
        the TTL. False when the transaction is gone, or not pending and
        ``only_if_pending`` is set."""

    async def delete_transaction(self, tenant_id: str, txid: str) -> None: ...

    async def record_attempt(
        self,
        tenant_id: str,
        txid: str,
        user_id: str,
        *,
        ok: bool,
        limits: AttemptLimits,
        replay_key: str | None = None,
        replay_step: int | None = None,
        on_success: dict[str, Any] | None = None,
        event: AttemptEvent | None = None,
    ) -> AttemptOutcome:
        """One atomic decision on a submitted code, in one round trip.

        In order: the transaction must exist and be pending (else GONE); the user
        must not be locked out (else LOCKED); if ``ok`` and ``replay_key`` is given,
        the step must be greater than the last step recorded under that key (else
        REPLAY, counted like a wrong code). On success the replay mark is set (kept
        for ``lockout_seconds`` at least, long enough to outlive the TOTP window),
        the fields of ``on_success`` (state, enrollment, token, data — as in
        :meth:`update_transaction`) are applied and the user's failure count is
        cleared: ACCEPTED. On a wrong code both the transaction's and the user's
        counters grow; reaching ``per_user`` starts the lockout window; reaching
        ``per_transaction`` deletes the transaction (KILLED), else INVALID.
        With ``event``, the decision's event is appended to the tenant's event
        stream in the same step (GONE appends none).
        """

    # one-time tickets: enrollment tickets, enrollment_tx_id → txid aliases
    async def put_ticket(self, ticket_id: str, value: dict[str, Any], ttl_seconds: int) -> None: ...

    async def take_ticket(self, ticket_id: str) -> dict[str, Any] | None:
        """Return and delete in one step, so a ticket opens at most one flow."""

    async def peek_ticket(self, ticket_id: str) -> dict[str, Any] | None: ...

    # quotas
    async def consume_quota(
        self,
        tenant_id: str,
        user_id: str,
        channel: Channel,
        per_user: Quota,
        per_tenant: Quota,
        *,
        event: QuotaEvent | None = None,
    ) -> QuotaDecision:
        """Check both counters and, only if both have room, consume one from each,
        atomically. When both are exhausted the user quota is named. With
        ``event``, a refusal appends it to the tenant's event stream in the same
        step, with the refusing quota's error code (a grant appends none)."""

    async def refund_quota(self, tenant_id: str, user_id: str, channel: Channel) -> None:
        """Give back one unit of each counter (a send that did not happen)."""

    # leases: at most one holder of a name at a time, released or expired
    async def acquire_lease(self, tenant_id: str, name: str, ttl_seconds: float) -> bool:
        """True when the lease was free and is now held (for at most ``ttl_seconds``,
        so a holder that dies cannot keep it); False when someone holds it."""

    async def release_lease(self, tenant_id: str, name: str) -> None: ...

    async def delete_tenant_data(self, tenant_id: str) -> None:
        """Drop everything kept for a deleted tenant."""

    # events: a per-tenant stream of event records (mfa.events), appended to in the
    # same atomic step as the decision they record, moved to the durable store by
    # mfa.events.relay. Entries are flat maps of strings (Event.wire()).
    async def append_event(self, tenant_id: str, fields: dict[str, str]) -> None: ...

    async def read_events(
        self, tenant_id: str, consumer: str, count: int
    ) -> list[tuple[str, dict[str, str]]]:
        """Up to ``count`` entries not yet acknowledged: entries another consumer read
        long ago and never acknowledged (it died) first, then new ones. An entry
        may be read twice; the durable store inserts it once."""

    async def ack_events(self, tenant_id: str, entry_ids: list[str]) -> None:
        """The entries are in the durable store: forget them."""

    async def lockout_remaining(self, tenant_id: str, user_id: str) -> float | None:
        """Seconds left of the user's lockout (too many wrong codes), None if none
        runs. A read for the backend's status view, never on a verify path."""
