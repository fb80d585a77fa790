"""Every Guardian and phone answer, byte for byte: keys, their order, null vs omitted.

The views in :mod:`mfa.http.guardian_views` shape these from the flows' records;
the Guardian clients read some keys raw (transaction-state, guardian-wire §1.5)
and decide enrollment from the mere presence of ``enrollment_tx_id`` (§0), so a
key that turns from omitted into ``null`` is a change of the wire. Each body is
compared with the exact bytes Starlette renders for the expected object; only the
values that differ per run (tokens, ids, secrets) are taken from the answer.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from mfa.factors import totp
from mfa.testing import FrozenClock
from tests.conftest import Api
from tests.http.test_push_flows import new_phone, push_enroll, request_push, send
from tests.http.test_sms_flows import MOBILE, sms_enroll
from transports.outbox import Outbox, PushOutbox

pytestmark = pytest.mark.anyio

BASE = "http://mfa.test"
ALL = ["otp", "sms", "push"]


def exact(r: httpx.Response, expected: dict[str, Any]) -> None:
    """The body is exactly ``expected`` as rendered JSON (key order included)."""
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.content == json.dumps(expected, ensure_ascii=False, separators=(",", ":")).encode()


def confirmed(eid: str, methods: list[str], types: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "id": eid,
        "status": "confirmed",
        "methods": methods,
        "available_methods": methods,
        "available_authenticator_types": types,
        "name": extra.get("name"),
        "phone_number": extra.get("phone_number"),
    }


async def start(api: Api, user: str) -> httpx.Response:
    token = await api.request_token("acme", user)
    headers = {"Authorization": f"Bearer {token}"}
    return await api.http.post(
        "/api/start-flow", json={"state_transport": "polling"}, headers=headers
    )


@pytest.fixture
async def tenant(api: Api) -> str:
    return await api.tenant()


async def test_otp_enrollment_then_login(api: Api, tenant: str, clock: FrozenClock) -> None:
    r = await start(api, "alice")
    body = r.json()
    account = body["device_account"]
    exact(
        r,
        {
            "enrollment_tx_id": body["enrollment_tx_id"],
            "available_enrollment_methods": ALL,
            "available_authentication_methods": ALL,
            "factor_settings": {"phone": {"otp_length": 6}},
            "device_account": {
                "id": account["id"],
                "status": "confirmation_pending",
                "otp_secret": account["otp_secret"],
                "recovery_code": account["recovery_code"],
            },
            "transaction_token": body["transaction_token"],
        },
    )
    tx = body["transaction_token"]
    state = await api.post("/api/transaction-state", tx)
    txid = state.json()["id"]
    exact(state, {"id": txid, "state": "pending", "enrollment": None})
    code = totp.code_at(account["otp_secret"], clock())
    assert (await api.post("/api/verify-otp", tx, {"code": code})).status_code == 204
    state = await api.post("/api/transaction-state", tx)
    enrolled = confirmed(account["id"], ["otp"], ["otp", "recovery-code"])
    exact(
        state,
        {"id": txid, "state": "accepted", "enrollment": enrolled, "token": state.json()["token"]},
    )

    clock.advance(30)
    r = await start(api, "alice")
    login = r.json()
    exact(
        r,
        {
            "available_enrollment_methods": ALL,
            "available_authentication_methods": ["otp"],
            "factor_settings": {"phone": {"otp_length": 6}},
            "device_account": enrolled,
            "transaction_token": login["transaction_token"],
        },
    )
    tx = login["transaction_token"]
    state = await api.post("/api/transaction-state", tx)
    # Enrolled at start-flow: the enrollment shows from the first poll (§2.2).
    exact(state, {"id": state.json()["id"], "state": "pending", "enrollment": enrolled})
    r = await api.post("/api/recover-account", tx, {"recovery_code": account["recovery_code"]})
    exact(r, {"recovery_code": r.json()["recovery_code"]})


async def test_sms_login_shows_the_masked_number(api: Api, tenant: str, outbox: Outbox) -> None:
    await sms_enroll(api, outbox, "sue")
    r = await start(api, "sue")
    body = r.json()
    eid = body["device_account"]["id"]
    exact(
        r,
        {
            "available_enrollment_methods": ALL,
            "available_authentication_methods": ["sms"],
            "factor_settings": {"phone": {"otp_length": 6}},
            "device_account": confirmed(
                eid, ["sms"], ["sms", "recovery-code"], phone_number="XXXXXXXXXX56"
            ),
            "transaction_token": body["transaction_token"],
        },
    )
    assert MOBILE not in r.text


async def test_push_enrollment_approval_and_rejection(
    api: Api, tenant: str, push_outbox: PushOutbox, clock: FrozenClock
) -> None:
    phone = new_phone(clock, name="Pixel")
    first = await start(api, "pat")
    begun = first.json()
    r = await send(api, phone.enroll_request(begun["enrollment_tx_id"]))
    account = phone.enrolled(r)
    exact(
        r,
        {
            "id": account.enrollment_id,
            "url": BASE + "/",
            "issuer": "Acme",
            "user_id": "pat",
            "token": account.device_token,
            "totp": {
                "secret": begun["device_account"]["otp_secret"],
                "algorithm": "sha1",
                "digits": 6,
                "period": 30,
            },
        },
    )
    tx = begun["transaction_token"]
    state = await api.post("/api/transaction-state", tx)
    enrolled = confirmed(
        account.enrollment_id, ["push", "otp"], ["push", "otp", "recovery-code"], name="Pixel"
    )
    exact(state, {"id": state.json()["id"], "state": "pending", "enrollment": enrolled})

    # Without number matching the send answers 204 with no body.
    payload = await request_push(api, push_outbox, tx)
    r = await send(api, phone.resolve_request(payload, accept=False))
    assert r.status_code == 204 and not r.content
    state = await api.post("/api/transaction-state", tx)
    exact(state, {"id": state.json()["id"], "state": "rejected", "enrollment": enrolled})

    r = await api.http.put(
        "/api/tenants/acme/features/push_number_matching", json={"enabled": True}, headers=api.admin
    )
    assert r.status_code == 200, r.text
    tx = (await start(api, "pat")).json()["transaction_token"]
    r = await api.post("/api/send-push-notification", tx)
    exact(r, {"number": r.json()["number"]})


async def test_push_payloads(
    api: Api, tenant: str, push_outbox: PushOutbox, clock: FrozenClock
) -> None:
    """The payload handed to the push transport (guardian-wire §3.5), per vendor."""
    clock.set(int(clock()) + 1.123)  # forward only: Redis keeps real time
    when = datetime.fromtimestamp(clock(), UTC).isoformat(timespec="milliseconds")
    when = when.replace("+00:00", "Z")
    source = {"b": {"n": "Firefox", "v": "128.0"}, "os": {"n": "", "v": ""}}
    for service in ("GCM", "APNS"):
        phone = new_phone(clock, service=service)
        await push_enroll(api, phone, f"u-{service}")
        tx = (await start(api, f"u-{service}")).json()["transaction_token"]
        push_outbox.clear()
        headers = {"Authorization": f"Bearer {tx}", "User-Agent": "Firefox/128.0 (X11)"}
        r = await api.http.post("/api/send-push-notification", headers=headers)
        assert r.status_code == 204, r.text
        (message,) = push_outbox.messages
        p = message.payload
        assert phone.account is not None
        common = {
            "dai": phone.account.enrollment_id,
            "txtkn": p["txtkn"],
            "c": p["c"],
            "sh": BASE,
            "d": when,
        }
        if service == "GCM":
            expected = {**common, "s": json.dumps(source, separators=(",", ":"))}
        else:
            aps = {
                "category": "com.auth0.notification.authentication",
                "alert": "Approve this login?",
            }
            expected = {**common, "s": source, "aps": aps}
        assert list(p.items()) == list(expected.items())
    await api.http.put(
        "/api/tenants/acme/features/push_number_matching", json={"enabled": True}, headers=api.admin
    )
    for service, flag in (("GCM", "1"), ("APNS", True)):
        tx = (await start(api, f"u-{service}")).json()["transaction_token"]
        push_outbox.clear()
        assert (await api.post("/api/send-push-notification", tx)).status_code == 200
        payload = push_outbox.messages[0].payload
        assert list(payload)[-1] == "nm" and payload["nm"] == flag


async def test_device_account_patch(api: Api, tenant: str, clock: FrozenClock) -> None:
    phone = new_phone(clock, name="Old")
    await push_enroll(api, phone, "dee")
    assert phone.account is not None
    eid = phone.account.enrollment_id
    r = await send(api, phone.update_request(name="New", push_token="tok-2"))
    exact(
        r,
        {
            "id": eid,
            "identifier": phone.identifier,
            "name": "New",
            "push_credentials": {"service": "GCM", "token": "tok-2"},
        },
    )
    # A push service without a token: the token shows as null.
    request = phone.update_request(name="New")
    patched = httpx.Request(
        "PATCH",
        request.url,
        json={"push_credentials": {"service": "GCM"}},
        headers={"Authorization": request.headers["authorization"]},
    )
    r = await send(api, patched)
    exact(
        r,
        {
            "id": eid,
            "identifier": phone.identifier,
            "name": "New",
            "push_credentials": {"service": "GCM", "token": None},
        },
    )


async def test_device_account_without_push(api: Api, tenant: str, clock: FrozenClock) -> None:
    phone = new_phone(clock, push_token="")  # Android without a token: no push_credentials
    await push_enroll(api, phone, "ned")
    assert phone.account is not None
    r = await send(api, phone.update_request(name="Quiet"))
    exact(
        r,
        {
            "id": phone.account.enrollment_id,
            "identifier": phone.identifier,
            "name": "Quiet",
            "push_credentials": None,
        },
    )
