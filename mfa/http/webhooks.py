"""Backend API routes of the tenant's webhook endpoints and their deliveries.

The operations are :class:`mfa.events.admin.EventsAdmin` (``service.events``); what
an endpoint receives is the audit trail's events (:mod:`mfa.http.events`), signed
and retried by :mod:`mfa.events`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field
from starlette.requests import Request

from mfa.events.admin import EventsAdmin
from mfa.events.record import WebhookDelivery, WebhookEndpoint, iso
from mfa.http.backend_endpoint import AUTH, BODY, TENANT, backend_endpoint, query_value, service
from mfa.http.endpoint import Endpoint
from mfa.http.events import TAG
from mfa.http.params import path_id, tenant_id
from mfa.schemas import Body

# Checked against WEBHOOK_TYPES by the operation, which names the known ones.
WebhookType = Annotated[str, Field(min_length=1, max_length=64)]


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
    return service(request).events


def _ep_id(request: Request) -> str:
    return path_id(request, "webhook_id")


async def create_webhook(request: Request, body: CreateWebhookBody) -> WebhookCreatedResponse:
    endpoint, secret = await _events(request).create_webhook(
        tenant_id(request), body.url, [str(t) for t in body.events]
    )
    view = webhook_view(endpoint)
    return WebhookCreatedResponse(**view.model_dump(), secret=secret)


async def list_webhooks(request: Request, _: None) -> WebhookList:
    found = await _events(request).list_webhooks(tenant_id(request))
    return WebhookList(webhooks=[webhook_view(e) for e in found])


async def get_webhook(request: Request, _: None) -> WebhookResponse:
    found = await _events(request).get_webhook(tenant_id(request), _ep_id(request))
    return webhook_view(found)


async def delete_webhook(request: Request, _: None) -> None:
    await _events(request).delete_webhook(tenant_id(request), _ep_id(request))


async def rotate_secret(request: Request, body: Body) -> WebhookSecretResponse:
    secret = await _events(request).rotate_secret(tenant_id(request), _ep_id(request))
    return WebhookSecretResponse(secret=secret)


async def test_webhook(request: Request, body: Body) -> DeliveryResponse:
    delivery = await _events(request).test_webhook(tenant_id(request), _ep_id(request))
    return delivery_view(delivery)


async def list_deliveries(request: Request, _: None) -> DeliveryList:
    found = await _events(request).list_deliveries(
        tenant_id(request), _ep_id(request), query_value(request, "status")
    )
    return DeliveryList(deliveries=[delivery_view(d) for d in found])


async def redeliver(request: Request, body: Body) -> DeliveryResponse:
    delivery = await _events(request).redeliver(
        tenant_id(request), _ep_id(request), path_id(request, "delivery_id")
    )
    return delivery_view(delivery)


_HOOK = "/api/tenants/{tenant_id}/webhooks"


def _ep(method: str, path: str, handler: Any, summary: str, **kw: Any) -> Endpoint:
    return backend_endpoint(method, path, handler, summary, tags=TAG, **kw)


ENDPOINTS: tuple[Endpoint, ...] = (
    _ep(
        "POST",
        _HOOK,
        create_webhook,
        "Register a webhook endpoint (the signing secret is shown once)",
        body=CreateWebhookBody,
        response=WebhookCreatedResponse,
        status=201,
        scope="webhooks:write",
        errors=(*AUTH, *TENANT, *BODY),
    ),
    _ep(
        "GET",
        _HOOK,
        list_webhooks,
        "The tenant's webhook endpoints",
        response=WebhookList,
        scope="events:read",
        errors=(*AUTH, *TENANT),
    ),
    _ep(
        "GET",
        _HOOK + "/{webhook_id}",
        get_webhook,
        "A webhook endpoint",
        response=WebhookResponse,
        scope="events:read",
        errors=(*AUTH, *TENANT, "not_found"),
    ),
    _ep(
        "DELETE",
        _HOOK + "/{webhook_id}",
        delete_webhook,
        "Delete a webhook endpoint and its queued deliveries",
        status=204,
        scope="webhooks:write",
        errors=(*AUTH, *TENANT, "not_found"),
    ),
    _ep(
        "POST",
        _HOOK + "/{webhook_id}/secret-rotation",
        rotate_secret,
        "A new signing secret; the old one keeps signing beside it for 24 hours",
        response=WebhookSecretResponse,
        scope="webhooks:write",
        errors=(*AUTH, *TENANT, *BODY, "not_found"),
    ),
    _ep(
        "POST",
        _HOOK + "/{webhook_id}/test",
        test_webhook,
        "Send a webhook.test event now and report the attempt",
        response=DeliveryResponse,
        scope="webhooks:write",
        errors=(*AUTH, *TENANT, *BODY, "not_found"),
    ),
    _ep(
        "GET",
        _HOOK + "/{webhook_id}/deliveries",
        list_deliveries,
        "Recent deliveries to the endpoint (filter: status)",
        response=DeliveryList,
        scope="events:read",
        query=frozenset({"status"}),
        errors=(*AUTH, *TENANT, "not_found", "invalid_query_string"),
    ),
    _ep(
        "POST",
        _HOOK + "/{webhook_id}/deliveries/{delivery_id}/redelivery",
        redeliver,
        "Queue a delivery again (a failed one, say), due now, same webhook-id",
        response=DeliveryResponse,
        scope="webhooks:write",
        errors=(*AUTH, *TENANT, *BODY, "not_found"),
    ),
)
