"""Tenant webhooks: registration, Standard Webhooks signatures checked by the
``standardwebhooks`` package (an independent verifier), retries with backoff,
failure and redelivery, the test call and secret rotation.

The deliverer runs its rounds here by hand (``run_once``) and the frozen clock
jumps over the backoff, so a day of retries takes milliseconds; the receiver is
a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from mfa import MFAService
from mfa.events.webhooks import RetryPolicy
from mfa.factors import totp
from mfa.testing import FrozenClock
from tests.conftest import Api
from tests.events.conftest import moved
from tests.stubs.tenant_webhook_receiver import TenantWebhookReceiver

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[TenantWebhookReceiver]:
    server = TenantWebhookReceiver()
    with server._server:
        yield server


@pytest.fixture
def receiver(receiver_server: TenantWebhookReceiver) -> Iterator[TenantWebhookReceiver]:
    receiver_server.reset()
    yield receiver_server
    receiver_server.reset()


@pytest.fixture
async def tenant(api: Api) -> str:
    return await api.tenant()


async def register(api: Api, url: str, events: list[str]) -> dict[str, Any]:
    r = await api.http.post(
        "/api/tenants/acme/webhooks", json={"url": url, "events": events}, headers=api.admin
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def enroll_and_log_in(api: Api, clock: FrozenClock, user: str = "alice") -> None:
    """enrollment.confirmed, auth.failed, auth.succeeded."""
    start = await api.start("acme", user)
    secret = start["device_account"]["otp_secret"]
    r = await api.post(
        "/api/verify-otp", start["transaction_token"], {"code": totp.code_at(secret, clock())}
    )
    assert r.status_code == 204, r.text
    clock.advance(30)
    tx = (await api.start("acme", user))["transaction_token"]
    assert (await api.post("/api/verify-otp", tx, {"code": "000000"})).status_code == 403
    r = await api.post("/api/verify-otp", tx, {"code": totp.code_at(secret, clock())})
    assert r.status_code == 204, r.text


async def deliver(service: MFAService, clock: FrozenClock, rounds: int, step: float) -> None:
    await moved(service)
    for _ in range(rounds):
        await service.deliverer.run_once()
        clock.advance(step)


def verified(secret: str, received: Any) -> Any:
    return Webhook(secret).verify(received.raw, received.headers)


async def test_a_receiver_failing_three_times_gets_every_event_as_signed(
    api: Api, tenant: str, clock: FrozenClock, receiver: TenantWebhookReceiver
) -> None:
    hook = await register(
        api, receiver.url, ["enrollment.confirmed", "auth.failed", "auth.succeeded"]
    )
    assert hook["id"].startswith("ep_") and hook["secret"].startswith("whsec_")
    receiver.answer(500, 503, 500)
    await enroll_and_log_in(api, clock)
    await deliver(api.service, clock, rounds=4, step=api.service.settings.webhook_retry_cap_seconds)

    accepted = receiver.accepted()
    assert len(receiver.received) == 6 and len(accepted) == 3
    bodies = [verified(hook["secret"], r) for r in accepted]
    assert sorted(b["type"] for b in bodies) == [
        "auth.failed",
        "auth.succeeded",
        "enrollment.confirmed",
    ]
    for body in bodies:
        assert set(body) == {"type", "timestamp", "data"}
        assert body["data"]["type"] == body["type"] and body["data"]["user_id"] == "alice"
    failed = next(b for b in bodies if b["type"] == "auth.failed")
    assert failed["data"]["error_code"] == "invalid_otp"
    # A retry is the same message: same webhook-id, same bytes, each signed.
    for r in receiver.received:
        verified(hook["secret"], r)
        twin = [o for o in receiver.received if o.headers["webhook-id"] == r.headers["webhook-id"]]
        assert len(twin) == 2 and twin[0].raw == twin[1].raw

    r = await api.http.get(f"/api/tenants/acme/webhooks/{hook['id']}/deliveries", headers=api.admin)
    deliveries = r.json()["deliveries"]
    assert len(deliveries) == 3
    assert all(d["status"] == "delivered" and d["attempts"] == 2 for d in deliveries)
    assert {d["id"] for d in deliveries} == {r.headers["webhook-id"] for r in accepted}


async def test_a_wrong_secret_or_altered_body_is_refused_by_the_verifier(
    api: Api, tenant: str, clock: FrozenClock, receiver: TenantWebhookReceiver
) -> None:
    hook = await register(api, receiver.url, ["enrollment.confirmed"])
    other = await register(api, receiver.url, ["auth.rejected"])
    await enroll_and_log_in(api, clock)
    await deliver(api.service, clock, rounds=1, step=1)
    (got,) = receiver.received
    verified(hook["secret"], got)
    with pytest.raises(WebhookVerificationError):
        verified(other["secret"], got)
    with pytest.raises(WebhookVerificationError):
        Webhook(hook["secret"]).verify(got.raw.replace(b"alice", b"mallory"), got.headers)


async def test_retries_span_a_day_then_fail_and_can_be_redelivered(
    api: Api, tenant: str, clock: FrozenClock, receiver: TenantWebhookReceiver
) -> None:
    service = api.service
    policy = service.deliverer.policy
    hook = await register(api, receiver.url, ["enrollment.confirmed"])
    receiver.answer(*([500] * 1000))
    start = await api.start("acme", "alice")
    secret = start["device_account"]["otp_secret"]
    await api.post(
        "/api/verify-otp", start["transaction_token"], {"code": totp.code_at(secret, clock())}
    )
    await moved(service)
    queued_at = clock()
    attempts_at: list[float] = []
    while True:
        before = len(receiver.received)
        await service.deliverer.run_once()
        if len(receiver.received) > before:
            attempts_at.append(clock())
        r = await api.http.get(
            f"/api/tenants/acme/webhooks/{hook['id']}/deliveries", headers=api.admin
        )
        (delivery,) = r.json()["deliveries"]
        if delivery["status"] != "pending":
            break
        # Straight to the next try (the background deliverer polls every second).
        clock.set(datetime.fromisoformat(delivery["next_attempt_at"]).timestamp() + 1)
    assert delivery["status"] == "failed" and delivery["last_status_code"] == 500
    assert attempts_at[-1] - queued_at >= 86400  # at least a day of retries
    gaps = [b - a for a, b in itertools.pairwise(attempts_at)]
    assert gaps[0] < gaps[3] < gaps[6]  # exponential, then capped
    assert max(gaps) <= policy.cap_seconds + 2
    assert delivery["attempts"] == len(attempts_at)

    receiver.reset()  # the receiver is fixed
    r = await api.http.post(
        f"/api/tenants/acme/webhooks/{hook['id']}/deliveries/{delivery['id']}/redelivery",
        json={},
        headers=api.admin,
    )
    assert r.status_code == 200 and r.json()["status"] == "pending"
    await service.deliverer.run_once()
    (got,) = receiver.received
    assert got.headers["webhook-id"] == delivery["id"]
    assert verified(hook["secret"], got)["type"] == "enrollment.confirmed"


def test_default_schedule_retries_for_at_least_a_day() -> None:
    policy = RetryPolicy()
    elapsed, attempts = 0.0, 1
    while elapsed < policy.window_seconds:
        elapsed += policy.delay(attempts)
        attempts += 1
    assert policy.delay(1) == 30 and policy.delay(2) == 60 and policy.delay(50) == 4 * 3600
    assert 10 <= attempts <= 20


async def test_the_test_call_and_secret_rotation(
    api: Api, tenant: str, clock: FrozenClock, receiver: TenantWebhookReceiver
) -> None:
    hook = await register(api, receiver.url, ["auth.succeeded"])
    base = f"/api/tenants/acme/webhooks/{hook['id']}"
    r = await api.http.post(base + "/test", json={}, headers=api.admin)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "delivered" and r.json()["event_type"] == "webhook.test"
    assert verified(hook["secret"], receiver.received[0])["type"] == "webhook.test"

    r = await api.http.post(base + "/secret-rotation", json={}, headers=api.admin)
    new_secret = r.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != hook["secret"]
    receiver.answer(500)
    r = await api.http.post(base + "/test", json={}, headers=api.admin)
    assert r.json()["status"] == "pending" and r.json()["last_status_code"] == 500
    during = receiver.received[-1]
    # During the overlap, both secrets verify: receivers switch without a gap.
    verified(new_secret, during)
    verified(hook["secret"], during)
    clock.advance(24 * 3600 + 1)
    await api.http.post(base + "/test", json={}, headers=api.admin)
    after = receiver.received[-1]
    verified(new_secret, after)
    with pytest.raises(WebhookVerificationError):
        verified(hook["secret"], after)


async def test_endpoints_list_get_delete(
    api: Api, tenant: str, receiver: TenantWebhookReceiver
) -> None:
    hook = await register(api, receiver.url, ["user.locked", "device.disabled"])
    r = await api.http.get("/api/tenants/acme/webhooks", headers=api.admin)
    (listed,) = r.json()["webhooks"]
    assert listed["id"] == hook["id"] and listed["events"] == ["device.disabled", "user.locked"]
    assert "secret" not in listed
    r = await api.http.delete(f"/api/tenants/acme/webhooks/{hook['id']}", headers=api.admin)
    assert r.status_code == 204
    r = await api.http.get(f"/api/tenants/acme/webhooks/{hook['id']}", headers=api.admin)
    assert r.status_code == 404 and r.json()["errorCode"] == "not_found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://example.com/hook", "events": ["auth.failed"]}, "url"),
        ({"url": "ftp://127.0.0.1/hook", "events": ["auth.failed"]}, "url"),
        ({"url": "https://u:p@example.com/", "events": ["auth.failed"]}, "url"),
        ({"url": "https://example.com/hook", "events": []}, "events"),
        ({"url": "https://example.com/hook", "events": ["auth.maybe"]}, "events"),
        ({"url": "https://example.com/hook", "events": ["webhook.test"]}, "events"),
    ],
)
async def test_bad_registrations_are_contract_errors(
    api: Api, tenant: str, body: dict[str, Any], field: str
) -> None:
    r = await api.http.post("/api/tenants/acme/webhooks", json=body, headers=api.admin)
    assert r.status_code == 400, r.text
    assert r.json()["errorCode"] == "invalid_body"
    assert r.json().get("field", field) == field


async def test_a_tenant_key_needs_the_webhook_scope(api: Api, tenant: str) -> None:
    r = await api.http.post(
        "/api/tenants/acme/api-keys",
        json={"name": "r", "scopes": ["events:read"]},
        headers=api.admin,
    )
    reader = {"Authorization": f"Bearer {r.json()['key']}"}
    body = {"url": "https://example.com/hook", "events": ["auth.failed"]}
    r = await api.http.post("/api/tenants/acme/webhooks", json=body, headers=reader)
    assert r.status_code == 403 and r.json()["errorCode"] == "insufficient_scope"
