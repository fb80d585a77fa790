"""The events and webhooks operations of the Python clients: the async client over
HTTP and the in-process client give the same answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

import mfa
from mfa import InProcessClient
from mfa.client import AsyncClient
from mfa.errors import InvalidBody, InvalidQueryString, NotFound
from tests.stubs.tenant_webhook_receiver import TenantWebhookReceiver

pytestmark = pytest.mark.anyio


@pytest.fixture
def receiver() -> Iterator[TenantWebhookReceiver]:
    server = TenantWebhookReceiver()
    with server._server:
        yield server


@pytest.mark.parametrize("kind", ["http", "in-process"])
async def test_events_and_webhooks(
    kind: str, client: AsyncClient, service: mfa.MFAService, receiver: TenantWebhookReceiver
) -> None:
    api: AsyncClient | InProcessClient = client if kind == "http" else InProcessClient(service)
    await api.create_tenant("acme", "Acme")
    await api.create_api_key("acme", "reader", ["events:read"])
    await service.relay.run_once()
    page = await api.list_events("acme", since=datetime(2020, 1, 1, tzinfo=UTC), limit=10)
    (created,) = page["events"]
    assert created["type"] == "api_key.created" and page["next_cursor"]
    assert (await api.list_events("acme", cursor=page["next_cursor"]))["events"] == []
    assert (await api.list_events("acme", type="auth.failed"))["events"] == []
    with pytest.raises(InvalidQueryString):
        await api.list_events("acme", cursor="garbage")

    hook = await api.create_webhook("acme", receiver.url, ["auth.succeeded"])
    assert [h["id"] for h in await api.list_webhooks("acme")] == [hook["id"]]
    sent = await api.test_webhook("acme", hook["id"])
    assert sent["status"] == "delivered"
    assert Webhook(hook["secret"]).verify(receiver.received[0].raw, receiver.received[0].headers)
    (delivery,) = await api.list_webhook_deliveries("acme", hook["id"], status="delivered")
    again = await api.redeliver_webhook("acme", hook["id"], delivery["id"])
    assert again["status"] == "pending" and again["id"] == delivery["id"]
    secret = await api.rotate_webhook_secret("acme", hook["id"])
    assert secret.startswith("whsec_") and secret != hook["secret"]
    await api.delete_webhook("acme", hook["id"])
    with pytest.raises(NotFound):
        await api.delete_webhook("acme", hook["id"])
    with pytest.raises(InvalidBody):
        await api.create_webhook("acme", "http://example.com/", ["auth.succeeded"])
