"""The audit trail over HTTP, on the in-process store and real Redis: what each
security decision records, the filters and the cursor, and what it never holds."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mfa import MFAService
from mfa.events.record import iso
from mfa.factors import totp
from mfa.testing import FrozenClock
from tests.conftest import Api
from tests.events.conftest import moved, trail

pytestmark = pytest.mark.anyio

UA = "Tests/1.0 (audit)"


@pytest.fixture
async def tenant(api: Api) -> str:
    return await api.tenant()


async def enroll(api: Api, clock: FrozenClock, user: str) -> tuple[dict[str, Any], str]:
    start = await api.start("acme", user)
    account: dict[str, Any] = start["device_account"]
    code = totp.code_at(account["otp_secret"], clock())
    r = await api.http.post(
        "/api/verify-otp",
        json={"code": code},
        headers={
            "Authorization": f"Bearer {start['transaction_token']}",
            "User-Agent": UA,
            "X-Request-Id": "req-enroll-" + user,
        },
    )
    assert r.status_code == 204, r.text
    clock.advance(30)
    return account, code


async def verify(api: Api, tx: str, code: str, request_id: str) -> int:
    r = await api.http.post(
        "/api/verify-otp",
        json={"code": code},
        headers={"Authorization": f"Bearer {tx}", "User-Agent": UA, "X-Request-Id": request_id},
    )
    return r.status_code


async def test_enrollment_and_logins_are_recorded_with_their_request(
    api: Api, tenant: str, clock: FrozenClock
) -> None:
    account, _ = await enroll(api, clock, "alice")
    tx = (await api.start("acme", "alice"))["transaction_token"]
    assert await verify(api, tx, "000000", "req-wrong") == 403
    good = totp.code_at(account["otp_secret"], clock())
    assert await verify(api, tx, good, "req-right") == 204

    events = await trail(api, tenant)
    types = [e["type"] for e in events]
    assert types == [
        "enrollment.started",
        "enrollment.confirmed",
        "auth.failed",
        "auth.succeeded",
    ]
    confirmed, failed, succeeded = events[1:]
    assert confirmed["request_id"] == "req-enroll-alice"
    assert confirmed["method"] == "otp" and confirmed["outcome"] == "accepted"
    assert confirmed["enrollment_id"] == events[0]["enrollment_id"]
    assert failed["error_code"] == "invalid_otp" and failed["outcome"] == "invalid"
    assert failed["request_id"] == "req-wrong"
    assert succeeded["error_code"] is None and succeeded["user_id"] == "alice"
    for e in events[1:]:
        assert e["user_agent"] == UA and e["client_ip"] == "127.0.0.1"
        assert e["id"].startswith("evt_") and e["time"].endswith("Z")


async def test_no_secret_or_code_is_ever_in_the_trail(
    api: Api, tenant: str, clock: FrozenClock
) -> None:
    account, code = await enroll(api, clock, "alice")
    tx = (await api.start("acme", "alice"))["transaction_token"]
    wrong = "123456" if code != "123456" else "654321"
    await verify(api, tx, wrong, "r1")
    r = await api.http.post(
        "/api/tenants/acme/users/alice/recovery-code-regeneration", json={}, headers=api.admin
    )
    recovery_code = r.json()["recovery_code"]
    text = json.dumps(await trail(api, tenant))
    for secret in (account["otp_secret"], code, wrong, recovery_code, account["recovery_code"]):
        assert secret not in text
    assert "recovery_code.regenerated" in text


async def test_lockout_begins_with_its_end_time(
    api: Api, tenant: str, clock: FrozenClock, service: MFAService
) -> None:
    await enroll(api, clock, "alice")
    s = service.settings
    wrong = 0
    while wrong < s.user_failed_attempts_limit:
        tx = (await api.start("acme", "alice"))["transaction_token"]
        for _ in range(
            min(s.otp_attempts_per_transaction - 1, s.user_failed_attempts_limit - wrong)
        ):
            await verify(api, tx, "000000", f"w{wrong}")
            wrong += 1
    locked = await trail(api, tenant, type="user.locked")
    assert len(locked) == 1
    assert locked[0]["data"]["locked_until"] == pytest.approx(clock() + s.user_lockout_seconds)
    assert locked[0]["error_code"] == "invalid_otp"
    # While locked, even a right code is refused, and recorded as such.
    tx = (await api.start("acme", "alice"))["transaction_token"]
    await verify(api, tx, "000000", "while-locked")
    last = (await trail(api, tenant, type="auth.failed"))[-1]
    assert last["outcome"] == "locked" and last["request_id"] == "while-locked"



async def test_a_lockout_that_runs_out_is_recorded_as_ended_once(
    api: Api, tenant: str, clock: FrozenClock, service: MFAService
) -> None:
    await enroll(api, clock, "alice")
    s = service.settings
    for n in range(s.user_failed_attempts_limit):
        if n % (s.otp_attempts_per_transaction - 1) == 0:
            tx = (await api.start("acme", "alice"))["transaction_token"]
        await verify(api, tx, "000000", f"w{n}")
    (locked,) = await trail(api, tenant, type="user.locked")
    until = locked["data"]["locked_until"]
    # Still running: no end yet, however often the relay looks.
    clock.advance(s.user_lockout_seconds - 1)
    assert await trail(api, tenant, type="user.unlocked") == []
    clock.advance(2)
    (ended,) = await trail(api, tenant, type="user.unlocked")
    assert ended["user_id"] == "alice" and ended["outcome"] == "unlocked"
    assert ended["enrollment_id"] == locked["enrollment_id"] and ended["method"] == "otp"
    assert ended["data"] == {"lock_event_id": locked["id"]}
    assert ended["time"] == iso(until)
    # Recorded once: later rounds (any worker's) add nothing.
    await trail(api, tenant)
    assert len(await trail(api, tenant, type="user.unlocked")) == 1


async def test_filters_and_cursor_pagination(api: Api, tenant: str, clock: FrozenClock) -> None:
    for user in ("alice", "bob", "carol"):
        await enroll(api, clock, user)
    everything = await trail(api, tenant)
    assert len(everything) == 6
    bobs = await trail(api, tenant, user_id="bob")
    assert {e["user_id"] for e in bobs} == {"bob"} and len(bobs) == 2
    confirmed = await trail(api, tenant, type="enrollment.confirmed")
    assert [e["user_id"] for e in confirmed] == ["alice", "bob", "carol"]
    later = await trail(api, tenant, since=everything[2]["time"])
    assert later and all(e["time"] >= everything[2]["time"] for e in later)

    seen: list[str] = []
    cursor: str | None = None
    while True:
        query = {"limit": "4", **({"cursor": cursor} if cursor else {})}
        r = await api.http.get("/api/tenants/acme/events", params=query, headers=api.admin)
        page = r.json()
        seen += [e["id"] for e in page["events"]]
        cursor = page["next_cursor"]
        if not page["events"]:
            break
    assert seen == [e["id"] for e in everything]
    # The last cursor is where new events appear: a poller misses none.
    await enroll(api, clock, "dave")
    await moved(api.service)
    r = await api.http.get("/api/tenants/acme/events", params={"cursor": cursor}, headers=api.admin)
    assert [e["user_id"] for e in r.json()["events"]] == ["dave", "dave"]


@pytest.mark.parametrize(
    "query",
    [
        {"cursor": "not-a-cursor"},
        {"type": "no.such"},
        {"since": "yesterday"},
        {"limit": "0"},
        {"limit": "5000"},
        {"colour": "blue"},
    ],
)
async def test_bad_queries_are_contract_errors(
    api: Api, tenant: str, query: dict[str, str]
) -> None:
    r = await api.http.get("/api/tenants/acme/events", params=query, headers=api.admin)
    assert r.status_code == 400, r.text
    assert r.json()["errorCode"] == "invalid_query_string"


async def test_backend_actions_record_the_acting_key(api: Api, tenant: str) -> None:
    r = await api.http.post(
        "/api/tenants/acme/api-keys",
        json={"name": "ops", "scopes": ["factors:write", "events:read", "keys:write"]},
        headers=api.admin,
    )
    assert r.status_code == 201, r.text
    key_id, key = r.json()["key_id"], r.json()["key"]
    tenant_key = {"Authorization": f"Bearer {key}"}
    r = await api.http.put(
        "/api/tenants/acme/factors/sms", json={"enabled": False}, headers=tenant_key
    )
    assert r.status_code == 200, r.text
    r = await api.http.delete(f"/api/tenants/acme/api-keys/{key_id}", headers=api.admin)
    assert r.status_code == 204
    events = await trail(api, tenant)
    created, changed, revoked = events
    assert created["type"] == "api_key.created" and created["actor"] == "operator"
    assert created["data"] == {
        "key_id": key_id,
        "scopes": ["events:read", "factors:write", "keys:write"],
    }
    assert changed["type"] == "tenant.settings_changed" and changed["actor"] == key_id
    assert changed["data"] == {"factors": {"sms": False}}
    assert revoked["type"] == "api_key.revoked" and revoked["data"] == {"key_id": key_id}
    assert key not in json.dumps(events)


async def test_a_tenant_key_reads_only_its_own_trail(api: Api, tenant: str) -> None:
    await api.tenant("other", "Other")
    r = await api.http.post(
        "/api/tenants/other/api-keys",
        json={"name": "reader", "scopes": ["events:read"]},
        headers=api.admin,
    )
    other_key = {"Authorization": f"Bearer {r.json()['key']}"}
    r = await api.http.get("/api/tenants/acme/events", headers=other_key)
    assert r.status_code == 403 and r.json()["errorCode"] == "insufficient_scope"
    r = await api.http.get("/api/tenants/other/events", headers=other_key)
    assert r.status_code == 200


async def test_retention_drops_old_events(
    api: Api, tenant: str, clock: FrozenClock, service: MFAService
) -> None:
    await enroll(api, clock, "alice")
    await moved(service)
    clock.advance(service.settings.events_retention_days * 86400 + 1)
    assert (
        await service.durable.prune_events(clock() - service.settings.events_retention_days * 86400)
        == 2
    )
    assert await trail(api, tenant) == []
