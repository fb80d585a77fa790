"""Backend API route of the audit trail: a tenant's security events, with a cursor.

The operation is :meth:`mfa.events.admin.EventsAdmin.list_events` (``service.events``);
the tenant's webhook endpoints, which receive the same events, are
:mod:`mfa.http.webhooks`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request

from mfa.errors import InvalidQueryString
from mfa.events.record import Event, public
from mfa.http.backend_endpoint import AUTH, TENANT, backend_endpoint, query_value, service
from mfa.http.endpoint import Endpoint
from mfa.http.params import tenant_id

TAG = ("events and webhooks",)


class EventResponse(BaseModel):
    id: str
    type: str
    time: str
    tenant_id: str
    user_id: str | None
    enrollment_id: str | None
    method: str | None
    outcome: str | None
    error_code: str | None
    request_id: str | None
    client_ip: str | None
    user_agent: str | None
    actor: str | None
    data: dict[str, Any]


class EventPageResponse(BaseModel):
    events: list[EventResponse]
    # Pass back as ``cursor`` for what comes next; on the last page, where new
    # events will appear.
    next_cursor: str | None


def event_view(event: Event) -> EventResponse:
    return EventResponse.model_validate(public(event))


def parse_since(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidQueryString("since must be an RFC 3339 time (2026-11-30T12:00:00Z).") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _limit(raw: str | None) -> int:
    if raw is None:
        return 100
    if not raw.isdigit() or len(raw) > 4:
        raise InvalidQueryString("limit must be a whole number within 1..500.")
    return int(raw)


async def list_events(request: Request, _: None) -> EventPageResponse:
    page = await service(request).events.list_events(
        tenant_id(request),
        user_id=query_value(request, "user_id"),
        type=query_value(request, "type"),
        since=parse_since(query_value(request, "since")),
        cursor=query_value(request, "cursor"),
        limit=_limit(query_value(request, "limit")),
    )
    return EventPageResponse(
        events=[event_view(e) for e in page.events], next_cursor=page.next_cursor
    )


ENDPOINTS: tuple[Endpoint, ...] = (
    backend_endpoint(
        "GET",
        "/api/tenants/{tenant_id}/events",
        list_events,
        "The audit trail: security events, oldest first, with a cursor",
        response=EventPageResponse,
        scope="events:read",
        query=frozenset({"user_id", "type", "since", "cursor", "limit"}),
        errors=(*AUTH, *TENANT, "invalid_query_string"),
        tags=TAG,
    ),
)
