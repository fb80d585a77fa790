"""What the routes answer matches what OpenAPI says they answer.

Every success body seen while driving the whole API is validated against the
response model its endpoint declares (the same model the OpenAPI document is
generated from), and may carry no key the model does not declare.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from starlette.routing import compile_path

from mfa.factors import totp
from mfa.http import backend, guardian, phone
from mfa.http.endpoint import Endpoint
from mfa.testing import FrozenClock
from mfa.testing_phone import Phone
from tests.conftest import Api
from transports.outbox import Outbox, PushOutbox

pytestmark = pytest.mark.anyio

ENDPOINTS: tuple[Endpoint, ...] = (*guardian.ENDPOINTS, *phone.ENDPOINTS, *backend.ENDPOINTS)


def endpoint_for(method: str, path: str) -> Endpoint:
    path = path.removeprefix("/appliance-mfa")  # where the phone calls
    for ep in ENDPOINTS:
        regex, _, _ = compile_path(ep.path)
        if ep.method == method and regex.match(path):
            return ep
    raise AssertionError(f"no endpoint for {method} {path}")


def check_keys(model: type[BaseModel], body: Any) -> None:
    assert isinstance(body, dict)
    assert set(body) <= set(model.model_fields), (
        model.__name__,
        set(body) - set(model.model_fields),
    )


async def test_every_success_body_matches_its_declared_model(
    api: Api, clock: FrozenClock, outbox: Outbox, push_outbox: PushOutbox
) -> None:
    seen: list[httpx.Response] = []

    async def record(response: httpx.Response) -> None:
        seen.append(response)

    api.http.event_hooks["response"].append(record)
    await api.tenant()
    h = api.admin
    http = api.http
    await http.get("/api/tenants", headers=h)
    await http.get("/api/tenants/acme", headers=h)
    await http.post(
        "/api/tenants/acme/api-keys", json={"name": "k", "scopes": ["factors:read"]}, headers=h
    )
    await http.get("/api/tenants/acme/factors", headers=h)
    await http.put("/api/tenants/acme/factors/push", json={"enabled": True}, headers=h)
    await http.put("/api/tenants/acme/features/enrollment", json={"enabled": True}, headers=h)
    await http.put("/api/tenants/acme/sms-settings", json={"otp_length": 6}, headers=h)
    await http.get("/api/tenants/acme/quotas", headers=h)
    await http.put(
        "/api/tenants/acme/quotas",
        json={"pn_per_user": {"limit": 5, "window_seconds": 60}},
        headers=h,
    )
    await http.post("/api/tenants/acme/enrollment-tickets", json={"user_id": "u"}, headers=h)
    start = await api.start("acme", "alice")  # not-enrolled shape
    tx = start["transaction_token"]
    await api.state(tx)
    secret = start["device_account"]["otp_secret"]
    await api.post("/api/verify-otp", tx, {"code": totp.code_at(secret, clock())})
    await api.state(tx)  # accepted, with enrollment and token
    clock.advance(30)
    login = await api.start("acme", "alice")  # enrolled shape
    await api.post(
        "/api/recover-account",
        login["transaction_token"],
        {"recovery_code": start["device_account"]["recovery_code"]},
    )
    sms = await api.start("acme", "bob")
    await api.post(
        f"/api/device-accounts/{sms['device_account']['id']}/sms-enroll",
        sms["transaction_token"],
        {"phone_number": "+447911123456"},
    )
    await api.post("/api/verify-otp", sms["transaction_token"], {"code": outbox.last_code()})
    await api.state(sms["transaction_token"])
    await http.get("/api/tenants/acme/users/bob/enrollments", headers=h)
    await http.post("/api/tenants/acme/users/alice/recovery-code-regeneration", headers=h)
    # Push, with number matching on (send-push-notification answers 200 with the number).
    await http.put(
        "/api/tenants/acme/features/push_number_matching", json={"enabled": True}, headers=h
    )
    device = Phone("http://mfa.test", clock=clock)
    pending = await api.start("acme", "carol")
    device.enrolled(await http.send(device.enroll_request(pending["enrollment_tx_id"])))
    await api.state(pending["transaction_token"])  # pending, with the enrollment
    number = (await api.post("/api/send-push-notification", pending["transaction_token"])).json()
    payload = push_outbox.messages[-1].payload
    await http.send(device.resolve_request(payload, accept=True, number=number["number"]))
    await http.send(device.update_request(name="Renamed"))
    await http.get("/api/tenants/acme/users/carol/enrollments", headers=h)
    await http.send(device.delete_request())

    checked = 0
    for response in seen:
        assert response.is_success, response.text
        ep = endpoint_for(response.request.method, response.request.url.path)
        if ep.status == 204:
            assert response.status_code == 204 and not response.content
            continue
        assert response.status_code == ep.status
        body = response.json()
        if ep.response is None:
            continue
        items = body if ep.many else [body]
        assert isinstance(items, list)
        for item in items:
            ep.response.model_validate(item)
            check_keys(ep.response, item)
        checked += 1
    assert checked >= 22
