"""The durable store's events half: the audit trail and the webhook outbox.

A part of :class:`~mfa.storage.protocols.DurableStore` (which extends it), kept
apart because it is its own concept: what :mod:`mfa.events` needs from the
database. The SQL implementation is :mod:`mfa.storage.sql_events` (the trail) and
:mod:`mfa.storage.sql_webhooks` (endpoints and deliveries).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from mfa.events.record import Event, WebhookDelivery, WebhookEndpoint, WebhookSecret


class AuditStore(Protocol):
    async def insert_events(
        self, batch: Sequence[Event], render: Callable[[Event], str], now: float
    ) -> None:
        """Store the events not stored yet (by id) and, in the same transaction, queue
        one delivery (body ``render(event)``) per subscribed webhook endpoint of the
        event's tenant. Idempotent: a batch stored twice is stored, and queued, once."""

    async def list_events(
        self,
        tenant_id: str,
        *,
        user_id: str | None = None,
        type: str | None = None,
        since: float | None = None,
        after_seq: int | None = None,
        limit: int = 100,
    ) -> list[Event]:
        """In order of arrival (``seq``), after ``after_seq``."""

    async def prune_events(self, before: float) -> int: ...

    async def end_lockouts(
        self, now: float, render: Callable[[Event], str], limit: int = 500
    ) -> int:
        """Store one ``user.unlocked`` event (and its deliveries) per lockout on record
        that has run out by ``now``, once; how many ended."""

    async def create_webhook(self, endpoint: WebhookEndpoint) -> None: ...

    async def get_webhook(self, tenant_id: str, endpoint_id: str) -> WebhookEndpoint | None: ...

    async def list_webhooks(self, tenant_id: str) -> list[WebhookEndpoint]: ...

    async def delete_webhook(self, tenant_id: str, endpoint_id: str) -> bool: ...

    async def set_webhook_secrets(
        self, tenant_id: str, endpoint_id: str, secrets: Sequence[WebhookSecret]
    ) -> bool: ...

    async def add_delivery(self, delivery: WebhookDelivery) -> None: ...

    async def claim_deliveries(
        self, now: float, lease_seconds: float, limit: int
    ) -> list[tuple[WebhookDelivery, WebhookEndpoint]]: ...

    async def record_delivery_attempt(
        self,
        delivery_id: str,
        *,
        status: str,
        attempts: int,
        next_attempt_at: float,
        last_error: str | None,
        last_status_code: int | None,
        delivered_at: float | None,
    ) -> None: ...

    async def list_deliveries(
        self, tenant_id: str, endpoint_id: str, *, status: str | None = None, limit: int = 100
    ) -> list[WebhookDelivery]: ...

    async def get_delivery(
        self, tenant_id: str, endpoint_id: str, delivery_id: str
    ) -> WebhookDelivery | None: ...

    async def redeliver(
        self, tenant_id: str, endpoint_id: str, delivery_id: str, now: float
    ) -> bool: ...
