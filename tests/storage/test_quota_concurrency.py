"""Quotas under concurrency: never one send over, whatever the interleaving.

Against real Redis the calls go out at once over several stores (several
connection pools, like several workers); the in-process store runs the same
checks for parity.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import pytest

from mfa.storage import (
    EphemeralStore,
    MemoryEphemeralStore,
    Quota,
    QuotaDecision,
    RedisEphemeralStore,
)
from tests.storage.conftest import new_prefix

pytestmark = pytest.mark.anyio

CALLS = 400
WORKERS = 4


@pytest.fixture(
    params=["memory", pytest.param("redis", marks=[pytest.mark.redis, pytest.mark.slow])]
)
def workers(request: pytest.FixtureRequest) -> list[EphemeralStore]:
    """Stores sharing one state: one memory store, or several Redis clients."""
    if request.param == "memory":
        return [MemoryEphemeralStore()]
    make: Callable[[str], RedisEphemeralStore] = request.getfixturevalue("redis_stores")
    prefix = new_prefix()
    return [make(prefix) for _ in range(WORKERS)]


async def storm(
    workers: list[EphemeralStore], users: Callable[[int], str], per_user: Quota, per_tenant: Quota
) -> list[tuple[str, QuotaDecision]]:
    async def one(i: int) -> tuple[str, QuotaDecision]:
        store = workers[i % len(workers)]
        user = users(i)
        return user, await store.consume_quota("acme", user, "sms", per_user, per_tenant)

    return list(await asyncio.gather(*(one(i) for i in range(CALLS))))


def check_refusals(results: list[tuple[str, QuotaDecision]], window: int) -> None:
    for _, decision in results:
        if not decision.granted:
            assert 0 < decision.retry_after <= window


async def test_one_user_never_goes_over(workers: list[EphemeralStore]) -> None:
    results = await storm(workers, lambda i: "alice", Quota(37, 600), Quota(100_000, 86400))
    granted = [d for _, d in results if d.granted]
    assert len(granted) == 37
    assert {d.refused for _, d in results if not d.granted} == {"user"}
    check_refusals(results, 600)


async def test_one_tenant_never_goes_over(workers: list[EphemeralStore]) -> None:
    results = await storm(workers, lambda i: f"user-{i}", Quota(1000, 600), Quota(50, 3600))
    assert sum(d.granted for _, d in results) == 50
    assert {d.refused for _, d in results if not d.granted} == {"tenant"}
    check_refusals(results, 3600)


async def test_users_and_tenant_together(workers: list[EphemeralStore]) -> None:
    # Half the calls from one heavy user, the others from as many light users.
    per_user, per_tenant = Quota(5, 600), Quota(30, 3600)
    results = await storm(
        workers, lambda i: "heavy" if i % 2 == 0 else f"light-{i}", per_user, per_tenant
    )
    granted = Counter(user for user, d in results if d.granted)
    assert sum(granted.values()) == 30
    assert granted["heavy"] == 5
    check_refusals(results, 3600)
    # Now both of heavy's counters are exhausted: the user quota is named.
    decision = await workers[0].consume_quota("acme", "heavy", "sms", per_user, per_tenant)
    assert (decision.granted, decision.refused) == (False, "user")
    decision = await workers[-1].consume_quota("acme", "newcomer", "sms", per_user, per_tenant)
    assert (decision.granted, decision.refused) == (False, "tenant")
