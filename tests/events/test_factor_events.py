"""Events of the SMS and push factors: a quota refusal, a push login approved and
rejected, a dead push endpoint, the phone's own updates and removal. The phone
number and the push token never appear in them."""

from __future__ import annotations

import json

import pytest

from mfa.testing import FrozenClock
from tests.conftest import Api
from tests.events.conftest import trail
from tests.http.test_boundary import assert_error
from tests.http.test_push_flows import dead_token, new_phone, push_enroll, request_push, send
from tests.http.test_sms_flows import MOBILE, set_quota, sms_enroll
from transports.outbox import Outbox, PushOutbox

pytestmark = pytest.mark.anyio


@pytest.fixture
async def tenant(api: Api) -> str:
    return await api.tenant()


async def test_sms_quota_refusal_names_the_quota(api: Api, tenant: str, outbox: Outbox) -> None:
    await set_quota(api, "sms_per_user", 1, 600)
    await sms_enroll(api, outbox, "hal")
    tx = (await api.start("acme", "hal"))["transaction_token"]
    assert_error(await api.post("/api/send-sms", tx), 429, "too_many_sms")
    (refused,) = await trail(api, tenant, type="quota.refused")
    assert refused["error_code"] == "too_many_sms" and refused["method"] == "sms"
    assert refused["user_id"] == "hal" and refused["outcome"] == "refused"
    confirmed = (await trail(api, tenant, type="enrollment.confirmed"))[0]
    assert confirmed["method"] == "sms"
    text = json.dumps(await trail(api, tenant))
    assert MOBILE not in text and MOBILE[-4:] + '"' not in text


async def test_push_events(
    api: Api, tenant: str, push_outbox: PushOutbox, clock: FrozenClock
) -> None:
    phone = new_phone(clock, service="APNS")
    await push_enroll(api, phone, "bob")
    login = await api.start("acme", "bob")
    payload = await request_push(api, push_outbox, login["transaction_token"])
    r = await send(api, phone.resolve_request(payload, accept=True))
    assert r.status_code == 204, r.text
    login = await api.start("acme", "bob")
    payload = await request_push(api, push_outbox, login["transaction_token"])
    r = await send(api, phone.resolve_request(payload, accept=False, reason="not me"))
    assert r.status_code == 204, r.text
    tx = (await api.start("acme", "bob"))["transaction_token"]
    push_outbox.fail_with = dead_token
    assert_error(await api.post("/api/send-push-notification", tx), 410, "pn_endpoint_disabled")
    push_outbox.fail_with = None
    r = await send(api, phone.update_request(push_token="fresh-token"))
    assert r.status_code == 200, r.text
    r = await send(api, phone.delete_request())
    assert r.status_code == 204, r.text

    events = await trail(api, tenant)
    # Arrival order: on Redis the stream's events land when the relay moves them,
    # after events written to the table directly.
    kinds = sorted((e["type"], e["method"]) for e in events if e["type"] != "enrollment.started")
    assert kinds == sorted(
        [
            ("enrollment.confirmed", "push"),
            ("auth.succeeded", "push"),
            ("auth.rejected", "push"),
            ("device.disabled", "push"),
            ("enrollment.updated", "push"),
            ("enrollment.deleted", "push"),
        ]
    )
    by_type = {e["type"]: e for e in events}
    assert by_type["device.disabled"]["error_code"] == "pn_endpoint_disabled"
    assert by_type["enrollment.updated"]["data"] == {
        "changed": ["push_service", "push_token", "status"]
    }
    assert by_type["auth.rejected"]["data"] == {}  # the phone's free-text reason stays out
    text = json.dumps(events)
    assert "fresh-token" not in text and "not me" not in text
    assert phone.push_token not in text


async def test_each_quota_refusal_is_recorded_with_its_quota(
    api: Api, tenant: str, outbox: Outbox, push_outbox: PushOutbox, clock: FrozenClock
) -> None:
    """One ``quota.refused`` event per refused send, its error code naming the quota
    that refused (the user's or the tenant's, SMS or push, or the unanswered-push
    bound), with the transaction's user and enrollment and the request's metadata."""
    await set_quota(api, "sms_per_tenant", 1)
    sms = await sms_enroll(api, outbox, "sam")  # the tenant's one SMS
    tx = (await api.start("acme", "sam"))["transaction_token"]
    assert_error(await api.post("/api/send-sms", tx), 429, "too_many_sms_per_tenant")
    phone = new_phone(clock)
    push = await push_enroll(api, phone, "pia")
    await set_quota(api, "pn_unanswered_per_user", 1)
    await request_push(api, push_outbox, (await api.start("acme", "pia"))["transaction_token"])
    tx = (await api.start("acme", "pia"))["transaction_token"]
    assert_error(await api.post("/api/send-push-notification", tx), 429, "too_many_pn")
    await set_quota(api, "pn_unanswered_per_user", 0)  # off: the push quotas speak
    await set_quota(api, "pn_per_user", 1)
    assert_error(await api.post("/api/send-push-notification", tx), 429, "too_many_pn")
    await set_quota(api, "pn_per_user", 5)
    await set_quota(api, "pn_per_tenant", 1)
    assert_error(await api.post("/api/send-push-notification", tx), 429, "too_many_pn_per_tenant")

    refused = await trail(api, tenant, type="quota.refused")
    sms_id, push_id = sms["device_account"]["id"], push["device_account"]["id"]
    expected = [
        ("sam", sms_id, "sms", "too_many_sms_per_tenant"),
        ("pia", push_id, "push", "too_many_pn"),
        ("pia", push_id, "push", "too_many_pn"),
        ("pia", push_id, "push", "too_many_pn_per_tenant"),
    ]
    got = [(e["user_id"], e["enrollment_id"], e["method"], e["error_code"]) for e in refused]
    assert got == expected
    for event in refused:
        assert event["outcome"] == "refused" and event["data"] == {}
        assert event["tenant_id"] == tenant and event["request_id"]
        assert event["time"] == refused[0]["time"]  # the frozen clock: stamped, not absent
    assert len({e["id"] for e in refused}) == 4
