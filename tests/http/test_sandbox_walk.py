"""The sandbox walk: every code of the catalogue, provoked through HTTP in a sandbox
tenant the way its ``sandbox`` text (``GET /api/errors``, docs/errors.md) says.

One provoker per code; a test keeps the provokers and the catalogue the same set,
and each magic input a provoker uses must appear in its code's text, so the
documentation cannot promise an input the sandbox does not answer. Runs on the
in-process store and on real Redis (``api`` fixture).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from mfa import Settings
from mfa.catalogue import CATALOGUE
from mfa.sandbox import MAGIC_PHONE_NUMBERS, MAGIC_PUSH_TOKENS
from mfa.testing import FrozenClock
from mfa.testing_phone import Phone
from tests.conftest import Api
from tests.http.test_boundary import assert_error

pytestmark = pytest.mark.anyio

BASE = "http://mfa.test"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PHONE = "+14155550100"  # no magic: delivered to the sandbox outbox
PASS, FAIL = "000000", "999999"


def magic(table: dict[str, str], code: str) -> str:
    """The magic input the sandbox answers with ``code``; its text must name it."""
    (value,) = [k for k, v in table.items() if v == code]
    assert f"`{value}`" in CATALOGUE[code].sandbox
    return value


class Walk:
    def __init__(self, api: Api, clock: FrozenClock) -> None:
        self.api, self.clock, self.http = api, clock, api.http
        self.tid = "sbx"

    async def tenant(self) -> None:
        body = {"tenant_id": self.tid, "name": "Sandbox", "sandbox": True}
        r = await self.http.post("/api/tenants", json=body, headers=self.api.admin)
        assert r.status_code == 201, r.text
        assert r.json()["sandbox"] is True

    async def put(self, path: str, body: dict[str, Any]) -> httpx.Response:
        r = await self.http.put(f"/api/tenants/{self.tid}{path}", json=body, headers=self.api.admin)
        assert r.status_code == 200, r.text
        return r

    async def quota(self, name: str, limit: int) -> None:
        await self.put("/quotas", {name: {"limit": limit, "window_seconds": 3600}})

    async def start(self, user: str) -> dict[str, Any]:
        return await self.api.start(self.tid, user)

    async def verify(self, tx: str, code: str) -> httpx.Response:
        return await self.api.post("/api/verify-otp", tx, {"type": "manual_input", "code": code})

    async def enroll(self, user: str) -> dict[str, Any]:
        start = await self.start(user)
        r = await self.verify(start["transaction_token"], PASS)
        assert r.status_code == 204, r.text
        return start

    async def sms_enroll(self, user: str, number: str) -> httpx.Response:
        start = await self.start(user)
        eid = start["device_account"]["id"]
        path = f"/api/device-accounts/{eid}/sms-enroll"
        return await self.api.post(path, start["transaction_token"], {"phone_number": number})

    async def messages(self, recipient: str) -> list[dict[str, Any]]:
        r = await self.http.get(
            f"/api/tenants/{self.tid}/sandbox/messages/{recipient}", headers=self.api.admin
        )
        assert r.status_code == 200, r.text
        found: list[dict[str, Any]] = r.json()["messages"]
        return found

    async def push_login(self, user: str, token: str) -> str:
        """A phone enrolled with push ``token``, and a login transaction for it."""
        start = await self.start(user)
        phone = Phone(BASE, key=KEY, clock=self.clock, push_token=token)
        r = await self.http.send(phone.enroll_request(start["enrollment_tx_id"]))
        assert r.status_code == 200, r.text
        login = await self.start(user)
        return str(login["transaction_token"])

    async def send_push(self, tx: str) -> httpx.Response:
        return await self.api.post("/api/send-push-notification", tx)


Provoker = Callable[[Walk], Awaitable[httpx.Response]]
PROVOKE: dict[str, Provoker] = {}


def provokes(code: str) -> Callable[[Provoker], Provoker]:
    def register(fn: Provoker) -> Provoker:
        PROVOKE[code] = fn
        return fn

    return register


# --- tokens and authorization --------------------------------------------------------


@provokes("invalid_token")
async def _(w: Walk) -> httpx.Response:
    return await w.api.post("/api/transaction-state", "not-a-token")


@provokes("insufficient_scope")
async def _(w: Walk) -> httpx.Response:
    body = {"name": "narrow", "scopes": ["transactions:create"]}
    r = await w.http.post(f"/api/tenants/{w.tid}/api-keys", json=body, headers=w.api.admin)
    assert r.status_code == 201, r.text
    key = {"Authorization": f"Bearer {r.json()['key']}"}
    return await w.http.get(f"/api/tenants/{w.tid}/quotas", headers=key)


@provokes("invalid_bearer_format")
async def _(w: Walk) -> httpx.Response:
    return await w.http.get(f"/api/tenants/{w.tid}/quotas")


@provokes("tenant_not_found")
async def _(w: Walk) -> httpx.Response:
    return await w.http.get("/api/tenants/never-created", headers=w.api.admin)


# --- transactions --------------------------------------------------------------------


@provokes("login_transaction_not_found")
async def _(w: Walk) -> httpx.Response:
    await w.enroll("ann")
    tx = (await w.start("ann"))["transaction_token"]
    assert (await w.verify(tx, PASS)).status_code == 204
    return await w.verify(tx, PASS)


@provokes("enrollment_transaction_not_found")
async def _(w: Walk) -> httpx.Response:
    start = await w.enroll("ann")
    return await w.verify(start["transaction_token"], PASS)


@provokes("transaction_expired")
async def _(w: Walk) -> httpx.Response:
    tx = (await w.start("ann"))["transaction_token"]
    w.clock.advance(w.api.service.settings.transaction_ttl_seconds + 1)
    return await w.api.post("/api/transaction-state", tx)


@provokes("enrollment_conflict")
async def _(w: Walk) -> httpx.Response:
    first, second = await w.start("ann"), await w.start("ann")
    assert (await w.verify(first["transaction_token"], PASS)).status_code == 204
    return await w.verify(second["transaction_token"], PASS)


@provokes("already_enrolled")
async def _(w: Walk) -> httpx.Response:
    await w.enroll("ann")
    r = await w.http.post(
        f"/api/tenants/{w.tid}/enrollment-tickets", json={"user_id": "ann"}, headers=w.api.admin
    )
    assert r.status_code == 200, r.text
    ticket = {"Authorization": f'Ticket id="{r.json()["ticket_id"]}"'}
    return await w.http.post("/api/start-flow", json={"state_transport": "polling"}, headers=ticket)


@provokes("not_enrolled")
async def _(w: Walk) -> httpx.Response:
    return await w.api.post("/api/send-sms", (await w.start("ann"))["transaction_token"])


@provokes("invalid_enrollment")
async def _(w: Walk) -> httpx.Response:
    tx = (await w.start("ann"))["transaction_token"]
    return await w.api.post(
        "/api/device-accounts/dev_other/sms-enroll", tx, {"phone_number": PHONE}
    )


# --- codes ---------------------------------------------------------------------------


@provokes("invalid_otp")
async def _(w: Walk) -> httpx.Response:
    return await w.verify((await w.start("ann"))["transaction_token"], FAIL)


@provokes("invalid_recovery_code")
async def _(w: Walk) -> httpx.Response:
    await w.enroll("ann")
    tx = (await w.start("ann"))["transaction_token"]
    return await w.api.post("/api/recover-account", tx, {"recovery_code": "A" * 24})


@provokes("invalid_otp_format")
async def _(w: Walk) -> httpx.Response:
    return await w.verify((await w.start("ann"))["transaction_token"], "12ab56")


@provokes("invalid_recovery_code_format")
async def _(w: Walk) -> httpx.Response:
    await w.enroll("ann")
    tx = (await w.start("ann"))["transaction_token"]
    return await w.api.post("/api/recover-account", tx, {"recovery_code": "abc"})


@provokes("field_required")
async def _(w: Walk) -> httpx.Response:
    return await w.api.post("/api/verify-otp", (await w.start("ann"))["transaction_token"], {})


# --- request shape -------------------------------------------------------------------


@provokes("invalid_body")
async def _(w: Walk) -> httpx.Response:
    headers = {**w.api.admin, "Content-Type": "application/json"}
    return await w.http.post("/api/tenants", content=b"{", headers=headers)


@provokes("invalid_query_string")
async def _(w: Walk) -> httpx.Response:
    return await w.http.get(f"/api/tenants/{w.tid}?x=1", headers=w.api.admin)


# --- phones and delivery: the magic inputs -------------------------------------------


@provokes("invalid_phone_number")
async def _(w: Walk) -> httpx.Response:
    return await w.sms_enroll("ann", magic(MAGIC_PHONE_NUMBERS, "invalid_phone_number"))


@provokes("error_sending_sms")
async def _(w: Walk) -> httpx.Response:
    return await w.sms_enroll("ann", magic(MAGIC_PHONE_NUMBERS, "error_sending_sms"))


@provokes("internal_error")
async def _(w: Walk) -> httpx.Response:
    return await w.sms_enroll("ann", magic(MAGIC_PHONE_NUMBERS, "internal_error"))


@provokes("service_unavailable")
async def _(w: Walk) -> httpx.Response:
    return await w.sms_enroll("ann", magic(MAGIC_PHONE_NUMBERS, "service_unavailable"))


@provokes("error_sending_push_notification")
async def _(w: Walk) -> httpx.Response:
    token = magic(MAGIC_PUSH_TOKENS, "error_sending_push_notification")
    return await w.send_push(await w.push_login("ann", token))


@provokes("push_notification_wrong_credentials")
async def _(w: Walk) -> httpx.Response:
    token = magic(MAGIC_PUSH_TOKENS, "push_notification_wrong_credentials")
    return await w.send_push(await w.push_login("ann", token))


@provokes("pn_endpoint_disabled")
async def _(w: Walk) -> httpx.Response:
    token = magic(MAGIC_PUSH_TOKENS, "pn_endpoint_disabled")
    return await w.send_push(await w.push_login("ann", token))


# --- quotas --------------------------------------------------------------------------


@provokes("too_many_sms")
async def _(w: Walk) -> httpx.Response:
    await w.quota("sms_per_user", 1)
    start = await w.start("ann")
    tx, eid = start["transaction_token"], start["device_account"]["id"]
    path = f"/api/device-accounts/{eid}/sms-enroll"
    assert (await w.api.post(path, tx, {"phone_number": PHONE})).status_code == 204
    return await w.api.post(path, tx, {"phone_number": PHONE})


@provokes("too_many_sms_per_tenant")
async def _(w: Walk) -> httpx.Response:
    await w.quota("sms_per_tenant", 1)
    assert (await w.sms_enroll("ann", PHONE)).status_code == 204
    return await w.sms_enroll("bob", PHONE)


@provokes("too_many_pn")
async def _(w: Walk) -> httpx.Response:
    await w.quota("pn_per_user", 1)
    tx = await w.push_login("ann", "pt-ann")
    assert (await w.send_push(tx)).status_code == 204
    return await w.send_push(tx)


@provokes("too_many_pn_per_tenant")
async def _(w: Walk) -> httpx.Response:
    await w.quota("pn_per_tenant", 1)
    assert (await w.send_push(await w.push_login("ann", "pt-ann"))).status_code == 204
    return await w.send_push(await w.push_login("bob", "pt-bob"))


# --- toggles -------------------------------------------------------------------------


@provokes("feature_disabled")
async def _(w: Walk) -> httpx.Response:
    # The service of this case lists sms in MFA_DISABLED_FACTORS (fixture below).
    path = f"/api/tenants/{w.tid}/factors/sms"
    return await w.http.put(path, json={"enabled": True}, headers=w.api.admin)


@provokes("feature_disabled_by_admin")
async def _(w: Walk) -> httpx.Response:
    await w.put("/features/enrollment", {"enabled": False})
    token = await w.api.request_token(w.tid, "ann")
    headers = {"Authorization": f"Bearer {token}"}
    return await w.http.post(
        "/api/start-flow", json={"state_transport": "polling"}, headers=headers
    )


@provokes("enrollment_method_disabled")
async def _(w: Walk) -> httpx.Response:
    await w.put("/factors/sms", {"enabled": False})
    return await w.sms_enroll("ann", PHONE)


@provokes("auth_method_disabled")
async def _(w: Walk) -> httpx.Response:
    await w.enroll("ann")
    tx = (await w.start("ann"))["transaction_token"]
    await w.put("/factors/otp", {"enabled": False})
    return await w.verify(tx, PASS)


@provokes("no_method_available")
async def _(w: Walk) -> httpx.Response:
    for name in ("otp", "sms", "push"):
        await w.put(f"/factors/{name}", {"enabled": False})
    token = await w.api.request_token(w.tid, "ann")
    headers = {"Authorization": f"Bearer {token}"}
    return await w.http.post(
        "/api/start-flow", json={"state_transport": "polling"}, headers=headers
    )


@provokes("method_not_found")
async def _(w: Walk) -> httpx.Response:
    path = f"/api/tenants/{w.tid}/factors/email"
    return await w.http.put(path, json={"enabled": True}, headers=w.api.admin)


@provokes("not_found")
async def _(w: Walk) -> httpx.Response:
    return await w.http.get("/api/no-such-route")


# --- the walk ------------------------------------------------------------------------


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("code") == "feature_disabled":
        return settings.model_copy(update={"disabled_factors": frozenset({"sms"})})
    return settings


def test_every_code_has_a_provoker_and_a_sandbox_text() -> None:
    assert set(PROVOKE) == set(CATALOGUE)
    assert all(spec.sandbox.strip() for spec in CATALOGUE.values())
    documented = set(MAGIC_PHONE_NUMBERS.values()) | set(MAGIC_PUSH_TOKENS.values())
    assert documented <= set(CATALOGUE)


@pytest.mark.parametrize("code", sorted(CATALOGUE))
async def test_walk(code: str, api: Api, clock: FrozenClock) -> None:
    walk = Walk(api, clock)
    await walk.tenant()
    spec = CATALOGUE[code]
    assert_error(await PROVOKE[code](walk), spec.status, code)
