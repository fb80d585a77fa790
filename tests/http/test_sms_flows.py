"""SMS enrollment and login, codes, quotas in action, provider failures."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from mfa import MFAService
from mfa.errors import ErrorSendingSms, InvalidPhoneNumber
from mfa.testing import FrozenClock
from tests.conftest import Api
from tests.http.test_boundary import assert_error
from transports.outbox import Outbox

pytestmark = pytest.mark.anyio

MOBILE = "+447911123456"  # UK mobile
US = "+14155552671"  # North America: fixed-line-or-mobile, accepted


@pytest.fixture
async def tenant(api: Api) -> str:
    return await api.tenant()


async def set_quota(api: Api, name: str, limit: int, window: int = 3600) -> None:
    r = await api.http.put(
        "/api/tenants/acme/quotas",
        json={name: {"limit": limit, "window_seconds": window}},
        headers=api.admin,
    )
    assert r.status_code == 200, r.text


async def sms_enroll(api: Api, outbox: Outbox, user: str, phone: str = MOBILE) -> dict[str, Any]:
    start = await api.start("acme", user)
    tx = start["transaction_token"]
    eid = start["device_account"]["id"]
    r = await api.post(f"/api/device-accounts/{eid}/sms-enroll", tx, {"phone_number": phone})
    assert r.status_code == 204, r.text
    code = outbox.last_code(phone)
    assert code is not None
    r = await api.post("/api/verify-otp", tx, {"type": "manual_input", "code": code})
    assert r.status_code == 204, r.text
    return start


async def test_sms_enrollment_and_login(
    api: Api, tenant: str, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    start = await sms_enroll(api, outbox, "alice")
    state = await api.state(start["transaction_token"])
    assert state["state"] == "accepted"
    assert state["enrollment"]["methods"] == ["sms"]
    assert state["enrollment"]["phone_number"] == "XXXXXXXXXX56"
    assert outbox.messages[-1].body.startswith(outbox.messages[-1].code)

    login = await api.start("acme", "alice")
    assert login["device_account"]["phone_number"] == "XXXXXXXXXX56"
    assert login["available_authentication_methods"] == ["sms"]
    tx = login["transaction_token"]
    assert (await api.post("/api/send-sms", tx)).status_code == 204
    code = outbox.last_code(MOBILE)
    assert code is not None
    assert (await api.post("/api/verify-otp", tx, {"code": code})).status_code == 204
    state = await api.state(tx)
    assert api.service.verify_result(state["token"]).method == "sms"
    # Neither the number nor a code reached the logs.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert MOBILE not in logged and MOBILE[1:] not in logged
    for message in outbox.messages:
        assert message.code not in logged


async def test_code_length_from_tenant_settings(api: Api, tenant: str, outbox: Outbox) -> None:
    r = await api.http.put(
        "/api/tenants/acme/sms-settings", json={"otp_length": 8}, headers=api.admin
    )
    assert r.status_code == 200
    start = await api.start("acme", "bob")
    assert start["factor_settings"]["phone"]["otp_length"] == 8
    tx, eid = start["transaction_token"], start["device_account"]["id"]
    await api.post(f"/api/device-accounts/{eid}/sms-enroll", tx, {"phone_number": US})
    code = outbox.last_code(US)
    assert code is not None and len(code) == 8
    assert_error(
        await api.post("/api/verify-otp", tx, {"code": code[:6]}), 400, "invalid_otp_format"
    )
    assert (await api.post("/api/verify-otp", tx, {"code": code})).status_code == 204


async def test_resend_replaces_code_and_codes_expire(
    api: Api, tenant: str, outbox: Outbox, clock: FrozenClock
) -> None:
    await sms_enroll(api, outbox, "carol")
    tx = (await api.start("acme", "carol"))["transaction_token"]
    await api.post("/api/send-sms", tx)
    first = outbox.last_code()
    await api.post("/api/send-sms", tx)
    second = outbox.last_code()
    assert first and second
    if first != second:
        assert_error(await api.post("/api/verify-otp", tx, {"code": first}), 403, "invalid_otp")
    clock.advance(api.service.settings.sms_code_ttl_seconds + 1)
    assert_error(await api.post("/api/verify-otp", tx, {"code": second}), 403, "invalid_otp")
    await api.post("/api/send-sms", tx)
    third = outbox.last_code()
    assert (await api.post("/api/verify-otp", tx, {"code": third})).status_code == 204


async def test_sms_code_attempts_are_bounded(api: Api, tenant: str, outbox: Outbox) -> None:
    await sms_enroll(api, outbox, "dora")
    tx = (await api.start("acme", "dora"))["transaction_token"]
    await api.post("/api/send-sms", tx)
    code = outbox.last_code()
    assert code is not None
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(api.service.settings.otp_attempts_per_transaction):
        assert_error(await api.post("/api/verify-otp", tx, {"code": wrong}), 403, "invalid_otp")
    r = await api.post("/api/verify-otp", tx, {"code": code})
    assert_error(r, 404, "login_transaction_not_found")


@pytest.mark.parametrize(
    ("phone", "code"),
    [
        ("4155552671", "invalid_phone_number"),  # no country code
        ("+1415", "invalid_phone_number"),
        ("+442079460000", "invalid_phone_number"),  # UK landline
        ("not a number", "invalid_phone_number"),
        ("", "invalid_phone_number"),
    ],
)
async def test_phone_validation(
    api: Api, tenant: str, outbox: Outbox, phone: str, code: str
) -> None:
    start = await api.start("acme", "eve")
    tx, eid = start["transaction_token"], start["device_account"]["id"]
    r = await api.post(f"/api/device-accounts/{eid}/sms-enroll", tx, {"phone_number": phone})
    assert_error(r, 400, code)
    assert len(outbox) == 0


async def test_sms_enroll_errors(api: Api, tenant: str, outbox: Outbox) -> None:
    start = await api.start("acme", "fay")
    tx, eid = start["transaction_token"], start["device_account"]["id"]
    body = assert_error(
        await api.post(f"/api/device-accounts/{eid}/sms-enroll", tx, {}), 400, "field_required"
    )
    assert body["field"] == "phoneNumber"
    r = await api.post("/api/device-accounts/dev_other/sms-enroll", tx, {"phone_number": MOBILE})
    assert_error(r, 400, "invalid_enrollment")
    assert_error(await api.post("/api/send-sms", tx), 403, "not_enrolled")
    await api.http.put("/api/tenants/acme/factors/sms", json={"enabled": False}, headers=api.admin)
    r = await api.post(f"/api/device-accounts/{eid}/sms-enroll", tx, {"phone_number": MOBILE})
    assert assert_error(r, 403, "enrollment_method_disabled")["method"] == "sms"


async def test_send_sms_when_disabled_or_not_enrolled_with_sms(
    api: Api, tenant: str, outbox: Outbox, clock: FrozenClock
) -> None:
    await sms_enroll(api, outbox, "gus")
    tx = (await api.start("acme", "gus"))["transaction_token"]
    await api.http.put("/api/tenants/acme/factors/sms", json={"enabled": False}, headers=api.admin)
    assert (
        assert_error(await api.post("/api/send-sms", tx), 403, "auth_method_disabled")["method"]
        == "sms"
    )
    await api.http.put("/api/tenants/acme/factors/sms", json={"enabled": True}, headers=api.admin)
    from tests.http.test_otp_flows import enroll

    await enroll(api, clock, "otp-user")
    tx = (await api.start("acme", "otp-user"))["transaction_token"]
    assert_error(await api.post("/api/send-sms", tx), 403, "not_enrolled")
    # An SMS-enrolled login tx cannot enroll again.
    login = await api.start("acme", "gus")
    r = await api.post(
        f"/api/device-accounts/{login['device_account']['id']}/sms-enroll",
        login["transaction_token"],
        {"phone_number": MOBILE},
    )
    assert_error(r, 409, "already_enrolled")


async def test_user_and_tenant_quotas(api: Api, tenant: str, outbox: Outbox) -> None:
    # Set before the first send: a changed window applies from the next window on.
    await set_quota(api, "sms_per_user", 3, 600)
    await sms_enroll(api, outbox, "hal")  # uses one
    tx = (await api.start("acme", "hal"))["transaction_token"]
    assert (await api.post("/api/send-sms", tx)).status_code == 204
    assert (await api.post("/api/send-sms", tx)).status_code == 204
    r = await api.post("/api/send-sms", tx)
    assert_error(r, 429, "too_many_sms")
    assert 1 <= int(r.headers["retry-after"]) <= 600
    await set_quota(api, "sms_per_tenant", 4, 600)  # 3 used so far by the tenant
    start = await api.start("acme", "ida")
    eid = start["device_account"]["id"]
    path = f"/api/device-accounts/{eid}/sms-enroll"
    assert (
        await api.post(path, start["transaction_token"], {"phone_number": US})
    ).status_code == 204
    r = await api.post(path, start["transaction_token"], {"phone_number": US})
    assert_error(r, 429, "too_many_sms_per_tenant")
    assert "retry-after" in r.headers
    assert len(outbox) == 4


async def test_provider_failures_and_refund_policy(api: Api, tenant: str, outbox: Outbox) -> None:
    await set_quota(api, "sms_per_user", 2, 600)
    start = await api.start("acme", "jo")
    tx, eid = start["transaction_token"], start["device_account"]["id"]
    path = f"/api/device-accounts/{eid}/sms-enroll"
    outbox.fail_with = InvalidPhoneNumber
    for _ in range(3):  # refused numbers give the unit back
        assert_error(
            await api.post(path, tx, {"phone_number": MOBILE}), 400, "invalid_phone_number"
        )
    outbox.fail_with = ErrorSendingSms
    assert_error(await api.post(path, tx, {"phone_number": MOBILE}), 502, "error_sending_sms")
    outbox.fail_with = None
    assert (await api.post(path, tx, {"phone_number": MOBILE})).status_code == 204
    # Two units used: one by the ambiguous failure, one by the delivered send.
    assert_error(await api.post(path, tx, {"phone_number": MOBILE}), 429, "too_many_sms")


async def test_concurrent_sends_never_exceed_the_user_quota(
    api: Api, tenant: str, outbox: Outbox
) -> None:
    await sms_enroll(api, outbox, "kim")
    await set_quota(api, "sms_per_user", 26, 3600)  # 25 left after the enrollment
    outbox.clear()
    txs = [(await api.start("acme", "kim"))["transaction_token"] for _ in range(10)]
    # Four times the quota at once (see the push test: in process, each answer
    # writes its event to SQLite first; hundreds queued could outlast the deadline).
    results = await asyncio.gather(
        *(api.post("/api/send-sms", txs[i % len(txs)]) for i in range(100))
    )
    codes = [r.status_code for r in results]
    assert codes.count(204) == 25
    assert len(outbox) == 25
    refused = [r.json()["errorCode"] for r in results if r.status_code != 204]
    assert refused == ["too_many_sms"] * 75


async def test_concurrent_sends_never_exceed_the_tenant_quota(
    api: Api, tenant: str, outbox: Outbox, service: MFAService
) -> None:
    users = [f"user-{i}" for i in range(40)]
    for user in users:
        await sms_enroll(api, outbox, user, phone=US)
    await set_quota(api, "sms_per_tenant", 40 + 30, 3600)  # 30 left
    outbox.clear()
    txs = [(await api.start("acme", u))["transaction_token"] for u in users]
    # Four times what is left, at once (not more: see the user quota's test).
    results = await asyncio.gather(*(api.post("/api/send-sms", txs[i % 40]) for i in range(120)))
    assert [r.status_code for r in results].count(204) == 30
    assert len(outbox) == 30
    refused = {r.json()["errorCode"] for r in results if r.status_code != 204}
    # Per user: 1 (enrollment) + 3 sends (120/40), under the user quota of 10, so
    # every refusal is the tenant's.
    assert refused == {"too_many_sms_per_tenant"}
