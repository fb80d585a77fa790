"""The audit trail and tenant webhooks (:mod:`mfa.events`) as client methods.

:class:`~mfa.client.AsyncClient` and :class:`~mfa.client.Client` inherit these
(``_AsyncEvents``, ``_SyncEvents``), each with its own ``_run``; the requests are
built by :class:`~mfa.client._calls._Calls` like every other operation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from mfa.client._call import _Call
from mfa.client._calls import _Calls

T = TypeVar("T")


class _AsyncEvents:
    _calls: _Calls

    async def _run(self, call: _Call[T]) -> T:
        raise NotImplementedError  # the client's own

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
        """The tenant's audit trail, oldest first: ``{"events": [...], "next_cursor"}``.
        Pass ``next_cursor`` back as ``cursor`` for the next page; on the last page
        it is where new events will appear (poll with it to tail the trail)."""
        query = event_query(user_id, type, since, cursor, limit)
        return await self._run(self._calls.list_events(tenant_id, query))

    async def create_webhook(self, tenant_id: str, url: str, events: list[str]) -> dict[str, Any]:
        """Register an endpoint for the given event types; the answer's ``secret``
        (``whsec_…``, Standard Webhooks) is shown here only: keep it to verify."""
        return await self._run(self._calls.create_webhook(tenant_id, url, events))

    async def list_webhooks(self, tenant_id: str) -> list[dict[str, Any]]:
        """The tenant's webhook endpoints (never their secrets)."""
        return await self._run(self._calls.list_webhooks(tenant_id))

    async def delete_webhook(self, tenant_id: str, webhook_id: str) -> None:
        """Delete an endpoint with its queued deliveries."""
        await self._run(self._calls.delete_webhook(tenant_id, webhook_id))

    async def rotate_webhook_secret(self, tenant_id: str, webhook_id: str) -> str:
        """A new signing secret; the old one signs beside it for 24 hours."""
        return await self._run(self._calls.rotate_webhook_secret(tenant_id, webhook_id))

    async def test_webhook(self, tenant_id: str, webhook_id: str) -> dict[str, Any]:
        """Send a ``webhook.test`` event now; the delivery, with how it went."""
        return await self._run(self._calls.test_webhook(tenant_id, webhook_id))

    async def list_webhook_deliveries(
        self, tenant_id: str, webhook_id: str, *, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Recent deliveries to an endpoint (``status``: pending, delivered, failed)."""
        call = self._calls.list_webhook_deliveries(tenant_id, webhook_id, status)
        return await self._run(call)

    async def redeliver_webhook(
        self, tenant_id: str, webhook_id: str, delivery_id: str
    ) -> dict[str, Any]:
        """Queue a delivery again (a failed one), due now, with the same ``webhook-id``."""
        call = self._calls.redeliver_webhook(tenant_id, webhook_id, delivery_id)
        return await self._run(call)


class _SyncEvents:
    _calls: _Calls

    def _run(self, call: _Call[T]) -> T:
        raise NotImplementedError  # the client's own

    def list_events(
        self,
        tenant_id: str,
        *,
        user_id: str | None = None,
        type: str | None = None,
        since: str | datetime | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """See :meth:`AsyncClient.list_events`."""
        query = event_query(user_id, type, since, cursor, limit)
        return self._run(self._calls.list_events(tenant_id, query))

    def create_webhook(self, tenant_id: str, url: str, events: list[str]) -> dict[str, Any]:
        """See :meth:`AsyncClient.create_webhook`."""
        return self._run(self._calls.create_webhook(tenant_id, url, events))

    def list_webhooks(self, tenant_id: str) -> list[dict[str, Any]]:
        """See :meth:`AsyncClient.list_webhooks`."""
        return self._run(self._calls.list_webhooks(tenant_id))

    def delete_webhook(self, tenant_id: str, webhook_id: str) -> None:
        """See :meth:`AsyncClient.delete_webhook`."""
        self._run(self._calls.delete_webhook(tenant_id, webhook_id))

    def rotate_webhook_secret(self, tenant_id: str, webhook_id: str) -> str:
        """See :meth:`AsyncClient.rotate_webhook_secret`."""
        return self._run(self._calls.rotate_webhook_secret(tenant_id, webhook_id))

    def test_webhook(self, tenant_id: str, webhook_id: str) -> dict[str, Any]:
        """See :meth:`AsyncClient.test_webhook`."""
        return self._run(self._calls.test_webhook(tenant_id, webhook_id))

    def list_webhook_deliveries(
        self, tenant_id: str, webhook_id: str, *, status: str | None = None
    ) -> list[dict[str, Any]]:
        """See :meth:`AsyncClient.list_webhook_deliveries`."""
        call = self._calls.list_webhook_deliveries(tenant_id, webhook_id, status)
        return self._run(call)

    def redeliver_webhook(
        self, tenant_id: str, webhook_id: str, delivery_id: str
    ) -> dict[str, Any]:
        """See :meth:`AsyncClient.redeliver_webhook`."""
        call = self._calls.redeliver_webhook(tenant_id, webhook_id, delivery_id)
        return self._run(call)


def event_query(
    user_id: str | None,
    type: str | None,
    since: str | datetime | None,
    cursor: str | None,
    limit: int | None,
) -> dict[str, str]:
    """The query of ``list_events`` (a datetime ``since`` as RFC 3339)."""
    query: dict[str, str] = {}
    if user_id is not None:
        query["user_id"] = user_id
    if type is not None:
        query["type"] = type
    if since is not None:
        query["since"] = since.isoformat() if isinstance(since, datetime) else since
    if cursor is not None:
        query["cursor"] = cursor
    if limit is not None:
        query["limit"] = str(limit)
    return query
