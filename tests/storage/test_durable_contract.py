"""The DurableStore contract, run against SQLite and real PostgreSQL."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

from mfa.storage import (
    DEFAULT_QUOTAS,
    ApiKey,
    Conflict,
    DurableStore,
    Enrollment,
    Quota,
    SqlDurableStore,
    Tenant,
)
from tests.storage.conftest import DurableEnv

pytestmark = pytest.mark.anyio


def api_key(key_id: str, tenant_id: str | None, *, secret: str | None = None) -> ApiKey:
    secret = secret or f"mfa_{key_id}_secret"
    return ApiKey(
        key_id=key_id,
        tenant_id=tenant_id,
        name=f"key {key_id}",
        scopes=frozenset({"tenants:read", "factors:write"}),
        key_hash=hashlib.sha256(secret.encode()).digest(),
    )


def enrollment(eid: str, user: str, tenant: str = "acme", **kw: Any) -> Enrollment:
    fields: dict[str, Any] = {
        "methods": ("otp",),
        "totp_secret": b"\x01sealed-seed",
        "recovery_code_hash": "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA",
    }
    fields.update(kw)
    return Enrollment(enrollment_id=eid, tenant_id=tenant, user_id=user, **fields)


def aware_utc_now(value: datetime | None) -> bool:
    now = datetime.now(UTC)
    return value is not None and value.tzinfo is not None and abs(value - now) < timedelta(60)


async def test_is_a_durable_store(durable: SqlDurableStore) -> None:
    assert isinstance(durable, DurableStore)
    await durable.ping()


# --------------------------------------------------------------------------- tenants


async def test_tenant_round_trip(durable: SqlDurableStore) -> None:
    created = await durable.create_tenant(Tenant("acme", "Acme Inc."))
    assert aware_utc_now(created.created_at)
    assert created.created_at is not None and created.created_at.utcoffset() == timedelta(0)
    assert await durable.get_tenant("acme") == created
    assert created.quotas == DEFAULT_QUOTAS and created.factors["otp"] is True
    assert await durable.get_tenant("nope") is None
    with pytest.raises(Conflict):
        await durable.create_tenant(Tenant("acme", "Again"))


async def test_tenant_keeps_given_settings(durable: SqlDurableStore) -> None:
    when = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    tenant = Tenant(
        "globex",
        "Globex",
        factors={"otp": True, "sms": False, "push": True, "recovery-code": True},
        features={"enrollment": False, "device_management": True, "push_number_matching": True},
        quotas={**DEFAULT_QUOTAS, "sms_per_user": Quota(3, 600)},
        sms_otp_length=8,
        created_at=when,
    )
    assert await durable.create_tenant(tenant) == tenant
    assert await durable.get_tenant("globex") == tenant


async def test_list_tenants(durable: SqlDurableStore) -> None:
    for tid in ("b-corp", "a-corp", "c-corp"):
        await durable.create_tenant(Tenant(tid, tid.upper()))
    assert [t.tenant_id for t in await durable.list_tenants()] == ["a-corp", "b-corp", "c-corp"]


async def test_update_tenant_merges(durable: SqlDurableStore) -> None:
    await durable.create_tenant(Tenant("acme", "Acme"))
    updated = await durable.update_tenant(
        "acme", factors={"sms": False}, quotas={"pn_per_user": Quota(5, 60)}
    )
    assert updated is not None
    assert updated.factors == {"otp": True, "sms": False, "push": True, "recovery-code": True}
    assert updated.quotas["pn_per_user"] == Quota(5, 60)
    assert updated.quotas["sms_per_user"] == DEFAULT_QUOTAS["sms_per_user"]
    updated = await durable.update_tenant("acme", features={"enrollment": False}, sms_otp_length=7)
    assert updated is not None and updated.factors["sms"] is False
    assert updated.features == {
        "enrollment": False,
        "device_management": True,
        "push_number_matching": False,  # the opt-in push-fatigue feature: off by default
    }
    assert updated.sms_otp_length == 7
    assert await durable.get_tenant("acme") == updated
    assert await durable.update_tenant("nope", factors={"otp": False}) is None


async def test_concurrent_tenant_updates_lose_nothing(durable: SqlDurableStore) -> None:
    await durable.create_tenant(Tenant("acme", "Acme"))
    names = ["otp", "sms", "push", "recovery-code"]

    async def switch_off(name: str) -> None:
        await durable.update_tenant("acme", factors={name: False})

    async with anyio.create_task_group() as tg:
        for name in names:
            tg.start_soon(switch_off, name)
    tenant = await durable.get_tenant("acme")
    assert tenant is not None and not any(tenant.factors[n] for n in names)


async def test_delete_tenant_takes_its_keys_and_enrollments(durable: SqlDurableStore) -> None:
    for tid in ("acme", "globex"):
        await durable.create_tenant(Tenant(tid, tid))
        await durable.create_api_key(api_key(f"key_{tid}", tid))
        await durable.create_enrollment(enrollment(f"enr_{tid}", "alice", tid))
    await durable.create_api_key(api_key("key_operator", None))

    assert await durable.delete_tenant("acme")
    assert not await durable.delete_tenant("acme")
    assert await durable.get_tenant("acme") is None
    assert await durable.list_api_keys("acme") == []
    assert await durable.find_api_key(api_key("key_acme", "acme").key_hash) is None
    assert await durable.get_enrollment("acme", "enr_acme") is None
    # Nothing else is touched.
    assert await durable.get_enrollment("globex", "enr_globex") is not None
    assert [k.key_id for k in await durable.list_api_keys("globex")] == ["key_globex"]
    assert [k.key_id for k in await durable.list_api_keys(None)] == ["key_operator"]


# --------------------------------------------------------------------------- API keys


async def test_api_keys(durable: SqlDurableStore) -> None:
    await durable.create_tenant(Tenant("acme", "Acme"))
    key = api_key("key_1", "acme")
    await durable.create_api_key(key)
    await durable.create_api_key(api_key("key_2", "acme"))
    await durable.create_api_key(api_key("key_op", None))

    found = await durable.find_api_key(key.key_hash)
    assert found is not None
    assert (found.key_id, found.tenant_id, found.scopes) == ("key_1", "acme", key.scopes)
    assert found.key_hash == key.key_hash and aware_utc_now(found.created_at)
    assert await durable.find_api_key(hashlib.sha256(b"wrong").digest()) is None
    assert [k.key_id for k in await durable.list_api_keys("acme")] == ["key_1", "key_2"]
    assert [k.key_id for k in await durable.list_api_keys(None)] == ["key_op"]

    # A key is deleted only through its own tenant (None: operator-wide keys).
    assert not await durable.delete_api_key("globex", "key_1")
    assert not await durable.delete_api_key(None, "key_1")
    assert not await durable.delete_api_key("acme", "key_op")
    assert await durable.delete_api_key("acme", "key_1")
    assert await durable.delete_api_key(None, "key_op")
    assert not await durable.delete_api_key("acme", "key_1")
    assert [k.key_id for k in await durable.list_api_keys("acme")] == ["key_2"]


async def test_api_key_conflicts(durable: SqlDurableStore) -> None:
    await durable.create_tenant(Tenant("acme", "Acme"))
    await durable.create_api_key(api_key("key_1", "acme", secret="s1"))
    with pytest.raises(Conflict):
        await durable.create_api_key(api_key("key_1", "acme", secret="s2"))  # same id
    with pytest.raises(Conflict):
        await durable.create_api_key(api_key("key_2", "acme", secret="s1"))  # same hash
    with pytest.raises(Conflict):
        await durable.create_api_key(api_key("key_3", "no-such-tenant"))


# --------------------------------------------------------------------------- enrollments


async def test_enrollment_round_trip(durable: SqlDurableStore) -> None:
    await durable.create_tenant(Tenant("acme", "Acme"))
    record = enrollment(
        "enr_1",
        "alice",
        methods=("otp", "push"),
        phone_number=b"\x02sealed-phone",
        phone_masked="XXXXXXXX0123",
        name="Alice's phone",
        device_identifier="ios-1",
        device_public_key={"kty": "EC", "crv": "P-256", "x": "abc", "y": "def"},
        push_service="APNS",
        push_token=b"\x03sealed-token",
        device_token_hash=hashlib.sha256(b"device token").digest(),
    )
    await durable.create_enrollment(record)
    got = await durable.get_enrollment("acme", "enr_1")
    assert got is not None
    assert aware_utc_now(got.created_at) and got.updated_at == got.created_at
    assert got == dataclasses.replace(record, created_at=got.created_at, updated_at=got.updated_at)
    assert await durable.get_user_enrollment("acme", "alice") == got
    assert await durable.get_user_enrollment("acme", "bob") is None
    assert await durable.get_enrollment("globex", "enr_1") is None  # tenants walled off
    assert await durable.get_user_enrollment("globex", "alice") is None


async def test_one_enrollment_per_user(durable: SqlDurableStore) -> None:
    for tid in ("acme", "globex"):
        await durable.create_tenant(Tenant(tid, tid))
    await durable.create_enrollment(enrollment("enr_1", "alice"))
    with pytest.raises(Conflict):
        await durable.create_enrollment(enrollment("enr_2", "alice"))
    with pytest.raises(Conflict):
        await durable.create_enrollment(enrollment("enr_1", "bob"))  # same id
    with pytest.raises(Conflict):
        await durable.create_enrollment(enrollment("enr_3", "carol", "no-such-tenant"))
    await durable.create_enrollment(enrollment("enr_4", "alice", "globex"))  # other tenant


async def test_concurrent_enrollments_of_one_user(durable: SqlDurableStore) -> None:
    await durable.create_tenant(Tenant("acme", "Acme"))
    outcomes: list[str] = []

    async def enroll(i: int) -> None:
        try:
            await durable.create_enrollment(enrollment(f"enr_{i}", "alice"))
            outcomes.append("created")
        except Conflict:
            outcomes.append("conflict")

    async with anyio.create_task_group() as tg:
        for i in range(8):
            tg.start_soon(enroll, i)
    assert sorted(outcomes) == ["conflict"] * 7 + ["created"]


async def test_update_enrollment(durable: SqlDurableStore) -> None:
    await durable.create_tenant(Tenant("acme", "Acme"))
    await durable.create_enrollment(enrollment("enr_1", "alice"))
    before = await durable.get_enrollment("acme", "enr_1")
    assert before is not None
    updated = await durable.update_enrollment(
        "acme",
        "enr_1",
        {"methods": ["otp", "sms"], "status": "pn_disabled", "phone_number": b"\x09p"},
    )
    assert updated is not None
    assert updated.methods == ("otp", "sms") and updated.status == "pn_disabled"
    assert updated.phone_number == b"\x09p" and updated.totp_secret == before.totp_secret
    assert updated.created_at == before.created_at
    assert updated.updated_at is not None and before.updated_at is not None
    assert updated.updated_at >= before.updated_at
    assert await durable.get_enrollment("acme", "enr_1") == updated
    cleared = await durable.update_enrollment("acme", "enr_1", {"phone_number": None})
    assert cleared is not None and cleared.phone_number is None
    assert await durable.update_enrollment("globex", "enr_1", {"name": "x"}) is None
    assert await durable.update_enrollment("acme", "missing", {"name": "x"}) is None
    with pytest.raises(ValueError, match="tenant_id"):
        await durable.update_enrollment("acme", "enr_1", {"tenant_id": "globex"})
    with pytest.raises(ValueError, match="colour"):
        await durable.update_enrollment("acme", "enr_1", {"colour": "blue"})


async def test_swap_recovery_hash(durable: SqlDurableStore) -> None:
    await durable.create_tenant(Tenant("acme", "Acme"))
    record = enrollment("enr_1", "alice")
    await durable.create_enrollment(record)
    old = record.recovery_code_hash
    assert old is not None
    assert not await durable.swap_recovery_hash("acme", "enr_1", "not-the-hash", "new")
    assert not await durable.swap_recovery_hash("globex", "enr_1", old, "new")
    assert await durable.swap_recovery_hash("acme", "enr_1", old, "new")
    assert not await durable.swap_recovery_hash("acme", "enr_1", old, "newer")
    got = await durable.get_enrollment("acme", "enr_1")
    assert got is not None and got.recovery_code_hash == "new"


async def test_concurrent_recovery_swaps_have_one_winner(durable: SqlDurableStore) -> None:
    await durable.create_tenant(Tenant("acme", "Acme"))
    record = enrollment("enr_1", "alice")
    await durable.create_enrollment(record)
    old = record.recovery_code_hash
    assert old is not None
    wins: list[str] = []

    async def use(i: int) -> None:
        if await durable.swap_recovery_hash("acme", "enr_1", old, f"new-{i}"):
            wins.append(f"new-{i}")

    async with anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(use, i)
    assert len(wins) == 1
    got = await durable.get_enrollment("acme", "enr_1")
    assert got is not None and got.recovery_code_hash == wins[0]


async def test_recovery_handover_life(durable: SqlDurableStore) -> None:
    """rotate keeps the used hash and the sealed new code; one claimer wins a
    claim; end forgets it; undo and reset put a hash back without a handover."""
    await durable.create_tenant(Tenant("acme", "Acme"))
    record = enrollment("enr_1", "alice")
    await durable.create_enrollment(record)
    old = record.recovery_code_hash
    assert old is not None
    t0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert await durable.get_recovery_handover("acme", "enr_1") is None
    assert not await durable.rotate_recovery_code("acme", "enr_1", "nope", "new", b"s", t0)
    assert await durable.rotate_recovery_code("acme", "enr_1", old, "new", b"sealed", t0)
    handover = await durable.get_recovery_handover("acme", "enr_1")
    assert handover is not None
    assert (handover.used_hash, handover.sealed_code, handover.since) == (old, b"sealed", t0)
    got = await durable.get_enrollment("acme", "enr_1")
    assert got is not None and got.recovery_code_hash == "new"

    t1 = t0 + timedelta(seconds=30)
    results: list[bool] = []

    async def claim() -> None:
        results.append(await durable.claim_recovery_handover("acme", "enr_1", t0, t1))

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(claim)
    assert sorted(results) == [False] * 4 + [True]
    handover = await durable.get_recovery_handover("acme", "enr_1")
    assert handover is not None and handover.since == t1

    await durable.end_recovery_handover("acme", "enr_1")
    assert await durable.get_recovery_handover("acme", "enr_1") is None

    assert await durable.rotate_recovery_code("acme", "enr_1", "new", "newer", b"x", t1)
    assert not await durable.undo_recovery_rotation("acme", "enr_1", "other", "new")
    assert await durable.undo_recovery_rotation("acme", "enr_1", "newer", "new")
    assert await durable.get_recovery_handover("acme", "enr_1") is None
    assert await durable.rotate_recovery_code("acme", "enr_1", "new", "n2", b"x", t1)
    assert await durable.reset_recovery_code("acme", "enr_1", "admin-made")
    assert await durable.get_recovery_handover("acme", "enr_1") is None
    got = await durable.get_enrollment("acme", "enr_1")
    assert got is not None and got.recovery_code_hash == "admin-made"


async def test_totp_steps_only_move_forward(durable: SqlDurableStore) -> None:
    await durable.create_tenant(Tenant("acme", "Acme"))
    await durable.create_enrollment(enrollment("enr_1", "alice"))
    await durable.create_enrollment(enrollment("enr_2", "bob"))
    await durable.record_enrollment_activity([], [], [("acme", "enr_1", 100), ("acme", "enr_2", 7)])
    await durable.record_enrollment_activity(
        [], [], [("acme", "enr_1", 90), ("globex", "enr_2", 500)]
    )
    one = await durable.get_enrollment("acme", "enr_1")
    two = await durable.get_enrollment("acme", "enr_2")
    assert one is not None and one.totp_last_step == 100
    assert two is not None and two.totp_last_step == 7


async def test_enrollment_activity_is_recorded_without_touching_updated_at(
    durable: SqlDurableStore,
) -> None:
    await durable.create_tenant(Tenant("acme", "Acme"))
    await durable.create_enrollment(enrollment("enr_1", "alice"))
    await durable.create_enrollment(enrollment("enr_2", "bob"))
    before = await durable.get_enrollment("acme", "enr_1")
    used = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    error = {"code": "invalid_otp", "at": "2026-11-30T12:01:00Z", "method": "otp"}
    await durable.record_enrollment_activity(
        [("acme", "enr_1", used), ("globex", "enr_2", used)],
        [("acme", "enr_2", error), ("acme", "enr_missing", error)],
    )
    await durable.record_enrollment_activity([], [])
    one = await durable.get_enrollment("acme", "enr_1")
    two = await durable.get_enrollment("acme", "enr_2")
    assert before is not None and one is not None and two is not None
    assert one.last_used_at == used and one.last_error is None
    assert one.updated_at == before.updated_at
    assert two.last_used_at is None and two.last_error == error


async def test_activity_and_totp_steps_are_written_together(durable: SqlDurableStore) -> None:
    """A login's step and last use go in one call (mfa.activity); steps still only
    move forward."""
    await durable.create_tenant(Tenant("acme", "Acme"))
    await durable.create_enrollment(enrollment("enr_1", "alice"))
    await durable.create_enrollment(enrollment("enr_2", "bob"))
    used = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    await durable.record_enrollment_activity([], [], [("acme", "enr_2", 50)])
    await durable.record_enrollment_activity(
        [("acme", "enr_1", used)], [], [("acme", "enr_1", 100), ("acme", "enr_2", 40)]
    )
    await durable.record_enrollment_activity([], [], [("acme", "enr_2", 60)])
    one = await durable.get_enrollment("acme", "enr_1")
    two = await durable.get_enrollment("acme", "enr_2")
    assert one is not None and one.last_used_at == used and one.totp_last_step == 100
    assert two is not None and two.last_used_at is None and two.totp_last_step == 60


async def test_delete_enrollment(durable: SqlDurableStore) -> None:
    await durable.create_tenant(Tenant("acme", "Acme"))
    await durable.create_enrollment(enrollment("enr_1", "alice"))
    assert not await durable.delete_enrollment("globex", "enr_1")
    assert await durable.delete_enrollment("acme", "enr_1")
    assert not await durable.delete_enrollment("acme", "enr_1")
    assert await durable.get_user_enrollment("acme", "alice") is None
    await durable.create_enrollment(enrollment("enr_2", "alice"))  # may enroll again


# --------------------------------------------------------------------------- restart


async def test_data_survives_a_restart(durable_env: DurableEnv) -> None:
    store = durable_env.store
    tenant = await store.create_tenant(Tenant("acme", "Acme", sms_otp_length=8))
    key = api_key("key_1", "acme")
    await store.create_api_key(key)
    await store.create_enrollment(enrollment("enr_1", "alice"))
    before = await store.get_enrollment("acme", "enr_1")
    await store.close()

    async with SqlDurableStore(durable_env.url) as reopened:
        assert await reopened.get_tenant("acme") == tenant
        found = await reopened.find_api_key(key.key_hash)
        assert found is not None and found.key_id == "key_1"
        assert await reopened.get_enrollment("acme", "enr_1") == before


async def test_closed_store_refuses_calls(durable_env: DurableEnv) -> None:
    await durable_env.store.close()
    with pytest.raises(RuntimeError, match="open"):
        await durable_env.store.get_tenant("acme")
