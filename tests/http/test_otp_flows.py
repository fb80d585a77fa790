"""OTP and recovery-code transactions over HTTP, on the in-process store and real Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mfa import MFAService, create_app
from mfa.factors import recovery, totp
from mfa.testing import FrozenClock
from tests.conftest import Api
from tests.http.test_boundary import assert_error

pytestmark = pytest.mark.anyio


async def enroll(api: Api, clock: FrozenClock, user: str = "alice") -> dict[str, Any]:
    """Enroll ``user`` with TOTP; return the start-flow device account."""
    start = await api.start("acme", user)
    account: dict[str, Any] = start["device_account"]
    tx = start["transaction_token"]
    code = totp.code_at(account["otp_secret"], clock())
    r = await api.post("/api/verify-otp", tx, {"type": "manual_input", "code": code})
    assert r.status_code == 204, r.text
    clock.advance(30)  # a time step is accepted once: later logins use the next one
    return account


@pytest.fixture
async def tenant(api: Api) -> str:
    return await api.tenant()


async def test_not_enrolled_start_flow_shape(api: Api, tenant: str) -> None:
    start = await api.start("acme", "bob")
    assert start["enrollment_tx_id"].startswith("etx_")
    # push is offered: its phone routes are served
    assert start["available_enrollment_methods"] == ["otp", "sms", "push"]
    assert start["factor_settings"] == {"phone": {"otp_length": 6}}
    account = start["device_account"]
    assert account["status"] == "confirmation_pending"
    assert len(account["otp_secret"]) == 32  # 160 bits, base32
    assert recovery.well_formed(account["recovery_code"])
    state = await api.state(start["transaction_token"])
    assert state == {"id": state["id"], "state": "pending", "enrollment": None}


async def test_enrollment_then_login_and_signature(
    api: Api, tenant: str, clock: FrozenClock
) -> None:
    start = await api.start("acme", "alice")
    tx = start["transaction_token"]
    secret = start["device_account"]["otp_secret"]
    r = await api.post("/api/verify-otp", tx, {"code": totp.code_at(secret, clock())})
    assert r.status_code == 204
    state = await api.state(tx)
    assert state["state"] == "accepted"
    assert state["enrollment"]["available_authenticator_types"] == ["otp", "recovery-code"]
    result = api.service.verify_result(state["token"], user_id="alice", tenant_id="acme")
    assert result.method == "otp" and result.txid == state["id"]
    # JWKS: the public key that verifies it is published.
    jwks = (await api.http.get("/.well-known/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]] and "d" not in jwks["keys"][0]

    clock.advance(30)
    login = await api.start("acme", "alice")
    assert "enrollment_tx_id" not in login
    assert login["device_account"]["methods"] == ["otp"]
    first_poll = await api.state(login["transaction_token"])
    assert first_poll["enrollment"] is not None  # non-null from the very first poll
    r = await api.post(
        "/api/verify-otp", login["transaction_token"], {"code": totp.code_at(secret, clock())}
    )
    assert r.status_code == 204
    assert (await api.state(login["transaction_token"]))["state"] == "accepted"
    # A finished transaction cannot be verified again.
    r = await api.post("/api/verify-otp", login["transaction_token"], {"code": "000000"})
    assert_error(r, 404, "login_transaction_not_found")
    r = await api.post("/api/verify-otp", tx, {"code": "000000"})
    assert_error(r, 404, "enrollment_transaction_not_found")


async def test_drift_of_one_step_is_accepted_two_is_not(
    api: Api, tenant: str, clock: FrozenClock
) -> None:
    account = await enroll(api, clock)
    secret = account["otp_secret"]
    tx = (await api.start("acme", "alice"))["transaction_token"]
    r = await api.post("/api/verify-otp", tx, {"code": totp.code_at(secret, clock() + 60)})
    assert_error(r, 403, "invalid_otp")
    r = await api.post("/api/verify-otp", tx, {"code": totp.code_at(secret, clock() + 30)})
    assert r.status_code == 204


async def test_replayed_time_step_is_refused(api: Api, tenant: str, clock: FrozenClock) -> None:
    account = await enroll(api, clock)
    code = totp.code_at(account["otp_secret"], clock())
    tx1 = (await api.start("acme", "alice"))["transaction_token"]
    tx2 = (await api.start("acme", "alice"))["transaction_token"]
    assert (await api.post("/api/verify-otp", tx1, {"code": code})).status_code == 204
    assert_error(await api.post("/api/verify-otp", tx2, {"code": code}), 403, "invalid_otp")
    # An older step (still within the window) is refused too once a newer one won.
    older = totp.code_at(account["otp_secret"], clock() - 30)
    assert_error(await api.post("/api/verify-otp", tx2, {"code": older}), 403, "invalid_otp")


async def test_concurrent_same_code_exactly_one_wins(
    api: Api, tenant: str, clock: FrozenClock
) -> None:
    account = await enroll(api, clock)
    code = totp.code_at(account["otp_secret"], clock())
    tokens = [(await api.start("acme", "alice"))["transaction_token"] for _ in range(8)]
    results = await asyncio.gather(
        *(api.post("/api/verify-otp", t, {"code": code}) for t in tokens)
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses == [204] + [403] * 7


async def test_wrong_codes_kill_the_transaction(api: Api, tenant: str, clock: FrozenClock) -> None:
    account = await enroll(api, clock)
    limit = api.service.settings.otp_attempts_per_transaction
    tx = (await api.start("acme", "alice"))["transaction_token"]
    good = totp.code_at(account["otp_secret"], clock())
    wrong = "000000" if good != "000000" else "111111"
    for _ in range(limit - 1):
        assert_error(await api.post("/api/verify-otp", tx, {"code": wrong}), 403, "invalid_otp")
    last = assert_error(await api.post("/api/verify-otp", tx, {"code": wrong}), 403, "invalid_otp")
    assert "ended" in last["message"]
    # Dead: even the right code cannot revive it.
    r = await api.post("/api/verify-otp", tx, {"code": good})
    assert_error(r, 404, "login_transaction_not_found")
    assert_error(await api.post("/api/transaction-state", tx), 404, "login_transaction_not_found")


async def test_user_lockout_spans_transactions_and_expires(
    api: Api, tenant: str, clock: FrozenClock, service: MFAService
) -> None:
    account = await enroll(api, clock)
    s = service.settings
    wrong_total = 0
    while wrong_total < s.user_failed_attempts_limit:
        tx = (await api.start("acme", "alice"))["transaction_token"]
        for _ in range(
            min(s.otp_attempts_per_transaction - 1, s.user_failed_attempts_limit - wrong_total)
        ):
            await api.post("/api/verify-otp", tx, {"code": "000000"})
            wrong_total += 1
    tx = (await api.start("acme", "alice"))["transaction_token"]
    good = totp.code_at(account["otp_secret"], clock())
    body = assert_error(await api.post("/api/verify-otp", tx, {"code": good}), 403, "invalid_otp")
    assert "try again later" in body["message"]
    if type(service.ephemeral).__name__ == "MemoryEphemeralStore":
        clock.advance(s.user_lockout_seconds + 1)
        tx = (await api.start("acme", "alice"))["transaction_token"]
        good = totp.code_at(account["otp_secret"], clock())
        assert (await api.post("/api/verify-otp", tx, {"code": good})).status_code == 204


FULLWIDTH = "\uff11\uff12\uff13\uff14\uff15\uff16"  # Unicode digits, not ASCII


@pytest.mark.parametrize("code", ["12345", "1234567", "12a456", FULLWIDTH, " 123456"])
async def test_otp_format(api: Api, tenant: str, code: str) -> None:
    tx = (await api.start("acme", "bob"))["transaction_token"]
    assert_error(await api.post("/api/verify-otp", tx, {"code": code}), 400, "invalid_otp_format")


async def test_recovery_rotates_the_code(api: Api, tenant: str, clock: FrozenClock) -> None:
    account = await enroll(api, clock)
    old = account["recovery_code"]
    tx = (await api.start("acme", "alice"))["transaction_token"]
    r = await api.post("/api/recover-account", tx, {"recovery_code": old})
    assert r.status_code == 200, r.text
    new = r.json()["recovery_code"]
    assert recovery.well_formed(new) and new != old
    state = await api.state(tx)
    assert state["state"] == "accepted"
    assert api.service.verify_result(state["token"]).method == "recovery-code"
    tx2 = (await api.start("acme", "alice"))["transaction_token"]
    r = await api.post("/api/recover-account", tx2, {"recovery_code": old})
    assert_error(r, 403, "invalid_recovery_code")
    r = await api.post("/api/recover-account", tx2, {"recovery_code": new})
    assert r.status_code == 200


async def test_recovery_code_used_concurrently_wins_once(
    api: Api, tenant: str, clock: FrozenClock
) -> None:
    account = await enroll(api, clock)
    tokens = [(await api.start("acme", "alice"))["transaction_token"] for _ in range(4)]
    results = await asyncio.gather(
        *(
            api.post("/api/recover-account", t, {"recovery_code": account["recovery_code"]})
            for t in tokens
        )
    )
    assert sorted(r.status_code for r in results) == [200, 403, 403, 403]


@pytest.mark.parametrize(
    "code", ["short", "A" * 23, "A" * 25, "ABCD-EFGH-IJKL-MNOP-QRST", "A" * 23 + "!"]
)
async def test_recovery_code_format(api: Api, tenant: str, clock: FrozenClock, code: str) -> None:
    await enroll(api, clock)
    tx = (await api.start("acme", "alice"))["transaction_token"]
    r = await api.post("/api/recover-account", tx, {"recovery_code": code})
    assert_error(r, 400, "invalid_recovery_code_format")


async def test_recovery_when_not_enrolled(api: Api, tenant: str) -> None:
    tx = (await api.start("acme", "nobody"))["transaction_token"]
    r = await api.post("/api/recover-account", tx, {"recovery_code": "A" * 24})
    assert_error(r, 403, "not_enrolled")


async def test_enrollment_conflict_stores_nothing_of_the_loser(
    api: Api, tenant: str, clock: FrozenClock
) -> None:
    a = await api.start("acme", "carol")
    b = await api.start("acme", "carol")
    ra = await api.post(
        "/api/verify-otp",
        a["transaction_token"],
        {"code": totp.code_at(a["device_account"]["otp_secret"], clock())},
    )
    assert ra.status_code == 204
    rb = await api.post(
        "/api/verify-otp",
        b["transaction_token"],
        {"code": totp.code_at(b["device_account"]["otp_secret"], clock())},
    )
    assert_error(rb, 409, "enrollment_conflict")
    assert (await api.state(b["transaction_token"]))["state"] == "pending"
    stored = await api.service.durable.get_user_enrollment("acme", "carol")
    assert stored is not None and stored.enrollment_id == a["device_account"]["id"]


async def test_already_enrolled_with_a_ticket(api: Api, tenant: str, clock: FrozenClock) -> None:
    await enroll(api, clock)
    r = await api.http.post(
        "/api/tenants/acme/enrollment-tickets", json={"user_id": "alice"}, headers=api.admin
    )
    ticket = r.json()["ticket_id"]
    r = await api.http.post("/api/start-flow", headers={"Authorization": f'Ticket id="{ticket}"'})
    assert_error(r, 409, "already_enrolled")


async def test_enrollment_ticket_opens_one_flow(api: Api, tenant: str) -> None:
    r = await api.http.post(
        "/api/tenants/acme/enrollment-tickets", json={"user_id": "dave"}, headers=api.admin
    )
    ticket = r.json()["ticket_id"]
    headers = {"Authorization": f'Ticket id="{ticket}"'}
    r = await api.http.post("/api/start-flow", json={"state_transport": "polling"}, headers=headers)
    assert r.status_code == 200 and r.json()["enrollment_tx_id"]
    r = await api.http.post("/api/start-flow", headers=headers)
    assert_error(r, 401, "invalid_token")


async def _toggle(api: Api, kind: str, name: str, enabled: bool) -> None:
    r = await api.http.put(
        f"/api/tenants/acme/{kind}/{name}", json={"enabled": enabled}, headers=api.admin
    )
    assert r.status_code == 200, r.text


async def test_tenant_toggles(api: Api, tenant: str, clock: FrozenClock) -> None:
    account = await enroll(api, clock)
    # Enrollment with a switched-off factor.
    pending = await api.start("acme", "erin")
    await _toggle(api, "factors", "otp", False)
    code = totp.code_at(pending["device_account"]["otp_secret"], clock())
    body = assert_error(
        await api.post("/api/verify-otp", pending["transaction_token"], {"code": code}),
        403,
        "enrollment_method_disabled",
    )
    assert body["method"] == "otp"
    # Login with it.
    login = await api.start("acme", "alice")
    assert login["device_account"]["available_authenticator_types"] == ["recovery-code"]
    code = totp.code_at(account["otp_secret"], clock())
    body = assert_error(
        await api.post("/api/verify-otp", login["transaction_token"], {"code": code}),
        403,
        "auth_method_disabled",
    )
    assert body["method"] == "otp"
    # Nothing left to enroll with.
    await _toggle(api, "factors", "sms", False)
    await _toggle(api, "factors", "push", False)
    token = await api.request_token("acme", "frank")
    r = await api.http.post("/api/start-flow", headers={"Authorization": f"Bearer {token}"})
    assert_error(r, 403, "no_method_available")
    # Self-service enrollment switched off.
    await _toggle(api, "factors", "otp", True)
    await _toggle(api, "features", "enrollment", False)
    r = await api.http.post("/api/start-flow", headers={"Authorization": f"Bearer {token}"})
    assert_error(r, 403, "feature_disabled_by_admin")
    # The same token still works once the admin switches it back on.
    await _toggle(api, "features", "enrollment", True)
    r = await api.http.post("/api/start-flow", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200


async def test_operator_disabled_factor(service: MFAService, clock: FrozenClock) -> None:
    import httpx

    off = MFAService(
        service.settings.replace(disabled_factors=frozenset({"otp"})),
        durable=service.durable,
        ephemeral=service.ephemeral,
        clock=clock,
        keys=service.keys,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(service=off)), base_url="http://t"
    ) as http:
        api = Api(http, off)
        await api.tenant()
        start = await api.start("acme", "gina")
        assert "otp" not in start["available_enrollment_methods"]
        r = await api.post("/api/verify-otp", start["transaction_token"], {"code": "123456"})
        assert_error(r, 403, "feature_disabled")
        r = await http.put(
            "/api/tenants/acme/factors/otp", json={"enabled": True}, headers=api.admin
        )
        assert_error(r, 403, "feature_disabled")


async def test_tenant_deleted_mid_flow(api: Api, tenant: str) -> None:
    token = await api.request_token("acme", "hank")
    assert (await api.http.delete("/api/tenants/acme", headers=api.admin)).status_code == 204
    r = await api.http.post("/api/start-flow", headers={"Authorization": f"Bearer {token}"})
    assert_error(r, 404, "tenant_not_found")


async def test_transaction_expires(api: Api, tenant: str, clock: FrozenClock) -> None:
    start = await api.start("acme", "ivy")
    clock.advance(api.service.settings.transaction_ttl_seconds + 1)
    r = await api.post("/api/verify-otp", start["transaction_token"], {"code": "123456"})
    assert_error(r, 401, "transaction_expired")


async def test_one_enrollment_confirmed_twice_at_once(
    api: Api, tenant: str, clock: FrozenClock
) -> None:
    start = await api.start("acme", "jane")
    code = totp.code_at(start["device_account"]["otp_secret"], clock())
    results = await asyncio.gather(
        *(api.post("/api/verify-otp", start["transaction_token"], {"code": code}) for _ in range(5))
    )
    assert sorted(r.status_code for r in results) == [204, 403, 403, 403, 403]
    assert {r.json()["errorCode"] for r in results if r.status_code != 204} == {"invalid_otp"}
    stored = await api.service.durable.get_user_enrollment("acme", "jane")
    assert stored is not None and stored.enrollment_id == start["device_account"]["id"]
