"""Backend operations on events: the audit trail and the tenant's webhook endpoints.

Like :mod:`mfa.admin`, these return records and leave authorization to the HTTP
layer. Every refusal a caller can cause is a catalogue error.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from mfa.context import Context
from mfa.errors import InvalidBody, InvalidQueryString, NotFound, TenantNotFound
from mfa.events.record import (
    WEBHOOK_TYPES,
    Event,
    EventType,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookSecret,
)
from mfa.events.webhooks import SEAL_PURPOSE, WebhookDeliverer, new_secret, render
from mfa.storage.sql_events import delivery_id

MAX_PAGE = 500
MAX_ENDPOINTS = 20
# A rotated-out secret keeps signing beside the new one this long.
ROTATION_OVERLAP_SECONDS = 24 * 3600
_LOOPBACK_NAMES = frozenset({"localhost"})


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[Event]
    next_cursor: str | None  # None: nothing after this page yet


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"s{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("s") or not raw[1:].isdigit() or len(raw) > 20:
            raise ValueError(raw)
        return int(raw[1:])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidQueryString("The cursor is not one this API returned.") from None


def check_url(url: str) -> str:
    """https, or http to this machine (a receiver under development)."""
    if len(url) > 2000:
        raise InvalidBody("The url is longer than 2000 characters.", field="url")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host or parts.username or parts.password:
        raise InvalidBody("The url must be an absolute https URL without credentials.", field="url")
    if parts.scheme == "http" and not _loopback(host):
        raise InvalidBody("The url must use https (http only for localhost).", field="url")
    return url


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_types(types: list[str]) -> tuple[str, ...]:
    if not types:
        raise InvalidBody("Name at least one event type.", field="events")
    unknown = sorted(set(types) - WEBHOOK_TYPES)
    if unknown:
        known = ", ".join(sorted(WEBHOOK_TYPES))
        raise InvalidBody(f"Unknown event types {unknown[:5]}; known: {known}.", field="events")
    return tuple(sorted(set(types)))


class EventsAdmin:
    def __init__(self, ctx: Context, deliverer: WebhookDeliverer) -> None:
        self._ctx = ctx
        self._deliverer = deliverer

    async def _tenant(self, tenant_id: str) -> None:
        if await self._ctx.durable.get_tenant(tenant_id) is None:
            raise TenantNotFound()

    # ------------------------------------------------------------------ audit trail

    async def list_events(
        self,
        tenant_id: str,
        *,
        user_id: str | None = None,
        type: str | None = None,
        since: float | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> EventPage:
        """Events in the order they reached the audit table, oldest first, after
        ``cursor``. The last page's ``next_cursor`` is where new events will
        appear, so a poller never misses one (an event moved late still lands
        after it)."""
        await self._tenant(tenant_id)
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidQueryString(f"limit must be within 1..{MAX_PAGE}.")
        if type is not None and type not in EventType.__members__.values():
            raise InvalidQueryString(f"No event type {type[:40]!r}.")
        after = None if cursor is None else decode_cursor(cursor)
        found = await self._ctx.durable.list_events(
            tenant_id, user_id=user_id, type=type, since=since, after_seq=after, limit=limit
        )
        last = found[-1].seq if found else after
        return EventPage(found, None if last is None else encode_cursor(last))

    # ------------------------------------------------------------------ webhooks

    async def create_webhook(
        self, tenant_id: str, url: str, types: list[str]
    ) -> tuple[WebhookEndpoint, str]:
        """A new endpoint and its signing secret (``whsec_…``, shown here and on
        rotation only; kept sealed)."""
        await self._tenant(tenant_id)
        checked_url, checked_types = check_url(url), check_types(types)
        if len(await self._ctx.durable.list_webhooks(tenant_id)) >= MAX_ENDPOINTS:
            raise InvalidBody(f"A tenant has at most {MAX_ENDPOINTS} webhook endpoints.")
        endpoint_id = self._ctx.new_id("ep", 12)
        secret = new_secret()
        sealed = self._ctx.sealer.seal(tenant_id, endpoint_id, SEAL_PURPOSE, secret)
        endpoint = WebhookEndpoint(
            endpoint_id=endpoint_id,
            tenant_id=tenant_id,
            url=checked_url,
            events=checked_types,
            secrets=(WebhookSecret(sealed),),
            created_at=self._ctx.clock(),
        )
        await self._ctx.durable.create_webhook(endpoint)
        return endpoint, secret

    async def list_webhooks(self, tenant_id: str) -> list[WebhookEndpoint]:
        await self._tenant(tenant_id)
        return await self._ctx.durable.list_webhooks(tenant_id)

    async def get_webhook(self, tenant_id: str, endpoint_id: str) -> WebhookEndpoint:
        found = await self._ctx.durable.get_webhook(tenant_id, endpoint_id)
        if found is None:
            await self._tenant(tenant_id)
            raise NotFound("No webhook endpoint with this id for this tenant.")
        return found

    async def delete_webhook(self, tenant_id: str, endpoint_id: str) -> None:
        if not await self._ctx.durable.delete_webhook(tenant_id, endpoint_id):
            await self._tenant(tenant_id)
            raise NotFound("No webhook endpoint with this id for this tenant.")

    async def rotate_secret(self, tenant_id: str, endpoint_id: str) -> str:
        """A new secret signs from now on; the previous one signs beside it for
        :data:`ROTATION_OVERLAP_SECONDS`, then stops. Older ones stop at once."""
        endpoint = await self.get_webhook(tenant_id, endpoint_id)
        now = self._ctx.clock()
        secret = new_secret()
        sealed = self._ctx.sealer.seal(tenant_id, endpoint_id, SEAL_PURPOSE, secret)
        previous = [
            replace(s, expires_at=now + ROTATION_OVERLAP_SECONDS)
            for s in endpoint.secrets[:1]
            if s.expires_at is None or s.expires_at > now
        ]
        await self._ctx.durable.set_webhook_secrets(
            tenant_id, endpoint_id, [WebhookSecret(sealed), *previous]
        )
        return secret

    async def test_webhook(self, tenant_id: str, endpoint_id: str) -> WebhookDelivery:
        """Send a ``webhook.test`` event to the endpoint now and say how it went.
        Queued like any delivery, so a receiver that is down gets it later too."""
        endpoint = await self.get_webhook(tenant_id, endpoint_id)
        event = self._ctx.events.make(tenant_id, EventType.WEBHOOK_TEST)
        now = self._ctx.clock()
        delivery = WebhookDelivery(
            delivery_id=delivery_id(event.event_id, endpoint_id),
            tenant_id=tenant_id,
            endpoint_id=endpoint_id,
            event_id=event.event_id,
            event_type=event.type,
            payload=render(event),
            status="pending",
            attempts=0,
            # Due once this attempt's lease has run out, should it die midway.
            next_attempt_at=now + 60,
            created_at=now,
        )
        await self._ctx.durable.add_delivery(delivery)
        await self._deliverer.attempt(delivery, endpoint)
        found = await self._ctx.durable.get_delivery(tenant_id, endpoint_id, delivery.delivery_id)
        return found or delivery

    async def list_deliveries(
        self, tenant_id: str, endpoint_id: str, status: str | None = None
    ) -> list[WebhookDelivery]:
        await self.get_webhook(tenant_id, endpoint_id)
        if status is not None and status not in ("pending", "delivered", "failed"):
            raise InvalidQueryString("status is one of pending, delivered, failed.")
        return await self._ctx.durable.list_deliveries(tenant_id, endpoint_id, status=status)

    async def redeliver(self, tenant_id: str, endpoint_id: str, delivery: str) -> WebhookDelivery:
        """Queue a delivery again (a failed one, typically), due now, with a fresh
        retry window; the body and ``webhook-id`` stay the same."""
        await self.get_webhook(tenant_id, endpoint_id)
        now = self._ctx.clock()
        if not await self._ctx.durable.redeliver(tenant_id, endpoint_id, delivery, now):
            raise NotFound("No delivery with this id for this webhook endpoint.")
        found = await self._ctx.durable.get_delivery(tenant_id, endpoint_id, delivery)
        if found is None:  # deleted meanwhile with its endpoint
            raise NotFound("No delivery with this id for this webhook endpoint.")
        return found
