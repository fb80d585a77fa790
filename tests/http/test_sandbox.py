"""Sandbox tenants: nothing leaves the service, the outbox serves the messages, and
the fixed codes and magic inputs exist in sandbox tenants only."""

from __future__ import annotations

import pytest

from mfa.testing import FrozenClock
from mfa.testing_phone import Phone
from tests.conftest import Api
from tests.http.test_boundary import assert_error
from tests.http.test_sandbox_walk import BASE, FAIL, KEY, PASS, PHONE, Walk
from transports.outbox import Outbox, PushOutbox

pytestmark = pytest.mark.anyio


async def test_sms_goes_to_the_sandbox_outbox_only(
    api: Api, clock: FrozenClock, outbox: Outbox
) -> None:
    w = Walk(api, clock)
    await w.tenant()
    start = await w.start("ann")
    eid, tx = start["device_account"]["id"], start["transaction_token"]
    r = await api.post(f"/api/device-accounts/{eid}/sms-enroll", tx, {"phone_number": PHONE})
    assert r.status_code == 204, r.text
    assert outbox.messages == []  # the configured transport never saw it
    (message,) = await w.messages(PHONE)
    assert message["channel"] == "sms" and message["to"] == PHONE
    assert message["body"].startswith(message["code"]) and message["sent_at"].endswith("Z")
    # The real code works as anywhere else.
    assert (await w.verify(tx, message["code"])).status_code == 204
    state = await api.state(tx)
    assert state["state"] == "accepted" and state["enrollment"]["methods"] == ["sms"]
    # A login's code lands beside it, newest last.
    login = (await w.start("ann"))["transaction_token"]
    assert (await api.post("/api/send-sms", login)).status_code == 204
    first, second = await w.messages(PHONE)
    assert first == message and second["code"] != ""
    assert outbox.messages == []


async def test_push_goes_to_the_sandbox_outbox_and_the_phone_answers_it(
    api: Api, clock: FrozenClock, push_outbox: PushOutbox
) -> None:
    w = Walk(api, clock)
    await w.tenant()
    start = await w.start("ann")
    phone = Phone(BASE, key=KEY, clock=clock, push_token="pt-sandbox-ann")
    r = await api.http.send(phone.enroll_request(start["enrollment_tx_id"]))
    assert r.status_code == 200, r.text
    phone.enrolled(r)
    tx = (await w.start("ann"))["transaction_token"]
    assert (await w.send_push(tx)).status_code == 204
    assert push_outbox.messages == []
    (message,) = await w.messages("pt-sandbox-ann")
    assert message["channel"] == "push" and message["service"] == "GCM"
    r = await api.http.send(phone.resolve_request(message["payload"], accept=True))
    assert r.status_code == 204, r.text
    assert (await api.state(tx))["state"] == "accepted"


async def test_a_dead_magic_token_disables_the_endpoint_until_a_new_token(
    api: Api, clock: FrozenClock
) -> None:
    w = Walk(api, clock)
    await w.tenant()
    start = await w.start("ann")
    phone = Phone(BASE, key=KEY, clock=clock, push_token="sandbox-pn-endpoint-disabled")
    r = await api.http.send(phone.enroll_request(start["enrollment_tx_id"]))
    assert r.status_code == 200, r.text
    phone.enrolled(r)
    tx = (await w.start("ann"))["transaction_token"]
    assert_error(await w.send_push(tx), 410, "pn_endpoint_disabled")
    r = await api.http.get(f"/api/tenants/{w.tid}/users/ann/enrollments", headers=api.admin)
    assert r.json()[0]["device"]["push_endpoint_disabled"] is True
    r = await api.http.send(phone.update_request(push_token="pt-fresh"))
    assert r.status_code == 200, r.text
    assert (await w.send_push(tx)).status_code == 204
    assert len(await w.messages("pt-fresh")) == 1


async def test_fixed_codes_pass_and_fail_in_a_sandbox_tenant_only(
    api: Api, clock: FrozenClock
) -> None:
    sandbox = Walk(api, clock)
    await sandbox.tenant()
    tx = (await sandbox.start("ann"))["transaction_token"]
    assert_error(await sandbox.verify(tx, FAIL), 403, "invalid_otp")
    assert (await sandbox.verify(tx, PASS)).status_code == 204

    normal = await api.tenant("plain", "Plain")
    r = await api.http.get(f"/api/tenants/{normal}", headers=api.admin)
    assert r.json()["sandbox"] is False
    start = await api.start(normal, "ann")
    tx = start["transaction_token"]
    for code in (PASS, FAIL):
        assert_error(await sandbox.verify(tx, code), 403, "invalid_otp")
    # SMS codes too: the normal tenant's code is random, 000000 is just wrong.
    eid = start["device_account"]["id"]
    r = await api.post(f"/api/device-accounts/{eid}/sms-enroll", tx, {"phone_number": PHONE})
    assert r.status_code == 204, r.text
    assert_error(await sandbox.verify(tx, PASS), 403, "invalid_otp")


async def test_magic_inputs_are_ordinary_in_a_normal_tenant(
    api: Api, outbox: Outbox, push_outbox: PushOutbox, clock: FrozenClock
) -> None:
    tid = await api.tenant("plain", "Plain")
    start = await api.start(tid, "ann")
    eid, tx = start["device_account"]["id"], start["transaction_token"]
    r = await api.post(
        f"/api/device-accounts/{eid}/sms-enroll", tx, {"phone_number": "+14155550102"}
    )
    assert r.status_code == 204, r.text
    assert outbox.last_code("+14155550102") is not None
    start = await api.start(tid, "bob")
    phone = Phone(BASE, key=KEY, clock=clock, push_token="sandbox-pn-endpoint-disabled")
    assert (await api.http.send(phone.enroll_request(start["enrollment_tx_id"]))).status_code == 200
    login = (await api.start(tid, "bob"))["transaction_token"]
    assert (await api.post("/api/send-push-notification", login)).status_code == 204
    assert push_outbox.messages[-1].device_token == "sandbox-pn-endpoint-disabled"


async def test_only_a_sandbox_tenant_has_an_outbox(api: Api) -> None:
    tid = await api.tenant("plain", "Plain")
    r = await api.http.get(f"/api/tenants/{tid}/sandbox/messages/{PHONE}", headers=api.admin)
    assert_error(r, 404, "not_found")
    r = await api.http.get(f"/api/tenants/{tid}/sandbox/messages/{PHONE}")
    assert_error(r, 401, "invalid_bearer_format")


async def test_the_catalogue_serves_the_sandbox_texts(api: Api) -> None:
    r = await api.http.get("/api/errors")
    entries = {e["code"]: e for e in r.json()}
    assert "+14155550101" in entries["invalid_phone_number"]["sandbox"]
    assert all(e["sandbox"] for e in entries.values())
