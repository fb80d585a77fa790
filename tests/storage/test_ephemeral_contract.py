"""The EphemeralStore contract, run against the in-process store and real Redis."""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import pytest

from mfa.storage import AttemptLimits, AttemptOutcome, EphemeralStore, Quota, Transaction
from tests.storage.conftest import EphemeralEnv

pytestmark = pytest.mark.anyio

T = "acme"
LIMITS = AttemptLimits(per_transaction=3, per_user=5, lockout_seconds=60)


def new_tx(env: EphemeralEnv, *, ttl: float = 60, tenant: str = T, **kw: Any) -> Transaction:
    fields: dict[str, Any] = {"user_id": "alice", "kind": "auth", "data": {"phone": "sealed"}}
    fields.update(kw)
    return Transaction(
        txid=uuid.uuid4().hex, tenant_id=tenant, expires_at=env.now() + ttl, **fields
    )


async def make_tx(env: EphemeralEnv, **kw: Any) -> Transaction:
    tx = new_tx(env, **kw)
    await env.store.create_transaction(tx)
    return tx


async def attempt(
    store: EphemeralStore,
    tx: Transaction,
    ok: bool,
    limits: AttemptLimits = LIMITS,
    **kw: Any,
) -> AttemptOutcome:
    return await store.record_attempt(tx.tenant_id, tx.txid, tx.user_id, ok=ok, limits=limits, **kw)


async def test_is_an_ephemeral_store(ephemeral: EphemeralEnv) -> None:
    assert isinstance(ephemeral.store, EphemeralStore)
    await ephemeral.store.ping()


# --------------------------------------------------------------------------- transactions


async def test_transaction_round_trip(ephemeral: EphemeralEnv) -> None:
    data = {
        "nested": {"list": [1, "two", None], "empty_list": [], "empty": {}},
        "big": 2**62 + 1,
        "float": 0.1,
        "text": "héllo ✓",
        "null": None,
    }
    tx = new_tx(
        ephemeral,
        kind="enroll",
        enrollment={"id": "dev_1", "methods": ["otp"]},
        data=data,
        attempts=0,
    )
    await ephemeral.store.create_transaction(tx)
    assert await ephemeral.store.get_transaction(T, tx.txid) == tx
    assert await ephemeral.store.get_transaction("other-tenant", tx.txid) is None
    assert await ephemeral.store.get_transaction(T, "no-such-tx") is None


async def test_transaction_expires(ephemeral: EphemeralEnv) -> None:
    tx = await make_tx(ephemeral, ttl=1)
    late = await make_tx(ephemeral, ttl=-5)  # already over: never visible
    assert await ephemeral.store.get_transaction(T, tx.txid) is not None
    assert await ephemeral.store.get_transaction(T, late.txid) is None
    # The update keeps the TTL: the transaction still dies at its expiry.
    assert await ephemeral.store.update_transaction(T, tx.txid, data={"k": 1})
    await ephemeral.advance(1.1)
    assert await ephemeral.store.get_transaction(T, tx.txid) is None
    assert not await ephemeral.store.update_transaction(T, tx.txid, data={"k": 2})
    assert await attempt(ephemeral.store, tx, True) is AttemptOutcome.GONE


async def test_update_transaction_sets_and_merges(ephemeral: EphemeralEnv) -> None:
    store = ephemeral.store
    tx = await make_tx(ephemeral, data={"a": 1, "b": [1, 2]})
    assert await store.update_transaction(T, tx.txid, data={"b": [], "c": {"x": None}})
    assert await store.update_transaction(
        T, tx.txid, state="accepted", enrollment={"id": "e1"}, token="sig"
    )
    got = await store.get_transaction(T, tx.txid)
    assert got is not None
    assert got.data == {"a": 1, "b": [], "c": {"x": None}}
    assert (got.state, got.enrollment, got.token) == ("accepted", {"id": "e1"}, "sig")
    assert got.expires_at == tx.expires_at and got.user_id == "alice"


async def test_update_transaction_only_if_pending(ephemeral: EphemeralEnv) -> None:
    store = ephemeral.store
    tx = await make_tx(ephemeral)
    assert await store.update_transaction(T, tx.txid, state="rejected")
    assert not await store.update_transaction(T, tx.txid, state="accepted")
    assert not await store.update_transaction(T, tx.txid, data={"late": True})
    got = await store.get_transaction(T, tx.txid)
    assert got is not None and got.state == "rejected" and "late" not in got.data
    assert await store.update_transaction(T, tx.txid, data={"late": True}, only_if_pending=False)
    got = await store.get_transaction(T, tx.txid)
    assert got is not None and got.data["late"] is True
    assert not await store.update_transaction(T, "missing", state="accepted", only_if_pending=False)


async def test_delete_transaction(ephemeral: EphemeralEnv) -> None:
    tx = await make_tx(ephemeral)
    await ephemeral.store.delete_transaction(T, tx.txid)
    assert await ephemeral.store.get_transaction(T, tx.txid) is None
    await ephemeral.store.delete_transaction(T, tx.txid)  # idempotent


# --------------------------------------------------------------------------- attempts


async def test_attempt_accepted_applies_on_success(ephemeral: EphemeralEnv) -> None:
    store = ephemeral.store
    tx = await make_tx(ephemeral)
    on_success = {
        "state": "accepted",
        "token": "signature",
        "enrollment": {"id": "dev_1"},
        "data": {"method": "otp"},
    }
    assert await attempt(store, tx, True, on_success=on_success) is AttemptOutcome.ACCEPTED
    got = await store.get_transaction(T, tx.txid)
    assert got is not None
    assert (got.state, got.token, got.enrollment) == ("accepted", "signature", {"id": "dev_1"})
    assert got.data == {"phone": "sealed", "method": "otp"}
    # No longer pending: any further code finds nothing to decide on.
    assert await attempt(store, tx, True) is AttemptOutcome.GONE
    assert await attempt(store, tx, False) is AttemptOutcome.GONE


async def test_attempt_without_on_success_leaves_tx_pending(ephemeral: EphemeralEnv) -> None:
    tx = await make_tx(ephemeral)
    assert await attempt(ephemeral.store, tx, True) is AttemptOutcome.ACCEPTED
    got = await ephemeral.store.get_transaction(T, tx.txid)
    assert got is not None and got.state == "pending"


async def test_attempt_on_missing_transaction(ephemeral: EphemeralEnv) -> None:
    tx = new_tx(ephemeral)  # never stored
    assert await attempt(ephemeral.store, tx, True) is AttemptOutcome.GONE
    assert await attempt(ephemeral.store, tx, False) is AttemptOutcome.GONE


async def test_wrong_codes_kill_the_transaction(ephemeral: EphemeralEnv) -> None:
    store = ephemeral.store
    tx = await make_tx(ephemeral)
    assert await attempt(store, tx, False) is AttemptOutcome.INVALID
    assert await attempt(store, tx, False) is AttemptOutcome.INVALID
    got = await store.get_transaction(T, tx.txid)
    assert got is not None and got.attempts == 2
    assert await attempt(store, tx, False) is AttemptOutcome.KILLED
    assert await store.get_transaction(T, tx.txid) is None
    assert await attempt(store, tx, True) is AttemptOutcome.GONE


async def test_user_lockout_spans_transactions(ephemeral: EphemeralEnv) -> None:
    store = ephemeral.store
    limits = AttemptLimits(per_transaction=10, per_user=3, lockout_seconds=60)
    tx1, tx2 = await make_tx(ephemeral), await make_tx(ephemeral)
    assert await attempt(store, tx1, False, limits) is AttemptOutcome.INVALID
    assert await attempt(store, tx1, False, limits) is AttemptOutcome.INVALID
    # The third wrong code starts the lockout; it is itself still just invalid.
    assert await attempt(store, tx2, False, limits) is AttemptOutcome.INVALID
    assert await attempt(store, tx2, True, limits) is AttemptOutcome.LOCKED
    assert await attempt(store, await make_tx(ephemeral), True, limits) is AttemptOutcome.LOCKED
    got = await store.get_transaction(T, tx2.txid)
    assert got is not None and got.attempts == 1  # LOCKED is not evaluated, not counted
    # Other users, and the same user id in another tenant, are not affected.
    bob = await make_tx(ephemeral, user_id="bob")
    assert await attempt(store, bob, True, limits) is AttemptOutcome.ACCEPTED
    elsewhere = await make_tx(ephemeral, tenant="globex")
    assert await attempt(store, elsewhere, True, limits) is AttemptOutcome.ACCEPTED


async def test_lockout_ends(ephemeral: EphemeralEnv) -> None:
    store = ephemeral.store
    limits = AttemptLimits(per_transaction=10, per_user=1, lockout_seconds=1)
    tx = await make_tx(ephemeral)
    assert await attempt(store, tx, False, limits) is AttemptOutcome.INVALID
    assert await attempt(store, tx, True, limits) is AttemptOutcome.LOCKED
    await ephemeral.advance(1.1)
    assert await attempt(store, tx, True, limits) is AttemptOutcome.ACCEPTED


async def test_user_failures_are_counted_in_a_window(ephemeral: EphemeralEnv) -> None:
    store = ephemeral.store
    limits = AttemptLimits(per_transaction=10, per_user=2, lockout_seconds=1)
    tx = await make_tx(ephemeral)
    assert await attempt(store, tx, False, limits) is AttemptOutcome.INVALID
    await ephemeral.advance(1.1)  # the window of that failure is over
    assert await attempt(store, tx, False, limits) is AttemptOutcome.INVALID
    assert await attempt(store, tx, True, limits) is AttemptOutcome.ACCEPTED


async def test_success_clears_the_user_failures(ephemeral: EphemeralEnv) -> None:
    store = ephemeral.store
    limits = AttemptLimits(per_transaction=10, per_user=3, lockout_seconds=60)
    for _ in range(3):
        tx = await make_tx(ephemeral)
        assert await attempt(store, tx, False, limits) is AttemptOutcome.INVALID
        assert await attempt(store, tx, False, limits) is AttemptOutcome.INVALID
        assert await attempt(store, tx, True, limits) is AttemptOutcome.ACCEPTED


async def test_totp_replay(ephemeral: EphemeralEnv) -> None:
    store = ephemeral.store
    first = await make_tx(ephemeral)
    replay: dict[str, Any] = {"replay_key": "enr_1", "replay_step": 1000}
    assert await attempt(store, first, True, **replay) is AttemptOutcome.ACCEPTED
    second = await make_tx(ephemeral)
    assert await attempt(store, second, True, **replay) is AttemptOutcome.REPLAY
    older: dict[str, Any] = {"replay_key": "enr_1", "replay_step": 999}
    assert await attempt(store, second, True, **older) is AttemptOutcome.REPLAY
    got = await store.get_transaction(T, second.txid)
    assert got is not None and got.attempts == 2 and got.state == "pending"
    newer: dict[str, Any] = {"replay_key": "enr_1", "replay_step": 1001}
    assert await attempt(store, second, True, **newer) is AttemptOutcome.ACCEPTED
    # Marks are per key: another enrollment may use the same step.
    other = await make_tx(ephemeral, user_id="bob")
    mark: dict[str, Any] = {"replay_key": "enr_2", "replay_step": 1000}
    assert await attempt(store, other, True, **mark) is AttemptOutcome.ACCEPTED


async def test_replays_count_like_wrong_codes(ephemeral: EphemeralEnv) -> None:
    store = ephemeral.store
    limits = AttemptLimits(per_transaction=2, per_user=10, lockout_seconds=60)
    replay: dict[str, Any] = {"replay_key": "enr_1", "replay_step": 7}
    assert await attempt(store, await make_tx(ephemeral), True, limits, **replay) is (
        AttemptOutcome.ACCEPTED
    )
    tx = await make_tx(ephemeral)
    assert await attempt(store, tx, True, limits, **replay) is AttemptOutcome.REPLAY
    assert await attempt(store, tx, True, limits, **replay) is AttemptOutcome.KILLED
    assert await store.get_transaction(T, tx.txid) is None


async def test_attempt_arguments_are_checked(ephemeral: EphemeralEnv) -> None:
    tx = await make_tx(ephemeral)
    with pytest.raises(ValueError, match="replay"):
        await attempt(ephemeral.store, tx, True, replay_key="enr_1")
    with pytest.raises(ValueError, match="on_success"):
        await attempt(ephemeral.store, tx, True, on_success={"attempts": 0})


async def test_concurrent_right_codes_accept_once(ephemeral: EphemeralEnv) -> None:
    store = ephemeral.store
    tx = await make_tx(ephemeral)
    replay: dict[str, Any] = {
        "replay_key": "enr_1",
        "replay_step": 5,
        "on_success": {"state": "accepted"},
    }
    results: list[AttemptOutcome] = []

    async def submit() -> None:
        results.append(await attempt(store, tx, True, **replay))

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(submit)
    assert results.count(AttemptOutcome.ACCEPTED) == 1
    assert set(results) == {AttemptOutcome.ACCEPTED, AttemptOutcome.GONE}


# --------------------------------------------------------------------------- tickets


async def test_tickets_open_once(ephemeral: EphemeralEnv) -> None:
    store = ephemeral.store
    value = {"tenant_id": T, "user_id": "alice", "n": [1, 2]}
    await store.put_ticket("tk_1", value, 60)
    assert await store.peek_ticket("tk_1") == value
    assert await store.peek_ticket("tk_1") == value
    assert await store.take_ticket("tk_1") == value
    assert await store.take_ticket("tk_1") is None
    assert await store.peek_ticket("tk_1") is None
    assert await store.take_ticket("never") is None


async def test_concurrent_takes_get_one_ticket(ephemeral: EphemeralEnv) -> None:
    await ephemeral.store.put_ticket("tk_race", {"x": 1}, 60)
    taken: list[dict[str, Any] | None] = []

    async def take() -> None:
        taken.append(await ephemeral.store.take_ticket("tk_race"))

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(take)
    assert [t for t in taken if t is not None] == [{"x": 1}]


async def test_tickets_expire(ephemeral: EphemeralEnv) -> None:
    await ephemeral.store.put_ticket("tk_short", {"x": 1}, 1)
    await ephemeral.advance(1.1)
    assert await ephemeral.store.peek_ticket("tk_short") is None
    assert await ephemeral.store.take_ticket("tk_short") is None


# --------------------------------------------------------------------------- quotas


async def consume(
    store: EphemeralStore, user: str, per_user: Quota, per_tenant: Quota, tenant: str = T
) -> tuple[bool, str | None, int]:
    d = await store.consume_quota(tenant, user, "sms", per_user, per_tenant)
    return d.granted, d.refused, d.retry_after


async def test_user_quota(ephemeral: EphemeralEnv) -> None:
    user, tenant = Quota(3, 3600), Quota(100, 86400)
    for _ in range(3):
        assert await consume(ephemeral.store, "alice", user, tenant) == (True, None, 0)
    granted, refused, retry_after = await consume(ephemeral.store, "alice", user, tenant)
    assert (granted, refused) == (False, "user")
    assert 3590 <= retry_after <= 3600
    # Another user, another channel, another tenant: their own counters.
    assert (await consume(ephemeral.store, "bob", user, tenant))[0]
    pn = await ephemeral.store.consume_quota(T, "alice", "pn", user, tenant)
    assert pn.granted
    assert (await consume(ephemeral.store, "alice", user, tenant, tenant="globex"))[0]


async def test_tenant_quota(ephemeral: EphemeralEnv) -> None:
    user, tenant = Quota(100, 3600), Quota(2, 86400)
    assert (await consume(ephemeral.store, "alice", user, tenant))[0]
    assert (await consume(ephemeral.store, "bob", user, tenant))[0]
    granted, refused, retry_after = await consume(ephemeral.store, "carol", user, tenant)
    assert (granted, refused) == (False, "tenant")
    assert 86390 <= retry_after <= 86400


async def test_both_exhausted_names_the_user(ephemeral: EphemeralEnv) -> None:
    quota = Quota(1, 60)
    assert (await consume(ephemeral.store, "alice", quota, quota))[0]
    assert (await consume(ephemeral.store, "alice", quota, quota))[:2] == (False, "user")
    assert (await consume(ephemeral.store, "bob", quota, quota))[:2] == (False, "tenant")


async def test_a_send_consumes_both_counters_or_neither(ephemeral: EphemeralEnv) -> None:
    store = ephemeral.store
    one, big = Quota(1, 3600), Quota(1000, 3600)
    # Tenant refusals leave bob's own counter untouched ...
    assert (await consume(store, "alice", big, one))[0]
    for _ in range(3):
        assert (await consume(store, "bob", one, one))[:2] == (False, "tenant")
    # ... so once the tenant has room (a raised limit), bob has his full quota of 1.
    assert (await consume(store, "bob", one, Quota(3, 3600)))[0]
    assert (await consume(store, "bob", one, Quota(3, 3600)))[:2] == (False, "user")
    # User refusals leave the tenant counter untouched: it holds 2 of 3, not 4.
    assert (await consume(store, "carol", big, Quota(3, 3600)))[0]
    assert (await consume(store, "dave", big, Quota(3, 3600)))[:2] == (False, "tenant")


async def test_quota_window_ends(ephemeral: EphemeralEnv) -> None:
    quota = Quota(1, 1)
    assert (await consume(ephemeral.store, "alice", quota, Quota(10, 3600)))[0]
    granted, refused, retry_after = await consume(ephemeral.store, "alice", quota, quota)
    assert (granted, refused, retry_after) == (False, "user", 1)
    await ephemeral.advance(1.1)
    assert (await consume(ephemeral.store, "alice", quota, Quota(10, 3600)))[0]


async def test_zero_limit(ephemeral: EphemeralEnv) -> None:
    assert await consume(ephemeral.store, "alice", Quota(0, 3600), Quota(5, 60)) == (
        False,
        "user",
        3600,
    )
    assert await consume(ephemeral.store, "alice", Quota(5, 60), Quota(0, 600)) == (
        False,
        "tenant",
        600,
    )


async def test_refund(ephemeral: EphemeralEnv) -> None:
    store = ephemeral.store
    user, tenant = Quota(2, 3600), Quota(2, 3600)
    # A refund with nothing consumed gives nothing: counters never go below zero.
    await store.refund_quota(T, "alice", "sms")
    assert (await consume(store, "alice", user, tenant))[0]
    assert (await consume(store, "alice", user, tenant))[0]
    assert not (await consume(store, "alice", user, tenant))[0]
    await store.refund_quota(T, "alice", "sms")
    assert (await consume(store, "alice", user, tenant))[0]
    assert (await consume(store, "alice", user, tenant))[:2] == (False, "user")
    # The refund gave back one unit of the tenant's counter too.
    await store.refund_quota(T, "alice", "sms")
    assert (await consume(store, "bob", user, tenant))[0]
    assert (await consume(store, "carol", user, tenant))[:2] == (False, "tenant")


# --------------------------------------------------------------------------- tenants


async def test_delete_tenant_data(ephemeral: EphemeralEnv) -> None:
    store = ephemeral.store
    lock = AttemptLimits(per_transaction=10, per_user=1, lockout_seconds=60)
    one = Quota(1, 3600)
    kept: dict[str, Transaction] = {}
    for tenant in (T, "globex"):
        kept[tenant] = await make_tx(ephemeral, tenant=tenant)
        assert await attempt(store, kept[tenant], False, lock) is AttemptOutcome.INVALID
        assert (await consume(store, "alice", one, one, tenant=tenant))[0]
    await store.put_ticket("tk_global", {"tenant_id": T}, 60)

    await store.delete_tenant_data(T)

    assert await store.get_transaction(T, kept[T].txid) is None
    tx = await make_tx(ephemeral)
    assert await attempt(store, tx, True, lock) is AttemptOutcome.ACCEPTED  # lock gone
    assert (await consume(store, "alice", one, one))[0]  # counters gone
    # The other tenant keeps everything.
    assert await store.get_transaction("globex", kept["globex"].txid) is not None
    assert await attempt(store, kept["globex"], True, lock) is AttemptOutcome.LOCKED
    assert not (await consume(store, "alice", one, one, tenant="globex"))[0]
    await store.delete_tenant_data("no-such-tenant")


# --------------------------------------------------------------------------- lockout read


async def test_lockout_remaining_reports_a_running_lockout(ephemeral: EphemeralEnv) -> None:
    store = ephemeral.store
    limits = AttemptLimits(per_transaction=10, per_user=2, lockout_seconds=2)
    assert await store.lockout_remaining(T, "alice") is None
    tx = await make_tx(ephemeral)
    assert await attempt(store, tx, False, limits) is AttemptOutcome.INVALID
    assert await store.lockout_remaining(T, "alice") is None  # one failure is no lockout
    assert await attempt(store, tx, False, limits) is AttemptOutcome.INVALID
    remaining = await store.lockout_remaining(T, "alice")
    assert remaining is not None and 1 < remaining <= 2
    assert await store.lockout_remaining(T, "bob") is None
    assert await store.lockout_remaining("globex", "alice") is None
    await ephemeral.advance(2.1)
    assert await store.lockout_remaining(T, "alice") is None
