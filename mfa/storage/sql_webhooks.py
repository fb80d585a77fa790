"""The webhook half of the durable store: tenants' endpoints with their signing
secrets, and the delivery outbox that :mod:`mfa.events.webhooks` works through.

Deliveries are queued with the events they carry, in the same transaction
(:meth:`mfa.storage.sql_events.SqlEvents.insert_events`); this module keeps the
endpoints and takes each delivery through its attempts: claimed under a lease,
recorded, listed, queued again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from mfa.events.record import WebhookDelivery, WebhookEndpoint, WebhookSecret
from mfa.sealing import b64
from mfa.storage.schema import webhook_deliveries, webhook_endpoints
from mfa.storage.sql_engine import SqlConnections, _bounded
from mfa.storage.sql_events import _dt, _endpoint


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _secrets_json(secrets: Sequence[WebhookSecret]) -> list[dict[str, Any]]:
    return [{"sealed": b64(s.sealed), "expires_at": s.expires_at} for s in secrets]


def _delivery(row: sa.Row[Any]) -> WebhookDelivery:
    return WebhookDelivery(
        delivery_id=row.delivery_id,
        tenant_id=row.tenant_id,
        endpoint_id=row.endpoint_id,
        event_id=row.event_id,
        event_type=row.event_type,
        payload=row.payload,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at.timestamp(),
        created_at=row.created_at.timestamp(),
        last_error=row.last_error,
        last_status_code=row.last_status_code,
        delivered_at=_epoch(row.delivered_at),
    )


class SqlWebhooks(SqlConnections):
    # ------------------------------------------------------------------ webhook endpoints

    @_bounded
    async def create_webhook(self, endpoint: WebhookEndpoint) -> None:
        async with self._write("create_webhook") as conn:
            await conn.execute(
                webhook_endpoints.insert().values(
                    endpoint_id=endpoint.endpoint_id,
                    tenant_id=endpoint.tenant_id,
                    url=endpoint.url,
                    events=list(endpoint.events),
                    secrets=_secrets_json(endpoint.secrets),
                    created_at=_dt(endpoint.created_at),
                )
            )

    def _webhook_where(self, tenant_id: str, endpoint_id: str) -> tuple[Any, ...]:
        return (
            webhook_endpoints.c.tenant_id == tenant_id,
            webhook_endpoints.c.endpoint_id == endpoint_id,
        )

    @_bounded
    async def get_webhook(self, tenant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        query = sa.select(webhook_endpoints).where(*self._webhook_where(tenant_id, endpoint_id))
        async with self._read("get_webhook") as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _endpoint(row)

    @_bounded
    async def list_webhooks(self, tenant_id: str) -> list[WebhookEndpoint]:
        query = (
            sa.select(webhook_endpoints)
            .where(webhook_endpoints.c.tenant_id == tenant_id)
            .order_by(webhook_endpoints.c.created_at, webhook_endpoints.c.endpoint_id)
        )
        async with self._read("list_webhooks") as conn:
            return [_endpoint(r) for r in await conn.execute(query)]

    @_bounded
    async def delete_webhook(self, tenant_id: str, endpoint_id: str) -> bool:
        async with self._write("delete_webhook") as conn:
            # Explicit as well as ON DELETE CASCADE (SQLite files with foreign keys off).
            await conn.execute(
                webhook_deliveries.delete().where(
                    webhook_deliveries.c.tenant_id == tenant_id,
                    webhook_deliveries.c.endpoint_id == endpoint_id,
                )
            )
            result = await conn.execute(
                webhook_endpoints.delete().where(*self._webhook_where(tenant_id, endpoint_id))
            )
        return result.rowcount > 0

    @_bounded
    async def set_webhook_secrets(
        self, tenant_id: str, endpoint_id: str, secrets: Sequence[WebhookSecret]
    ) -> bool:
        query = (
            webhook_endpoints.update()
            .where(*self._webhook_where(tenant_id, endpoint_id))
            .values(secrets=_secrets_json(secrets))
        )
        async with self._write("set_webhook_secrets") as conn:
            result = await conn.execute(query)
        return result.rowcount > 0

    # ------------------------------------------------------------------ deliveries

    @_bounded
    async def add_delivery(self, delivery: WebhookDelivery) -> None:
        async with self._write("add_delivery") as conn:
            await conn.execute(
                webhook_deliveries.insert().values(
                    delivery_id=delivery.delivery_id,
                    tenant_id=delivery.tenant_id,
                    endpoint_id=delivery.endpoint_id,
                    event_id=delivery.event_id,
                    event_type=delivery.event_type,
                    payload=delivery.payload,
                    status=delivery.status,
                    attempts=delivery.attempts,
                    next_attempt_at=_dt(delivery.next_attempt_at),
                    created_at=_dt(delivery.created_at),
                )
            )

    @_bounded
    async def claim_deliveries(
        self, now: float, lease_seconds: float, limit: int
    ) -> list[tuple[WebhookDelivery, WebhookEndpoint]]:
        """Due deliveries, each leased to the caller until ``now + lease_seconds``
        (pushing its next attempt out): of several deliverers, one wins each row;
        a deliverer that dies holding one gives it up when the lease runs out."""
        due = (
            sa.select(webhook_deliveries, webhook_endpoints)
            .join(
                webhook_endpoints,
                webhook_endpoints.c.endpoint_id == webhook_deliveries.c.endpoint_id,
            )
            .where(
                webhook_deliveries.c.status == "pending",
                webhook_deliveries.c.next_attempt_at <= _dt(now),
            )
            .order_by(webhook_deliveries.c.next_attempt_at)
            .limit(limit)
        )
        claimed: list[tuple[WebhookDelivery, WebhookEndpoint]] = []
        async with self._write("claim_deliveries") as conn:
            for row in (await conn.execute(due)).all():
                # Compare-and-set on the due time: a concurrent claimer moved it.
                leased = await conn.execute(
                    webhook_deliveries.update()
                    .where(
                        webhook_deliveries.c.delivery_id == row.delivery_id,
                        webhook_deliveries.c.status == "pending",
                        webhook_deliveries.c.next_attempt_at == row.next_attempt_at,
                    )
                    .values(next_attempt_at=_dt(now + lease_seconds))
                )
                if leased.rowcount == 1:
                    claimed.append((_delivery(row), _endpoint(row)))
        return claimed

    @_bounded
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
    ) -> None:
        query = (
            webhook_deliveries.update()
            .where(webhook_deliveries.c.delivery_id == delivery_id)
            .values(
                status=status,
                attempts=attempts,
                next_attempt_at=_dt(next_attempt_at),
                last_error=last_error,
                last_status_code=last_status_code,
                delivered_at=None if delivered_at is None else _dt(delivered_at),
            )
        )
        async with self._write("record_delivery_attempt") as conn:
            await conn.execute(query)

    @_bounded
    async def list_deliveries(
        self,
        tenant_id: str,
        endpoint_id: str,
        *,
        status: str | None = None,
        limit: int = 100,
    ) -> list[WebhookDelivery]:
        query = sa.select(webhook_deliveries).where(
            webhook_deliveries.c.tenant_id == tenant_id,
            webhook_deliveries.c.endpoint_id == endpoint_id,
        )
        if status is not None:
            query = query.where(webhook_deliveries.c.status == status)
        query = query.order_by(
            webhook_deliveries.c.created_at.desc(), webhook_deliveries.c.delivery_id
        ).limit(limit)
        async with self._read("list_deliveries") as conn:
            return [_delivery(r) for r in await conn.execute(query)]

    @_bounded
    async def get_delivery(
        self, tenant_id: str, endpoint_id: str, delivery_id: str
    ) -> WebhookDelivery | None:
        query = sa.select(webhook_deliveries).where(
            webhook_deliveries.c.tenant_id == tenant_id,
            webhook_deliveries.c.endpoint_id == endpoint_id,
            webhook_deliveries.c.delivery_id == delivery_id,
        )
        async with self._read("get_delivery") as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _delivery(row)

    @_bounded
    async def redeliver(
        self, tenant_id: str, endpoint_id: str, delivery_id: str, now: float
    ) -> bool:
        """Queue a delivery again, due now, with a fresh retry schedule."""
        query = (
            webhook_deliveries.update()
            .where(
                webhook_deliveries.c.tenant_id == tenant_id,
                webhook_deliveries.c.endpoint_id == endpoint_id,
                webhook_deliveries.c.delivery_id == delivery_id,
            )
            .values(
                status="pending",
                attempts=0,
                next_attempt_at=_dt(now),
                created_at=_dt(now),
            )
        )
        async with self._write("redeliver") as conn:
            result = await conn.execute(query)
        return result.rowcount > 0
