"""The durable half of events: the audit table, webhook endpoints, the delivery outbox.

Each method is one short transaction. :meth:`SqlEvents.insert_events` is the one
that matters for "at least once": an event and the deliveries it owes to the
tenant's webhook endpoints are written in the same transaction, so an event is
either in the table with all its deliveries queued or not there at all (and then
still in the Redis Stream, to be moved again). Its id is the primary key's
guard: moving the same event twice (a mover died before acknowledging it)
inserts it once and queues its deliveries once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from mfa.events.record import (
    WEBHOOK_TYPES,
    Event,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookSecret,
)
from mfa.sealing import b64, unb64
from mfa.storage.schema import events, webhook_deliveries, webhook_endpoints
from mfa.storage.sql_engine import SqlConnections, _bounded

Render = Callable[[Event], str]


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def delivery_id(event_id: str, endpoint_id: str) -> str:
    """The delivery's id (and ``webhook-id``): one per event per endpoint, derived, so
    queueing the same event twice cannot make two deliveries."""
    digest = hashlib.sha256(f"{event_id}\x00{endpoint_id}".encode()).hexdigest()
    return "msg_" + digest[:32]


def _event(row: sa.Row[Any]) -> Event:
    return Event(
        event_id=row.event_id,
        tenant_id=row.tenant_id,
        type=row.type,
        time=row.time.timestamp(),
        user_id=row.user_id,
        enrollment_id=row.enrollment_id,
        method=row.method,
        outcome=row.outcome,
        error_code=row.error_code,
        request_id=row.request_id,
        client_ip=row.client_ip,
        user_agent=row.user_agent,
        actor=row.actor,
        data=dict(row.data or {}),
        seq=row.seq,
    )


def _event_values(event: Event) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "tenant_id": event.tenant_id,
        "type": event.type,
        "time": _dt(event.time),
        "user_id": event.user_id,
        "enrollment_id": event.enrollment_id,
        "method": event.method,
        "outcome": event.outcome,
        "error_code": event.error_code,
        "request_id": event.request_id,
        "client_ip": event.client_ip,
        "user_agent": event.user_agent,
        "actor": event.actor,
        "data": event.data or None,
    }


def _secrets_json(secrets: Sequence[WebhookSecret]) -> list[dict[str, Any]]:
    return [{"sealed": b64(s.sealed), "expires_at": s.expires_at} for s in secrets]


def _endpoint(row: sa.Row[Any]) -> WebhookEndpoint:
    return WebhookEndpoint(
        endpoint_id=row.endpoint_id,
        tenant_id=row.tenant_id,
        url=row.url,
        events=tuple(row.events),
        secrets=tuple(WebhookSecret(unb64(s["sealed"]), s.get("expires_at")) for s in row.secrets),
        created_at=row.created_at.timestamp(),
    )


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


def _new_delivery(
    endpoint_id: str, tenant_id: str, event: Event, payload: str, now: float
) -> dict[str, Any]:
    return {
        "delivery_id": delivery_id(event.event_id, endpoint_id),
        "tenant_id": tenant_id,
        "endpoint_id": endpoint_id,
        "event_id": event.event_id,
        "event_type": event.type,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": _dt(now),
        "created_at": _dt(now),
    }


def _insert_ignoring(conn: AsyncConnection, table: sa.Table, key: str) -> sa.Insert:
    """``INSERT … ON CONFLICT (key) DO NOTHING`` in the connection's dialect."""
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=[key])
    return postgresql.insert(table).on_conflict_do_nothing(index_elements=[key])


class SqlEvents(SqlConnections):
    # ------------------------------------------------------------------ audit trail

    @_bounded
    async def insert_events(self, batch: Sequence[Event], render: Render, now: float) -> None:
        if not batch:
            return
        async with self._write("insert_events") as conn:
            # ON CONFLICT DO NOTHING on the event id, and on the delivery id (derived
            # from event and endpoint): a batch moved twice (its mover died before
            # acknowledging), or by two movers at once, adds nothing the second time,
            # with no read before the write. PostgreSQL's unique index makes the
            # second of two concurrent inserts wait for the first, then skip.
            # (Reading which ids exist first cost more than the insert itself.)
            insert = _insert_ignoring(conn, events, "event_id")
            await conn.execute(insert, [_event_values(e) for e in batch])
            owed = [e for e in batch if e.type in WEBHOOK_TYPES]
            tenants = {e.tenant_id for e in owed}
            if not tenants:
                return
            query = sa.select(webhook_endpoints).where(webhook_endpoints.c.tenant_id.in_(tenants))
            endpoints = [_endpoint(r) for r in await conn.execute(query)]
            rows = [
                _new_delivery(ep.endpoint_id, e.tenant_id, e, render(e), now)
                for e in owed
                for ep in endpoints
                if ep.tenant_id == e.tenant_id and e.type in ep.events
            ]
            if rows:
                insert = _insert_ignoring(conn, webhook_deliveries, "delivery_id")
                await conn.execute(insert, rows)

    @_bounded
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
        query = sa.select(events).where(events.c.tenant_id == tenant_id)
        if user_id is not None:
            query = query.where(events.c.user_id == user_id)
        if type is not None:
            query = query.where(events.c.type == type)
        if since is not None:
            query = query.where(events.c.time >= _dt(since))
        if after_seq is not None:
            query = query.where(events.c.seq > after_seq)
        query = query.order_by(events.c.seq).limit(limit)
        async with self._read("list_events") as conn:
            return [_event(r) for r in await conn.execute(query)]

    @_bounded
    async def prune_events(self, before: float) -> int:
        """Drop events, and finished deliveries, older than ``before`` (retention)."""
        async with self._write("prune_events") as conn:
            gone = await conn.execute(events.delete().where(events.c.time < _dt(before)))
            await conn.execute(
                webhook_deliveries.delete().where(
                    webhook_deliveries.c.status != "pending",
                    webhook_deliveries.c.created_at < _dt(before),
                )
            )
        return int(gone.rowcount)

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
