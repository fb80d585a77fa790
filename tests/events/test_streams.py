"""The event stream of the ephemeral stores (one contract, both stores): what
``record_attempt`` and ``consume_quota`` append with their decisions, and reading
and acknowledging."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from mfa.names import Quota
from mfa.storage.base import AttemptEvent, AttemptLimits, AttemptOutcome, QuotaEvent, Transaction
from mfa.storage.protocols import EphemeralStore
from mfa.storage.redis import RedisEphemeralStore
from mfa.testing import FrozenClock
from tests.conftest import REDIS_URL, _drop_prefix

pytestmark = pytest.mark.anyio

LIMITS = AttemptLimits(per_transaction=3, per_user=4, lockout_seconds=900)


def attempt_event(n: int) -> AttemptEvent:
    return AttemptEvent(
        event_id=f"evt_{n}",
        time=1_700_000_000.0 + n,
        success_type="auth.succeeded",
        failure_type="auth.failed",
        failure_code="invalid_otp",
        fields={"user_id": "alice", "method": "otp", "request_id": f"r{n}"},
    )


async def new_tx(store: EphemeralStore, clock: FrozenClock) -> str:
    txid = "tx_" + uuid.uuid4().hex
    await store.create_transaction(Transaction(txid, "t1", "alice", "auth", clock() + 300))
    return txid


async def drain(store: EphemeralStore) -> list[dict[str, str]]:
    entries = await store.read_events("t1", "c1", 100)
    await store.ack_events("t1", [i for i, _ in entries])
    return [fields for _, fields in entries]


async def test_each_decision_appends_its_event(
    ephemeral: EphemeralStore, clock: FrozenClock
) -> None:
    tx = await new_tx(ephemeral, clock)
    outcome = await ephemeral.record_attempt(
        "t1", tx, "alice", ok=False, limits=LIMITS, event=attempt_event(1)
    )
    assert outcome is AttemptOutcome.INVALID
    outcome = await ephemeral.record_attempt(
        "t1",
        tx,
        "alice",
        ok=True,
        limits=LIMITS,
        on_success={"state": "accepted"},
        event=attempt_event(2),
    )
    assert outcome is AttemptOutcome.ACCEPTED
    # GONE decides nothing about a credential: no event.
    outcome = await ephemeral.record_attempt(
        "t1", tx, "alice", ok=True, limits=LIMITS, event=attempt_event(3)
    )
    assert outcome is AttemptOutcome.GONE
    failed, succeeded = await drain(ephemeral)
    assert failed["type"] == "auth.failed" and failed["outcome"] == "invalid"
    assert failed["error_code"] == "invalid_otp" and failed["id"] == "evt_1"
    assert failed["request_id"] == "r1" and failed["user_id"] == "alice"
    assert succeeded["type"] == "auth.succeeded" and succeeded["outcome"] == "accepted"
    assert succeeded["error_code"] == "" and float(succeeded["time"]) == 1_700_000_002.0
    assert await drain(ephemeral) == []


async def test_killed_and_locked_decisions(ephemeral: EphemeralStore, clock: FrozenClock) -> None:
    n = 0
    tx = await new_tx(ephemeral, clock)
    for _ in range(3):
        n += 1
        await ephemeral.record_attempt(
            "t1", tx, "alice", ok=False, limits=LIMITS, event=attempt_event(n)
        )
    tx = await new_tx(ephemeral, clock)
    n += 1
    outcome = await ephemeral.record_attempt(
        "t1", tx, "alice", ok=False, limits=LIMITS, event=attempt_event(n)
    )
    assert outcome is AttemptOutcome.INVALID  # the fourth wrong code: the lockout begins
    n += 1
    outcome = await ephemeral.record_attempt(
        "t1", tx, "alice", ok=True, limits=LIMITS, event=attempt_event(n)
    )
    assert outcome is AttemptOutcome.LOCKED
    events = await drain(ephemeral)
    assert [(e["type"], e["outcome"]) for e in events] == [
        ("auth.failed", "invalid"),
        ("auth.failed", "invalid"),
        ("auth.failed", "killed"),
        ("auth.failed", "invalid"),
        ("user.locked", "locked"),
        ("auth.failed", "locked"),
    ]
    lock = events[4]
    assert lock["id"] == "evt_4.lock" and '"locked_until"' in lock["data"]
    assert float(lock["data"].split(":")[1].rstrip("}")) == pytest.approx(1_700_000_004.0 + 900)


async def test_attempts_without_an_event_append_nothing(
    ephemeral: EphemeralStore, clock: FrozenClock
) -> None:
    tx = await new_tx(ephemeral, clock)
    for _ in range(5):
        await ephemeral.record_attempt("t1", tx, "alice", ok=False, limits=LIMITS)
    assert await drain(ephemeral) == []


def quota_event(n: int) -> QuotaEvent:
    return QuotaEvent(
        user_code="too_many_sms",
        tenant_code="too_many_sms_per_tenant",
        fields={
            "id": f"evt_q{n}",
            "type": "quota.refused",
            "time": repr(1_700_000_000.0 + n),
            "user_id": "alice",
            "enrollment_id": "",
            "method": "sms",
            "outcome": "refused",
            "request_id": f"r{n}",
            "data": "",
        },
    )


async def test_a_quota_refusal_appends_its_event(ephemeral: EphemeralStore) -> None:
    one, five = Quota(1, 60), Quota(5, 60)
    granted = await ephemeral.consume_quota("t1", "alice", "sms", one, five, event=quota_event(1))
    assert granted.granted
    assert await drain(ephemeral) == []  # a grant appends none
    by_user = await ephemeral.consume_quota("t1", "alice", "sms", one, five, event=quota_event(2))
    by_tenant = await ephemeral.consume_quota("t1", "bob", "sms", five, one, event=quota_event(3))
    assert (by_user.refused, by_tenant.refused) == ("user", "tenant")
    # Exactly the given entry, with the error code of the quota that refused.
    assert await drain(ephemeral) == [
        {**quota_event(2).fields, "error_code": "too_many_sms"},
        {**quota_event(3).fields, "error_code": "too_many_sms_per_tenant"},
    ]
    refused = await ephemeral.consume_quota("t1", "alice", "sms", one, five)
    assert not refused.granted
    assert await drain(ephemeral) == []  # no event given: none appended


async def test_appended_events_are_read_until_acknowledged(ephemeral: EphemeralStore) -> None:
    await ephemeral.append_event("t1", {"id": "evt_a", "type": "x", "time": "1"})
    await ephemeral.append_event("t1", {"id": "evt_b", "type": "x", "time": "2"})
    first = await ephemeral.read_events("t1", "c1", 1)
    assert [f["id"] for _, f in first] == ["evt_a"]
    await ephemeral.ack_events("t1", [first[0][0]])
    rest = await ephemeral.read_events("t1", "c1", 10)
    assert [f["id"] for _, f in rest] == ["evt_b"]
    await ephemeral.ack_events("t1", [rest[0][0]])
    assert await ephemeral.read_events("t1", "c1", 10) == []
    assert await ephemeral.read_events("t2", "c1", 10) == []  # another tenant's stream


@pytest.mark.redis
async def test_a_dead_readers_entries_are_claimed_by_another() -> None:
    prefix = f"mfatest-ev-{uuid.uuid4().hex[:12]}"
    store = RedisEphemeralStore(REDIS_URL, prefix=prefix, event_claim_idle_seconds=0.1)
    try:
        for n in range(3):
            await store.append_event("t1", {"id": f"evt_{n}", "type": "x", "time": "1"})
        read_by_dead = await store.read_events("t1", "dead", 2)  # never acknowledged
        assert len(read_by_dead) == 2
        # At once, the live reader gets only the entry nobody read.
        now = await store.read_events("t1", "live", 10)
        assert [f["id"] for _, f in now] == ["evt_2"]
        await store.ack_events("t1", [i for i, _ in now])
        await asyncio.sleep(0.2)  # the dead reader's entries go idle
        claimed = await store.read_events("t1", "live", 10)
        assert [f["id"] for _, f in claimed] == ["evt_0", "evt_1"]
        await store.ack_events("t1", [i for i, _ in claimed])
        assert await store.read_events("t1", "live", 10) == []
    finally:
        await store.close()
        await _drop_prefix(REDIS_URL, prefix)
