"""Push: the phone enrolls from the browser's ticket, approves or rejects logins.

The phone is :class:`mfa.testing_phone.Phone` (what the Guardian SDKs send); the
push transport is the in-memory :class:`~transports.outbox.PushOutbox`. Every
test runs on the in-process store and on real Redis (``api`` fixture).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from mfa import MFAService
from mfa.delivery import PushMessage
from mfa.errors import (
    ErrorSendingPushNotification,
    PnEndpointDisabled,
    PushNotificationWrongCredentials,
)
from mfa.testing import FrozenClock
from mfa.testing_phone import Phone
from tests.conftest import Api
from tests.http.test_boundary import assert_error
from tests.http.test_sms_flows import set_quota
from transports.outbox import PushOutbox

pytestmark = pytest.mark.anyio

BASE = "http://mfa.test"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # one keygen per run


@pytest.fixture
async def tenant(api: Api) -> str:
    return await api.tenant()


def new_phone(clock: FrozenClock, **kw: Any) -> Phone:
    return Phone(BASE, key=kw.pop("key", KEY), clock=clock, **kw)


async def send(api: Api, request: httpx.Request) -> httpx.Response:
    return await api.http.send(request)


async def push_enroll(api: Api, phone: Phone, user: str) -> dict[str, Any]:
    """Start-flow, then the phone enrolls from the enrollment_tx_id; returns start-flow."""
    start = await api.start("acme", user)
    assert "push" in start["available_enrollment_methods"]
    r = await send(api, phone.enroll_request(start["enrollment_tx_id"]))
    assert r.status_code == 200, r.text
    phone.enrolled(r)
    return start


async def request_push(api: Api, outbox: PushOutbox, tx: str) -> dict[str, Any]:
    outbox.clear()
    r = await api.post("/api/send-push-notification", tx)
    assert r.status_code == 204, r.text
    (message,) = outbox.messages
    return message.payload


async def test_enroll_then_approve_on_the_same_transaction(
    api: Api, tenant: str, push_outbox: PushOutbox, clock: FrozenClock
) -> None:
    phone = new_phone(clock, name="Pixel")
    start = await push_enroll(api, phone, "alice")
    account = phone.account
    assert account is not None
    assert account.enrollment_id == start["device_account"]["id"]
    assert account.user_id == "alice" and account.issuer == "Acme"
    assert account.url == BASE + "/"
    assert account.totp_secret == start["device_account"]["otp_secret"]
    tx = start["transaction_token"]
    state = await api.state(tx)
    # The enrollment shows, and the transaction stays pending: a push login comes next.
    assert state["state"] == "pending"
    assert state["enrollment"]["name"] == "Pixel"
    assert state["enrollment"]["available_authenticator_types"] == ["push", "otp", "recovery-code"]

    payload = await request_push(api, push_outbox, tx)
    message = push_outbox.messages[0]
    assert (message.service, message.device_token) == ("GCM", phone.push_token)
    assert payload["dai"] == account.enrollment_id
    # The phone's token is its own: it cannot poll for the result, and the browser's
    # token cannot answer the push.
    assert payload["txtkn"] != tx
    assert_error(await api.post("/api/transaction-state", payload["txtkn"]), 401, "invalid_token")
    browser = phone.resolve_request({**payload, "txtkn": tx}, accept=True)
    assert_error(await send(api, browser), 401, "invalid_token")
    assert payload["sh"] == BASE and isinstance(payload["s"], str)  # FCM: strings only
    assert payload["d"].endswith("Z") and len(payload["d"]) == 24
    r = await send(api, phone.resolve_request(payload, accept=True))
    assert r.status_code == 204, r.text
    state = await api.state(tx)
    assert state["state"] == "accepted"
    result = api.service.verify_result(state["token"], user_id="alice", txid=state["id"])
    assert result.method == "push"


async def test_login_approved_and_rejected(
    api: Api, tenant: str, push_outbox: PushOutbox, clock: FrozenClock, service: MFAService
) -> None:
    phone = new_phone(clock, service="APNS")
    await push_enroll(api, phone, "bob")
    login = await api.start("acme", "bob")
    assert login["device_account"]["available_authenticator_types"][0] == "push"
    assert "push" in login["available_authentication_methods"]
    payload = await request_push(api, push_outbox, login["transaction_token"])
    assert payload["aps"]["category"] == "com.auth0.notification.authentication"
    assert isinstance(payload["s"], dict)  # APNs: objects
    # Without /appliance-mfa in the audience works too (a proxy may strip it).
    answer = phone.answer(payload, accept=True, audience=BASE + "/api/resolve-transaction")
    r = await send(api, phone.resolve_request(payload, accept=True, challenge_response=answer))
    assert r.status_code == 204, r.text
    assert (await api.state(login["transaction_token"]))["state"] == "accepted"

    login = await api.start("acme", "bob")
    tx = login["transaction_token"]
    payload = await request_push(api, push_outbox, tx)
    r = await send(api, phone.resolve_request(payload, accept=False, reason="not me"))
    assert r.status_code == 204, r.text
    state = await api.state(tx)
    assert state["state"] == "rejected" and "token" not in state
    stored = await service.ephemeral.get_transaction("acme", state["id"])
    assert stored is not None and stored.data["push_reject_reason"] == "not me"
    # The rejection is final: an approval after it changes nothing.
    r = await send(api, phone.resolve_request(payload, accept=True))
    assert_error(r, 404, "login_transaction_not_found")
    assert (await api.state(tx))["state"] == "rejected"


async def test_push_enrollment_also_enrolls_totp(api: Api, tenant: str, clock: FrozenClock) -> None:
    import pyotp

    phone = new_phone(clock)
    await push_enroll(api, phone, "carol")
    assert phone.account is not None
    login = await api.start("acme", "carol")
    code = pyotp.TOTP(phone.account.totp_secret).at(clock())
    r = await api.post("/api/verify-otp", login["transaction_token"], {"code": code})
    assert r.status_code == 204, r.text
    state = await api.state(login["transaction_token"])
    assert api.service.verify_result(state["token"]).method == "otp"


async def test_enroll_ticket_unknown_used_or_expired(
    api: Api, tenant: str, clock: FrozenClock
) -> None:
    phone = new_phone(clock)
    r = await send(api, phone.enroll_request("etx_nonexistent"))
    assert_error(r, 404, "enrollment_transaction_not_found")
    start = await api.start("acme", "dave")
    assert (await send(api, phone.enroll_request(start["enrollment_tx_id"]))).status_code == 200
    again = await send(api, new_phone(clock).enroll_request(start["enrollment_tx_id"]))
    assert_error(again, 404, "enrollment_transaction_not_found")
    # Expired: the transaction (and its ticket) outlived.
    late = await api.start("acme", "erin")
    clock.advance(api.service.settings.transaction_ttl_seconds + 1)
    r = await send(api, new_phone(clock).enroll_request(late["enrollment_tx_id"]))
    assert_error(r, 404, "enrollment_transaction_not_found")
    # Not a Ticket at all: the same answer, at the root path too.
    request = new_phone(clock).enroll_request("unused")
    r = await api.http.post(
        "/api/enroll",
        content=request.content,
        headers={"Authorization": "Bearer x", "Content-Type": "application/json"},
    )
    assert_error(r, 404, "enrollment_transaction_not_found")


async def test_two_phones_racing_on_one_ticket(api: Api, tenant: str, clock: FrozenClock) -> None:
    start = await api.start("acme", "frank")
    phones = [new_phone(clock), new_phone(clock)]
    results = await asyncio.gather(
        *(send(api, p.enroll_request(start["enrollment_tx_id"])) for p in phones)
    )
    assert sorted(r.status_code for r in results) == [200, 409]
    loser = next(r for r in results if r.status_code == 409)
    assert_error(loser, 409, "enrollment_conflict")
    winner = phones[[r.status_code for r in results].index(200)]
    state = await api.state(start["transaction_token"])
    assert state["enrollment"]["name"] == winner.name


async def test_enroll_refuses_bad_keys(api: Api, tenant: str, clock: FrozenClock) -> None:
    start = await api.start("acme", "gina")
    weak = new_phone(clock, key=rsa.generate_private_key(public_exponent=65537, key_size=1024))
    r = await send(api, weak.enroll_request(start["enrollment_tx_id"]))
    assert_error(r, 400, "invalid_body")
    assert "2048" in r.json()["message"]
    request = new_phone(clock).enroll_request(start["enrollment_tx_id"])
    bad = {
        "identifier": "x",
        "public_key": {"kty": "RSA", "n": "!!", "e": "AQAB"},
    }
    auth = {"Authorization": request.headers["Authorization"]}
    r = await api.http.post(str(request.url), json=bad, headers=auth)
    assert_error(r, 400, "invalid_body")
    # Nothing was stored: the ticket still enrolls a good phone (whose n has a leading 0).
    good = new_phone(clock)
    assert good.public_jwk()["n"].startswith("A")  # base64url of a 0x00 first byte
    assert (await send(api, good.enroll_request(start["enrollment_tx_id"]))).status_code == 200


async def test_forged_answers_are_invalid_token(
    api: Api, tenant: str, push_outbox: PushOutbox, clock: FrozenClock
) -> None:
    phone = new_phone(clock)
    await push_enroll(api, phone, "hank")
    login = await api.start("acme", "hank")
    tx = login["transaction_token"]
    # No challenge sent yet.
    old = await request_push(api, push_outbox, tx)
    payload = await request_push(api, push_outbox, tx)  # a re-send replaces the challenge
    assert payload["c"] != old["c"]
    other = Phone(BASE, key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    other.identifier = phone.identifier
    forged = [
        phone.resolve_request(old, accept=True),  # the replaced challenge
        other.resolve_request(payload, accept=True),  # another key
        phone.resolve_request(payload, accept=True, audience=BASE + "/api/verify-otp"),
        phone.resolve_request(payload, accept=True, lifetime=-1),  # expired
        phone.resolve_request(payload, accept=True, lifetime=86400),  # lives too long
    ]
    wrong_iss = new_phone(clock, identifier="someone-else")
    forged.append(wrong_iss.resolve_request(payload, accept=True))
    for request in forged:
        assert_error(await send(api, request), 401, "invalid_token")
    assert (await api.state(tx))["state"] == "pending"
    r = await send(api, phone.resolve_request(payload, accept=True))
    assert r.status_code == 204, r.text
    # The same answer again: the challenge resolved once.
    r = await send(api, phone.resolve_request(payload, accept=True))
    assert r.status_code != 204


async def test_two_resolves_of_one_challenge_accept_once(
    api: Api, tenant: str, push_outbox: PushOutbox, clock: FrozenClock
) -> None:
    phone = new_phone(clock)
    await push_enroll(api, phone, "ivan")
    login = await api.start("acme", "ivan")
    payload = await request_push(api, push_outbox, login["transaction_token"])
    answer = phone.answer(payload, accept=True)
    results = await asyncio.gather(
        *(
            send(api, phone.resolve_request(payload, accept=True, challenge_response=answer))
            for _ in range(20)
        )
    )
    assert [r.status_code for r in results].count(204) == 1
    assert all(r.status_code in (204, 404) for r in results)


async def test_concurrent_sends_never_exceed_the_user_quota(
    api: Api, tenant: str, push_outbox: PushOutbox, clock: FrozenClock
) -> None:
    await push_enroll(api, new_phone(clock), "judy")
    await set_quota(api, "pn_per_user", 25)
    txs = [(await api.start("acme", "judy"))["transaction_token"] for _ in range(3)]
    push_outbox.clear()
    # Four times the quota at once. (Not more: in process, each answer first writes
    # its event to the SQLite file, and a few hundred queued writes could outlast
    # the 2 s backend deadline on a slow machine, which is no quota question.)
    results = await asyncio.gather(
        *(api.post("/api/send-push-notification", txs[i % 3]) for i in range(100))
    )
    assert [r.status_code for r in results].count(204) == 25
    assert len(push_outbox) == 25
    refused = [r for r in results if r.status_code != 204]
    assert {r.json()["errorCode"] for r in refused} == {"too_many_pn"}
    assert all(int(r.headers["retry-after"]) > 0 for r in refused)


async def test_tenant_quota_is_named(
    api: Api, tenant: str, push_outbox: PushOutbox, clock: FrozenClock
) -> None:
    for user in ("ken", "lea"):
        await push_enroll(api, new_phone(clock), user)
    await set_quota(api, "pn_per_tenant", 1)
    first = await api.start("acme", "ken")
    assert (
        await api.post("/api/send-push-notification", first["transaction_token"])
    ).status_code == 204
    second = await api.start("acme", "lea")
    r = await api.post("/api/send-push-notification", second["transaction_token"])
    assert_error(r, 429, "too_many_pn_per_tenant")
    assert "retry-after" in r.headers


def dead_token(message: PushMessage) -> PnEndpointDisabled:
    error = PnEndpointDisabled("APNs said the token is gone.")
    error.reason = "Unregistered"  # type: ignore[attr-defined]  # as the vendor transports do
    return error


async def test_dead_token_disables_the_endpoint_until_a_new_token(
    api: Api, tenant: str, push_outbox: PushOutbox, clock: FrozenClock
) -> None:
    phone = new_phone(clock)
    await push_enroll(api, phone, "mia")
    await set_quota(api, "pn_per_user", 1)
    tx = (await api.start("acme", "mia"))["transaction_token"]
    push_outbox.fail_with = dead_token
    r = await api.post("/api/send-push-notification", tx)
    assert_error(r, 410, "pn_endpoint_disabled")
    view = (
        await api.http.get("/api/tenants/acme/users/mia/enrollments", headers=api.admin)
    ).json()[0]
    assert view["status"] == "pn_disabled"
    device = view["device"]
    assert device["push_endpoint_disabled"] is True
    assert device["pn_disabled_reason"] == "Unregistered" and device["pn_disabled_at"]
    assert phone.push_token not in str(view)  # never the push token
    # Disabled: refused before any send or quota unit.
    push_outbox.fail_with = None
    assert_error(await api.post("/api/send-push-notification", tx), 410, "pn_endpoint_disabled")
    assert len(push_outbox) == 0
    # The phone registers a new token: the endpoint works again, and the unit the
    # dead send took was given back (the quota is 1).
    r = await send(api, phone.update_request(push_token="fresh-token"))
    assert r.status_code == 200, r.text
    assert r.json()["push_credentials"] == {"service": "GCM", "token": "fresh-token"}
    assert (await api.post("/api/send-push-notification", tx)).status_code == 204
    assert push_outbox.messages[-1].device_token == "fresh-token"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (PushNotificationWrongCredentials, "push_notification_wrong_credentials"),
        (ErrorSendingPushNotification, "error_sending_push_notification"),
    ],
)
async def test_provider_failures_keep_the_unit(
    api: Api, tenant: str, push_outbox: PushOutbox, clock: FrozenClock, error: Any, code: str
) -> None:
    await push_enroll(api, new_phone(clock), "ned")
    await set_quota(api, "pn_per_user", 1)
    tx = (await api.start("acme", "ned"))["transaction_token"]
    push_outbox.fail_with = error
    assert_error(await api.post("/api/send-push-notification", tx), 502, code)
    push_outbox.fail_with = None
    # The push may have gone out: the unit is spent.
    assert_error(await api.post("/api/send-push-notification", tx), 429, "too_many_pn")


async def test_approval_refused_once_push_is_switched_off(
    api: Api, tenant: str, push_outbox: PushOutbox, clock: FrozenClock
) -> None:
    phone = new_phone(clock)
    await push_enroll(api, phone, "vera")
    tx = (await api.start("acme", "vera"))["transaction_token"]
    payload = await request_push(api, push_outbox, tx)
    r = await api.http.put(
        "/api/tenants/acme/factors/push", json={"enabled": False}, headers=api.admin
    )
    assert r.status_code == 200
    r = await send(api, phone.resolve_request(payload, accept=True))
    assert_error(r, 403, "auth_method_disabled")
    assert (await api.state(tx))["state"] == "pending"


async def test_send_push_refusals(api: Api, tenant: str, clock: FrozenClock) -> None:
    start = await api.start("acme", "olga")  # not enrolled yet
    assert_error(
        await api.post("/api/send-push-notification", start["transaction_token"]),
        403,
        "not_enrolled",
    )
    phone = new_phone(clock)
    assert (await send(api, phone.enroll_request(start["enrollment_tx_id"]))).status_code == 200
    r = await api.http.put(
        "/api/tenants/acme/factors/push", json={"enabled": False}, headers=api.admin
    )
    assert r.status_code == 200
    login = await api.start("acme", "olga")
    r = await api.post("/api/send-push-notification", login["transaction_token"])
    assert_error(r, 403, "auth_method_disabled")
    # Push switched off: a new phone cannot enroll either.
    pending = await api.start("acme", "pete")
    assert "push" not in pending["available_enrollment_methods"]
    r = await send(api, new_phone(clock).enroll_request(pending["enrollment_tx_id"]))
    assert_error(r, 403, "enrollment_method_disabled")


async def test_device_management(api: Api, tenant: str, clock: FrozenClock) -> None:
    phone = new_phone(clock)
    await push_enroll(api, phone, "quinn")
    other = new_phone(clock)
    await push_enroll(api, other, "rita")
    assert phone.account is not None and other.account is not None
    # Rename with the device token (legacy), then with a device-signed JWT.
    r = await send(api, phone.update_request(name="Work phone", use_jwt=False))
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Work phone"
    r = await send(api, phone.update_request(identifier="new-id"))
    assert r.status_code == 200 and r.json()["identifier"] == "new-id"
    login = await api.start("acme", "quinn")
    assert login["device_account"]["name"] == "Work phone"
    # Someone else's account: invalid_enrollment (with either credential).
    eid = other.account.enrollment_id
    for use_jwt in (True, False):
        r = await send(api, phone.update_request(name="x", use_jwt=use_jwt, enrollment_id=eid))
        assert_error(r, 400, "invalid_enrollment")
        r = await send(api, phone.delete_request(use_jwt=use_jwt, enrollment_id=eid))
        assert_error(r, 400, "invalid_enrollment")
    # Bad credentials: invalid_token.
    for bad in ("nonsense", f"{phone.account.enrollment_id}.wrong", other.device_jwt() + "x"):
        request = phone.delete_request()
        request.headers["Authorization"] = f"Bearer {bad}"
        assert_error(await send(api, request), 401, "invalid_token")
    # The tenant admin switches device management off.
    r = await api.http.put(
        "/api/tenants/acme/features/device_management", json={"enabled": False}, headers=api.admin
    )
    assert r.status_code == 200
    assert_error(await send(api, phone.delete_request()), 403, "feature_disabled_by_admin")
    r = await api.http.put(
        "/api/tenants/acme/features/device_management", json={"enabled": True}, headers=api.admin
    )
    r = await send(api, phone.delete_request())
    assert r.status_code == 204, r.text
    again = await api.start("acme", "quinn")
    assert "enrollment_tx_id" in again  # not enrolled any more


async def test_number_matching(
    api: Api, tenant: str, push_outbox: PushOutbox, clock: FrozenClock
) -> None:
    phone = new_phone(clock)
    await push_enroll(api, phone, "sam")
    r = await api.http.put(
        "/api/tenants/acme/features/push_number_matching",
        json={"enabled": True},
        headers=api.admin,
    )
    assert r.status_code == 200, r.text
    for sent, expected in (("right", "accepted"), ("wrong", "rejected"), (None, "rejected")):
        tx = (await api.start("acme", "sam"))["transaction_token"]
        push_outbox.clear()
        r = await api.post("/api/send-push-notification", tx)
        assert r.status_code == 200, r.text
        number = r.json()["number"]
        assert len(number) == 2 and number.isdigit()
        payload = push_outbox.messages[0].payload
        assert number not in str(payload.get("nm")) and payload["nm"] == "1"
        answer = {"right": number, "wrong": f"{(int(number) + 1) % 90 + 10}", None: None}[sent]
        r = await send(api, phone.resolve_request(payload, accept=True, number=answer))
        assert r.status_code == 204, r.text
        assert (await api.state(tx))["state"] == expected


async def test_unanswered_push_bound(
    api: Api, tenant: str, push_outbox: PushOutbox, clock: FrozenClock
) -> None:
    phone = new_phone(clock)
    await push_enroll(api, phone, "tom")
    await set_quota(api, "pn_unanswered_per_user", 2)
    txs = [(await api.start("acme", "tom"))["transaction_token"] for _ in range(3)]
    payload = await request_push(api, push_outbox, txs[0])
    assert (await api.post("/api/send-push-notification", txs[1])).status_code == 204
    r = await api.post("/api/send-push-notification", txs[2])
    assert_error(r, 429, "too_many_pn")
    assert "unanswered" in r.json()["message"]
    # Answering one frees one.
    assert (await send(api, phone.resolve_request(payload, accept=False))).status_code == 204
    assert (await api.post("/api/send-push-notification", txs[2])).status_code == 204


async def test_openapi_documents_the_push_routes(api: Api) -> None:
    doc = (await api.http.get("/api/openapi.json")).json()
    paths = doc["paths"]
    assert paths["/api/enroll"]["post"]["security"] == [{"enrollmentTicket": []}]
    device = paths["/api/device-accounts/{enrollment_id}"]
    assert set(device) == {"patch", "delete"}
    assert device["patch"]["security"] == [{"deviceToken": []}, {"deviceJwt": []}]
    assert "invalid_enrollment" in device["delete"]["responses"]["400"]["description"]
    send = paths["/api/send-push-notification"]["post"]["responses"]
    assert "too_many_pn" in send["429"]["description"]
    assert "pn_endpoint_disabled" in send["410"]["description"]
    resolve = paths["/api/resolve-transaction"]["post"]
    assert "invalid_token" in resolve["responses"]["401"]["description"]
    assert "DeviceView" in doc["components"]["schemas"]


async def test_phone_without_a_push_token(
    api: Api, tenant: str, push_outbox: PushOutbox, clock: FrozenClock
) -> None:
    phone = new_phone(clock, push_token="")  # Android sends no push_credentials then
    assert "push_credentials" not in phone.enroll_request("t").content.decode()
    await push_enroll(api, phone, "uma")
    await set_quota(api, "pn_per_user", 0)
    tx = (await api.start("acme", "uma"))["transaction_token"]
    # Nothing could arrive: said before the quota is even asked (it is 0 here).
    assert_error(await api.post("/api/send-push-notification", tx), 410, "pn_endpoint_disabled")
    assert len(push_outbox) == 0
    await set_quota(api, "pn_per_user", 5)
    assert (await send(api, phone.update_request(push_token="late-token"))).status_code == 200
    assert (await api.post("/api/send-push-notification", tx)).status_code == 204
    assert push_outbox.messages[-1].device_token == "late-token"
