"""The durable half of events: the audit table, and the webhook deliveries each event owes.

Each method is one short transaction. :meth:`SqlEvents.insert_events` is the one
that matters for "at least once": an event and the deliveries it owes to the
tenant's webhook endpoints are written in the same transaction, so an event is
either in the table with all its deliveries queued or not there at all (and then
still in the Redis Stream, to be moved again). Its id is the primary key's
guard: moving the same event twice (a mover died before acknowledging it)
inserts it once and queues its deliveries once. The endpoints, and the
deliveries' life after they are queued, are in :mod:`mfa.storage.sql_webhooks`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from mfa.events.record import (
    WEBHOOK_TYPES,
    Event,
    EventType,
    WebhookEndpoint,
    WebhookSecret,
)
from mfa.sealing import unb64
from mfa.storage.schema import events, lockout_ends, webhook_deliveries, webhook_endpoints
from mfa.storage.sql_engine import SqlConnections, _bounded, bind_datetime, driver_sql

Render = Callable[[Event], str]


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


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


def _endpoint(row: sa.Row[Any]) -> WebhookEndpoint:
    return WebhookEndpoint(
        endpoint_id=row.endpoint_id,
        tenant_id=row.tenant_id,
        url=row.url,
        events=tuple(row.events),
        secrets=tuple(WebhookSecret(unb64(s["sealed"]), s.get("expires_at")) for s in row.secrets),
        created_at=row.created_at.timestamp(),
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


# The columns the mover writes, in the order of the driver-level rows below.
_EVENT_COLUMNS = (
    "event_id",
    "tenant_id",
    "type",
    "time",
    "user_id",
    "enrollment_id",
    "method",
    "outcome",
    "error_code",
    "request_id",
    "client_ip",
    "user_agent",
    "actor",
    "data",
)


async def _insert_event_rows(conn: AsyncConnection, batch: Sequence[Event]) -> None:
    """``INSERT … ON CONFLICT (event_id) DO NOTHING`` of ``batch``, as driver rows.

    Every verify-otp makes one event, so this is the relay's cost per login: through
    SQLAlchemy's per-row parameter processing it was about half of it (tuples
    handed to the driver's executemany take a third less CPU on SQLite, half on
    PostgreSQL). The values are what the column types would bind: the time through
    the column type's own bind processor (a UTC string on SQLite, a datetime on
    PostgreSQL), ``data`` as JSON text, or NULL when empty (read back as ``{}``)."""
    sql = driver_sql(
        conn.dialect,
        f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) "
        f"VALUES ({', '.join('?' for _ in _EVENT_COLUMNS)}) ON CONFLICT (event_id) DO NOTHING",
    )
    bind_time = bind_datetime(events.c.time, conn.dialect)
    rows = [
        (
            e.event_id,
            e.tenant_id,
            e.type,
            bind_time(_dt(e.time)),
            e.user_id,
            e.enrollment_id,
            e.method,
            e.outcome,
            e.error_code,
            e.request_id,
            e.client_ip,
            e.user_agent,
            e.actor,
            json.dumps(e.data) if e.data else None,
        )
        for e in batch
    ]
    await conn.exec_driver_sql(sql, rows)


async def _queue_deliveries(
    conn: AsyncConnection, batch: Sequence[Event], render: Render, now: float
) -> None:
    """One delivery per event per subscribed endpoint of its tenant."""
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
        await conn.execute(_insert_ignoring(conn, webhook_deliveries, "delivery_id"), rows)


def _lockout_end(locked: Event) -> dict[str, Any]:
    return {
        "lock_event_id": locked.event_id,
        "tenant_id": locked.tenant_id,
        "user_id": locked.user_id or "",
        "enrollment_id": locked.enrollment_id,
        "method": locked.method,
        "ends_at": _dt(float(locked.data["locked_until"])),
    }


def _unlocked(row: sa.Row[Any]) -> Event:
    """The ``user.unlocked`` event of a lockout that ran out (no request made it)."""
    return Event(
        event_id=row.lock_event_id.removesuffix(".lock") + ".unlock",
        tenant_id=row.tenant_id,
        type=EventType.USER_UNLOCKED.value,
        time=row.ends_at.timestamp(),
        user_id=row.user_id or None,
        enrollment_id=row.enrollment_id,
        method=row.method,
        outcome="unlocked",
        data={"lock_event_id": row.lock_event_id},
    )


class SqlEvents(SqlConnections):
    # ------------------------------------------------------------------ audit trail

    @_bounded
    async def insert_events(self, batch: Sequence[Event], render: Render, now: float) -> None:
        if not batch:
            return
        async with self._write("insert_events") as conn:
            # ON CONFLICT DO NOTHING on the event id, the delivery id (derived from
            # event and endpoint) and the lockout's event id: a batch moved twice
            # (its mover died before acknowledging), or by two movers at once, adds
            # nothing the second time, with no read before the write. PostgreSQL's
            # unique index makes the second of two concurrent inserts wait for the
            # first, then skip. (Reading which ids exist first cost more than the
            # insert itself.)
            await _insert_event_rows(conn, batch)
            ends = [
                _lockout_end(e)
                for e in batch
                if e.type == EventType.USER_LOCKED and "locked_until" in e.data
            ]
            if ends:
                # In the same transaction as the event: a lockout on record always
                # has its end scheduled (end_lockouts).
                await conn.execute(_insert_ignoring(conn, lockout_ends, "lock_event_id"), ends)
            await _queue_deliveries(conn, batch, render, now)

    @_bounded
    async def end_lockouts(self, now: float, render: Render, limit: int = 500) -> int:
        """Record the end of every lockout that has run out by ``now``: one
        ``user.unlocked`` event each, timed when it ran out, with its deliveries.

        A lockout ends by time (its Redis key expires) and no request sees that
        happen, so the end is scheduled when the ``user.locked`` event is stored and
        recorded here, by every worker's event mover. Idempotent: the event's id is
        derived from the lockout's, so two movers at once record it once."""
        due = sa.select(lockout_ends).where(lockout_ends.c.ends_at <= _dt(now))
        async with self._read("end_lockouts") as conn:
            rows = list(await conn.execute(due.order_by(lockout_ends.c.ends_at).limit(limit)))
        if not rows:
            return 0
        ended = [_unlocked(r) for r in rows]
        async with self._write("end_lockouts") as conn:
            await _insert_event_rows(conn, ended)
            await _queue_deliveries(conn, ended, render, now)
            ids = [r.lock_event_id for r in rows]
            await conn.execute(lockout_ends.delete().where(lockout_ends.c.lock_event_id.in_(ids)))
        return len(ended)

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
