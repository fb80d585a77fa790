"""The enrollment status object: derived state, last error, last use (issue 13.2).

Driven in a sandbox tenant, whose fixed codes and magic inputs make each state a
few calls away. Activity is written behind the request: the tests flush it the
way the service's task does, then read it back through HTTP.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from mfa.testing import FrozenClock
from mfa.testing_phone import Phone
from tests.conftest import Api
from tests.http.test_boundary import assert_error
from tests.http.test_sandbox_walk import BASE, FAIL, KEY, PASS, PHONE, Walk

pytestmark = pytest.mark.anyio


async def status(w: Walk, user: str) -> dict[str, Any]:
    await w.api.service.ctx.activity.flush()
    r = await w.http.get(
        f"/api/tenants/{w.tid}/users/{user}/enrollment-status", headers=w.api.admin
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.fixture
async def walk(api: Api, clock: FrozenClock) -> Walk:
    w = Walk(api, clock)
    await w.tenant()
    return w


async def test_confirmed_then_used_then_a_wrong_code(walk: Walk, clock: FrozenClock) -> None:
    start = await walk.enroll("ann")
    body = await status(walk, "ann")
    assert body["id"] == start["device_account"]["id"] and body["user_id"] == "ann"
    assert body["status"] == "confirmed" and body["locked_until"] is None
    assert body["methods"] == ["otp"] and body["phone_number"] is None
    assert body["device"] is None and body["last_error"] is None
    confirmed_at = body["last_used_at"]
    assert confirmed_at is not None and body["updated_at"] is not None

    clock.advance(60)
    tx = (await walk.start("ann"))["transaction_token"]
    assert_error(await walk.verify(tx, FAIL), 403, "invalid_otp")
    assert_error(await walk.verify(tx, "12ab56"), 400, "invalid_otp_format")  # not kept
    body = await status(walk, "ann")
    assert body["last_used_at"] == confirmed_at
    error = body["last_error"]
    assert error["code"] == "invalid_otp" and error["method"] == "otp"
    assert error["user_message"] == "That code is not right. Check your otp code and try again."
    assert error["message"] == "The one-time code is not valid."
    assert error["at"] > confirmed_at

    clock.advance(60)
    assert (await walk.verify(tx, PASS)).status_code == 204
    body = await status(walk, "ann")
    assert body["last_used_at"] > confirmed_at
    assert body["last_error"]["code"] == "invalid_otp"  # the last error stays the last one
    assert body["updated_at"] < body["last_used_at"]  # activity is not a change


async def test_locked_while_a_lockout_runs(walk: Walk, clock: FrozenClock) -> None:
    await walk.enroll("ann")
    limit = walk.api.service.settings.user_failed_attempts_limit
    per_tx = walk.api.service.settings.otp_attempts_per_transaction
    failures = 0
    while failures < limit:
        tx = (await walk.start("ann"))["transaction_token"]
        for _ in range(min(per_tx, limit - failures)):
            await walk.verify(tx, FAIL)
            failures += 1
    body = await status(walk, "ann")
    assert body["status"] == "locked" and body["locked_until"] is not None
    until = datetime.fromisoformat(body["locked_until"]).timestamp()
    lockout = walk.api.service.settings.user_lockout_seconds
    assert clock() + lockout - 5 < until <= clock() + lockout + 1
    # The lockout's end (its key expiring) is the store contract's test.


async def test_disabled_by_a_dead_push_endpoint(walk: Walk, clock: FrozenClock) -> None:
    start = await walk.start("ann")
    phone = Phone(BASE, key=KEY, clock=clock, push_token="sandbox-pn-endpoint-disabled")
    r = await walk.http.send(phone.enroll_request(start["enrollment_tx_id"]))
    assert r.status_code == 200, r.text
    phone.enrolled(r)
    tx = (await walk.start("ann"))["transaction_token"]
    assert_error(await walk.send_push(tx), 410, "pn_endpoint_disabled")
    body = await status(walk, "ann")
    assert body["status"] == "disabled"
    assert body["device"]["push_endpoint_disabled"] is True
    assert body["last_error"]["code"] == "pn_endpoint_disabled"
    assert "Remove the account from the app" in body["last_error"]["user_message"]
    r = await walk.http.send(phone.update_request(push_token="pt-fresh"))
    assert r.status_code == 200, r.text
    assert (await status(walk, "ann"))["status"] == "confirmed"


async def test_sms_enrollment_quota_refusal_and_masked_phone(walk: Walk) -> None:
    start = await walk.start("ann")
    eid, tx = start["device_account"]["id"], start["transaction_token"]
    path = f"/api/device-accounts/{eid}/sms-enroll"
    assert (await walk.api.post(path, tx, {"phone_number": PHONE})).status_code == 204
    assert (await walk.verify(tx, PASS)).status_code == 204
    await walk.quota("sms_per_user", 1)
    login = (await walk.start("ann"))["transaction_token"]
    r = await walk.api.post("/api/send-sms", login)
    assert_error(r, 429, "too_many_sms")
    body = await status(walk, "ann")
    assert body["methods"] == ["sms"] and body["phone_number"] == "XXXXXXXXX00"
    error = body["last_error"]
    assert error["code"] == "too_many_sms"
    retry_after = r.headers["retry-after"]
    assert error["user_message"] == (
        f"You have asked for too many text messages. Try again in {retry_after} seconds."
    )


async def test_no_enrollment_and_no_tenant(walk: Walk) -> None:
    r = await walk.http.get(
        f"/api/tenants/{walk.tid}/users/nobody/enrollment-status", headers=walk.api.admin
    )
    assert_error(r, 403, "not_enrolled")
    r = await walk.http.get(
        "/api/tenants/nope/users/nobody/enrollment-status", headers=walk.api.admin
    )
    assert_error(r, 404, "tenant_not_found")
