"""The in-process client's audit-trail and webhook calls (:mod:`mfa.events`), without HTTP.

:class:`mfa.InProcessClient` inherits these; answers are built by the views of
:mod:`mfa.http.events`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from mfa.events.admin import EventsAdmin
from mfa.inprocess_backend import as_json, check

if TYPE_CHECKING:  # the service is built by the composition root (mfa.service)
    from mfa.service import MFAService


class _InProcessEvents:
    service: MFAService

    async def _events(self) -> EventsAdmin:
        await self.service.ensure_open()
        return self.service.events

    async def list_events(
        self,
        tenant_id: str,
        *,
        user_id: str | None = None,
        type: str | None = None,
        since: str | datetime | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        from mfa.http.events import EventPageResponse, event_view, parse_since

        when = since.timestamp() if isinstance(since, datetime) else parse_since(since)
        page = await (await self._events()).list_events(
            tenant_id,
            user_id=user_id,
            type=type,
            since=when,
            cursor=cursor,
            limit=100 if limit is None else limit,
        )
        view = EventPageResponse(
            events=[event_view(e) for e in page.events], next_cursor=page.next_cursor
        )
        return as_json(view)

    async def create_webhook(self, tenant_id: str, url: str, events: list[str]) -> dict[str, Any]:
        from mfa.http.webhooks import CreateWebhookBody, WebhookCreatedResponse, webhook_view

        b = check(CreateWebhookBody, url=url, events=events)
        endpoint, secret = await (await self._events()).create_webhook(tenant_id, b.url, b.events)
        return as_json(WebhookCreatedResponse(**webhook_view(endpoint).model_dump(), secret=secret))

    async def list_webhooks(self, tenant_id: str) -> list[dict[str, Any]]:
        from mfa.http.webhooks import webhook_view

        return [
            as_json(webhook_view(e)) for e in await (await self._events()).list_webhooks(tenant_id)
        ]

    async def delete_webhook(self, tenant_id: str, webhook_id: str) -> None:
        await (await self._events()).delete_webhook(tenant_id, webhook_id)

    async def rotate_webhook_secret(self, tenant_id: str, webhook_id: str) -> str:
        return await (await self._events()).rotate_secret(tenant_id, webhook_id)

    async def test_webhook(self, tenant_id: str, webhook_id: str) -> dict[str, Any]:
        from mfa.http.webhooks import delivery_view

        return as_json(
            delivery_view(await (await self._events()).test_webhook(tenant_id, webhook_id))
        )

    async def list_webhook_deliveries(
        self, tenant_id: str, webhook_id: str, *, status: str | None = None
    ) -> list[dict[str, Any]]:
        from mfa.http.webhooks import delivery_view

        found = await (await self._events()).list_deliveries(tenant_id, webhook_id, status)
        return [as_json(delivery_view(d)) for d in found]

    async def redeliver_webhook(
        self, tenant_id: str, webhook_id: str, delivery_id: str
    ) -> dict[str, Any]:
        from mfa.http.webhooks import delivery_view

        delivery = await (await self._events()).redeliver(tenant_id, webhook_id, delivery_id)
        return as_json(delivery_view(delivery))
