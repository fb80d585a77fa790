"""SMS through the real Twilio SDK, against the local stub that speaks Twilio's API."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from mfa import MFAService, Settings, create_app
from mfa.storage.protocols import EphemeralStore
from tests.conftest import Api
from tests.http.test_boundary import assert_error
from tests.stubs.twilio_stub import LANDLINE, SCRIPTED, SERVER_ERROR, TwilioStub

pytestmark = pytest.mark.anyio

PHONE = "+447911123456"


@pytest.fixture
async def twilio_api(
    settings: Settings, ephemeral: EphemeralStore, twilio_stub: TwilioStub
) -> AsyncIterator[Api]:
    service = MFAService(settings.replace(**twilio_stub.settings_overrides()), ephemeral=ephemeral)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(service=service)), base_url="http://t"
        ) as http:
            api = Api(http, service)
            await api.tenant()
            yield api
    finally:
        await service.close()


def code_from(stub: TwilioStub, to: str) -> str:
    match = re.match(r"^(\d+) ", stub.sent_to(to)[-1].body)
    assert match
    return match.group(1)


async def test_sms_enrollment_and_login_over_twilio(
    twilio_api: Api, twilio_stub: TwilioStub
) -> None:
    api = twilio_api
    start = await api.start("acme", "alice")
    tx, eid = start["transaction_token"], start["device_account"]["id"]
    r = await api.post(f"/api/device-accounts/{eid}/sms-enroll", tx, {"phone_number": PHONE})
    assert r.status_code == 204, r.text
    [sent] = twilio_stub.sent
    assert sent.from_ == twilio_stub.from_ and sent.account_sid == twilio_stub.account_sid
    assert (
        await api.post("/api/verify-otp", tx, {"code": code_from(twilio_stub, PHONE)})
    ).status_code == 204
    login = (await api.start("acme", "alice"))["transaction_token"]
    assert (await api.post("/api/send-sms", login)).status_code == 204
    r = await api.post("/api/verify-otp", login, {"code": code_from(twilio_stub, PHONE)})
    assert r.status_code == 204
    assert (await api.state(login))["state"] == "accepted"


async def test_provider_rejects_the_number(twilio_api: Api, twilio_stub: TwilioStub) -> None:
    api = twilio_api
    # A number libphonenumber accepts but the provider refuses as a landline.
    twilio_stub.scripted[PHONE] = SCRIPTED[LANDLINE]
    r = await api.http.put(
        "/api/tenants/acme/quotas",
        json={"sms_per_user": {"limit": 1, "window_seconds": 60}},
        headers=api.admin,
    )
    assert r.status_code == 200
    start = await api.start("acme", "bob")
    tx, eid = start["transaction_token"], start["device_account"]["id"]
    path = f"/api/device-accounts/{eid}/sms-enroll"
    for _ in range(3):  # refunded each time: the quota of 1 is never used up
        assert_error(await api.post(path, tx, {"phone_number": PHONE}), 400, "invalid_phone_number")
    del twilio_stub.scripted[PHONE]
    assert (await api.post(path, tx, {"phone_number": PHONE})).status_code == 204


async def test_provider_failure_is_error_sending_sms(
    twilio_api: Api, twilio_stub: TwilioStub
) -> None:
    api = twilio_api
    twilio_stub.scripted[PHONE] = SCRIPTED[SERVER_ERROR]
    start = await api.start("acme", "carol")
    tx, eid = start["transaction_token"], start["device_account"]["id"]
    r = await api.post(f"/api/device-accounts/{eid}/sms-enroll", tx, {"phone_number": PHONE})
    body = assert_error(r, 502, "error_sending_sms")
    assert PHONE not in body["message"]


async def test_wrong_credentials_are_logged_for_the_operator(
    settings: Settings, twilio_stub: TwilioStub, caplog: pytest.LogCaptureFixture
) -> None:
    overrides = {**twilio_stub.settings_overrides(), "twilio_auth_token": "wrong"}
    service = MFAService(settings.replace(**overrides))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(service=service)), base_url="http://t"
        ) as http:
            api = Api(http, service)
            await api.tenant()
            start = await api.start("acme", "dan")
            tx, eid = start["transaction_token"], start["device_account"]["id"]
            r = await api.post(
                f"/api/device-accounts/{eid}/sms-enroll", tx, {"phone_number": PHONE}
            )
            assert_error(r, 502, "error_sending_sms")
    finally:
        await service.close()
    errors = [r for r in caplog.records if r.levelname == "ERROR" and "twilio" in r.name]
    assert len(errors) == 1
    assert "wrong" not in errors[0].getMessage() and PHONE not in errors[0].getMessage()
