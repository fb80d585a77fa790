"""The service on a real three-master Redis Cluster (the suite's own, on loopback).

The races that matter — quotas under 300 concurrent sends, one TOTP step or one
recovery code or one push challenge winning once — are the same tests as on one
Redis server, run here with the cluster store: each is imported under a name of
its own and picks up this module's ``ephemeral`` fixture. Then what only a cluster
has: tenants spread over shards (a node that goes down: tests/test_serve_cluster.py).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from mfa.names import Channel
from mfa.storage.protocols import EphemeralStore
from mfa.storage.redis import RedisEphemeralStore, cluster_nodes
from mfa.storage.redis_keys import RedisKeys
from tests.conftest import Api
from tests.http.test_otp_flows import (
    test_concurrent_same_code_exactly_one_wins as test_cluster_totp_step_wins_once,
)
from tests.http.test_otp_flows import (
    test_one_enrollment_confirmed_twice_at_once as test_cluster_enrollment_confirmed_once,
)
from tests.http.test_otp_flows import (
    test_recovery_code_used_concurrently_wins_once as test_cluster_recovery_code_wins_once,
)
from tests.http.test_push_flows import (
    test_concurrent_sends_never_exceed_the_user_quota as test_cluster_push_quota_exact,
)
from tests.http.test_push_flows import (
    test_two_resolves_of_one_challenge_accept_once as test_cluster_push_challenge_once,
)
from tests.http.test_sms_flows import (
    test_concurrent_sends_never_exceed_the_tenant_quota as test_cluster_sms_tenant_quota_exact,
)
from tests.http.test_sms_flows import (
    test_concurrent_sends_never_exceed_the_user_quota as test_cluster_sms_user_quota_exact,
)
from tests.redis_cluster import Cluster

pytestmark = [pytest.mark.anyio, pytest.mark.redis, pytest.mark.slow]

__all__ = [
    "test_cluster_enrollment_confirmed_once",
    "test_cluster_push_challenge_once",
    "test_cluster_push_quota_exact",
    "test_cluster_recovery_code_wins_once",
    "test_cluster_sms_tenant_quota_exact",
    "test_cluster_sms_user_quota_exact",
    "test_cluster_totp_step_wins_once",
]


@pytest.fixture
async def tenant(api: Api) -> str:  # the imported tests ask for it
    return await api.tenant()


@pytest.fixture
async def ephemeral(redis_cluster: Cluster) -> AsyncIterator[EphemeralStore]:
    store = RedisEphemeralStore(redis_cluster.url, prefix=f"mfatest-{uuid.uuid4().hex[:12]}")
    try:
        yield store
    finally:
        await store.close()


def test_cluster_url_parsing() -> None:
    assert cluster_nodes("redis+cluster://a:7000,b:7001/") == (
        [("a", 7000), ("b", 7001)],
        None,
        None,
    )
    assert cluster_nodes("redis+cluster://u:p%40ss@[::1]:7000") == ([("::1", 7000)], "u", "p@ss")
    with pytest.raises(ValueError, match="host:port"):
        cluster_nodes("redis+cluster://nohost")


async def test_tenants_spread_over_the_shards(redis_cluster: Cluster) -> None:
    """Each tenant's keys share one slot (one script can touch them all), and many
    tenants land on every master."""
    store = RedisEphemeralStore(redis_cluster.url, prefix=f"mfatest-{uuid.uuid4().hex[:12]}")
    try:
        keys = RedisKeys(store.prefix)
        owners = {redis_cluster.slot_owner(keys.tenant(f"t{i}", "tx")) for i in range(30)}
        assert owners == set(redis_cluster.ports)
        tenant_keys = [
            keys.tenant("acme", "tx", "1"),
            keys.tenant("acme", "fail", "u"),
            *keys.quotas("acme", "u", Channel.SMS),
            keys.events("acme"),
        ]
        assert len({redis_cluster.slot_owner(k) for k in tenant_keys}) == 1
        await asyncio.gather(*(store.ping() for _ in range(5)))
    finally:
        await store.close()
