"""Backend API routes of events: the audit trail and the tenant's webhook endpoints.

Appended to :data:`mfa.http.backend.ENDPOINTS`; the operations are
:class:`mfa.events.admin.EventsAdmin` (``service.events``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field
from starlette.requests import Request

from mfa.errors import InvalidQueryString
from mfa.events.admin import EventsAdmin
from mfa.events.record import (
    Event,
    WebhookDelivery,
    WebhookEndpoint,
    iso,
    public,
)
from mfa.http import params
from mfa.http.endpoint import Endpoint
from mfa.schemas import Body, has_control

# Checked against WEBHOOK_TYPES by the operation, which names the known ones.
WebhookType = Annotated[str, Field(min_length=1, max_length=64)]


if TYPE_CHECKING:  # the service is built by the composition root (mfa.service)
    from mfa.service import MFAService


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


class CreateWebhookBody(Body):
    url: Annotated[str, Field(min_length=1, max_length=2000)]
    events: Annotated[list[WebhookType], Field(min_length=1, max_length=50)]


class WebhookResponse(BaseModel):
    id: str
    url: str
    events: list[str]
    created_at: str


class WebhookCreatedResponse(WebhookResponse):
    secret: str  # whsec_…: shown here and on rotation only


class WebhookList(BaseModel):
    webhooks: list[WebhookResponse]


class WebhookSecretResponse(BaseModel):
    secret: str


class DeliveryResponse(BaseModel):
    id: str  # also the webhook-id header
    event_id: str
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: str | None  # None once delivered or failed
    last_status_code: int | None
    last_error: str | None
    created_at: str
    delivered_at: str | None


class DeliveryList(BaseModel):
    deliveries: list[DeliveryResponse]


def event_view(event: Event) -> EventResponse:
    return EventResponse.model_validate(public(event))


def webhook_view(endpoint: WebhookEndpoint) -> WebhookResponse:
    return WebhookResponse(
        id=endpoint.endpoint_id,
        url=endpoint.url,
        events=list(endpoint.events),
        created_at=iso(endpoint.created_at),
    )


def delivery_view(d: WebhookDelivery) -> DeliveryResponse:
    return DeliveryResponse(
        id=d.delivery_id,
        event_id=d.event_id,
        event_type=d.event_type,
        status=d.status,  # type: ignore[arg-type]
        attempts=d.attempts,
        next_attempt_at=iso(d.next_attempt_at) if d.status == "pending" else None,
        last_status_code=d.last_status_code,
        last_error=d.last_error,
        created_at=iso(d.created_at),
        delivered_at=None if d.delivered_at is None else iso(d.delivered_at),
    )


def _events(request: Request) -> EventsAdmin:
    service: MFAService = request.app.state.mfa
    return service.events


def _query(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    if not value or len(value) > params.MAX_ID_CHARS or has_control(value):
        raise InvalidQueryString(f"Invalid value for {name!r}.")
    return value


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
    page = await _events(request).list_events(
        params.tenant_id(request),
        user_id=_query(request, "user_id"),
        type=_query(request, "type"),
        since=parse_since(_query(request, "since")),
        cursor=_query(request, "cursor"),
        limit=_limit(_query(request, "limit")),
    )
    return EventPageResponse(
        events=[event_view(e) for e in page.events], next_cursor=page.next_cursor
    )


async def create_webhook(request: Request, body: CreateWebhookBody) -> WebhookCreatedResponse:
    endpoint, secret = await _events(request).create_webhook(
        params.tenant_id(request), body.url, [str(t) for t in body.events]
    )
    view = webhook_view(endpoint)
    return WebhookCreatedResponse(**view.model_dump(), secret=secret)


async def list_webhooks(request: Request, _: None) -> WebhookList:
    found = await _events(request).list_webhooks(params.tenant_id(request))
    return WebhookList(webhooks=[webhook_view(e) for e in found])


def _ep_id(request: Request) -> str:
    return params.path_id(request, "webhook_id")


async def get_webhook(request: Request, _: None) -> WebhookResponse:
    found = await _events(request).get_webhook(params.tenant_id(request), _ep_id(request))
    return webhook_view(found)


async def delete_webhook(request: Request, _: None) -> None:
    await _events(request).delete_webhook(params.tenant_id(request), _ep_id(request))


async def rotate_secret(request: Request, body: Body) -> WebhookSecretResponse:
    secret = await _events(request).rotate_secret(params.tenant_id(request), _ep_id(request))
    return WebhookSecretResponse(secret=secret)


async def test_webhook(request: Request, body: Body) -> DeliveryResponse:
    delivery = await _events(request).test_webhook(params.tenant_id(request), _ep_id(request))
    return delivery_view(delivery)


async def list_deliveries(request: Request, _: None) -> DeliveryList:
    found = await _events(request).list_deliveries(
        params.tenant_id(request), _ep_id(request), _query(request, "status")
    )
    return DeliveryList(deliveries=[delivery_view(d) for d in found])


async def redeliver(request: Request, body: Body) -> DeliveryResponse:
    delivery = await _events(request).redeliver(
        params.tenant_id(request), _ep_id(request), params.path_id(request, "delivery_id")
    )
    return delivery_view(delivery)


_AUTH = ("invalid_bearer_format", "invalid_token", "insufficient_scope")
_T = ("tenant_not_found",)
_BODY = ("invalid_body", "field_required")
_TAG = ("events and webhooks",)
_HOOK = "/api/tenants/{tenant_id}/webhooks"


def _ep(method: str, path: str, handler: Any, summary: str, **kw: Any) -> Endpoint:
    kw.setdefault("auth", "api_key")
    kw.setdefault("tags", _TAG)
    if method == "POST" and "body" not in kw:
        kw["body"] = Body
    return Endpoint(method, path, handler, summary, **kw)


ENDPOINTS: tuple[Endpoint, ...] = (
    _ep(
        "GET",
        "/api/tenants/{tenant_id}/events",
        list_events,
        "The audit trail: security events, oldest first, with a cursor",
        response=EventPageResponse,
        scope="events:read",
        query=frozenset({"user_id", "type", "since", "cursor", "limit"}),
        errors=(*_AUTH, *_T, "invalid_query_string"),
    ),
    _ep(
        "POST",
        _HOOK,
        create_webhook,
        "Register a webhook endpoint (the signing secret is shown once)",
        body=CreateWebhookBody,
        response=WebhookCreatedResponse,
        status=201,
        scope="webhooks:write",
        errors=(*_AUTH, *_T, *_BODY),
    ),
    _ep(
        "GET",
        _HOOK,
        list_webhooks,
        "The tenant's webhook endpoints",
        response=WebhookList,
        scope="events:read",
        errors=(*_AUTH, *_T),
    ),
    _ep(
        "GET",
        _HOOK + "/{webhook_id}",
        get_webhook,
        "A webhook endpoint",
        response=WebhookResponse,
        scope="events:read",
        errors=(*_AUTH, *_T, "not_found"),
    ),
    _ep(
        "DELETE",
        _HOOK + "/{webhook_id}",
        delete_webhook,
        "Delete a webhook endpoint and its queued deliveries",
        status=204,
        scope="webhooks:write",
        errors=(*_AUTH, *_T, "not_found"),
    ),
    _ep(
        "POST",
        _HOOK + "/{webhook_id}/secret-rotation",
        rotate_secret,
        "A new signing secret; the old one keeps signing beside it for 24 hours",
        response=WebhookSecretResponse,
        scope="webhooks:write",
        errors=(*_AUTH, *_T, *_BODY, "not_found"),
    ),
    _ep(
        "POST",
        _HOOK + "/{webhook_id}/test",
        test_webhook,
        "Send a webhook.test event now and report the attempt",
        response=DeliveryResponse,
        scope="webhooks:write",
        errors=(*_AUTH, *_T, *_BODY, "not_found"),
    ),
    _ep(
        "GET",
        _HOOK + "/{webhook_id}/deliveries",
        list_deliveries,
        "Recent deliveries to the endpoint (filter: status)",
        response=DeliveryList,
        scope="events:read",
        query=frozenset({"status"}),
        errors=(*_AUTH, *_T, "not_found", "invalid_query_string"),
    ),
    _ep(
        "POST",
        _HOOK + "/{webhook_id}/deliveries/{delivery_id}/redelivery",
        redeliver,
        "Queue a delivery again (a failed one, say), due now, same webhook-id",
        response=DeliveryResponse,
        scope="webhooks:write",
        errors=(*_AUTH, *_T, *_BODY, "not_found"),
    ),
)
