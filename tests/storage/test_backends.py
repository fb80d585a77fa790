"""What is particular to one backend, and the factories that choose between them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot

import mfa.storage
from mfa.settings import Settings
from mfa.storage import (
    AttemptLimits,
    DurableStore,
    EphemeralStore,
    MemoryEphemeralStore,
    Quota,
    RedisEphemeralStore,
    SqlDurableStore,
    Transaction,
    durable_store_from_settings,
    ephemeral_store_from_settings,
)
from mfa.testing import FrozenClock
from tests.storage.conftest import new_prefix

pytestmark = pytest.mark.anyio


def test_public_surface() -> None:
    for name in mfa.storage.__all__:
        assert hasattr(mfa.storage, name), name


def test_lua_scripts_ship_as_files() -> None:
    lua = Path(mfa.storage.__file__).parent / "lua"
    names = {p.name for p in lua.glob("*.lua")}
    assert {"record_attempt.lua", "consume_quota.lua", "refund_quota.lua"} <= names


async def test_factories(tmp_path: Path) -> None:
    sqlite = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    durable = durable_store_from_settings(sqlite)
    assert isinstance(durable, SqlDurableStore) and isinstance(durable, DurableStore)
    assert durable.migrate  # SQLite: the embedded default migrates by itself
    postgres = Settings(database_url="postgresql+asyncpg://u@h/db", backend_timeout_seconds=0.5)
    durable = durable_store_from_settings(postgres)
    assert isinstance(durable, SqlDurableStore)
    assert not durable.migrate and durable.timeout == 0.5

    clock = FrozenClock(1000.0)
    ephemeral = ephemeral_store_from_settings(Settings(), clock=clock)
    assert isinstance(ephemeral, MemoryEphemeralStore) and isinstance(ephemeral, EphemeralStore)
    await ephemeral.put_ticket("t", {}, 10)
    clock.advance(10)
    assert await ephemeral.peek_ticket("t") is None  # it runs on the given clock

    remote = ephemeral_store_from_settings(Settings(redis_url="redis://127.0.0.1:1/0"))
    assert isinstance(remote, RedisEphemeralStore) and isinstance(remote, EphemeralStore)
    await remote.close()


async def test_memory_store_sweeps_what_nobody_reads() -> None:
    clock = FrozenClock(1000.0)
    store = MemoryEphemeralStore(clock=clock)
    for i in range(50):
        await store.put_ticket(f"t{i}", {}, 5)
        await store.create_transaction(Transaction(f"x{i}", "acme", "u", "auth", 1003.0))
    clock.advance(120)
    await store.put_ticket("fresh", {}, 5)  # any write may sweep
    assert len(store._data) == 1


async def test_memory_store_refuses_what_redis_could_not_hold() -> None:
    store = MemoryEphemeralStore()
    tx = Transaction("x", "acme", "u", "auth", time.time() + 60, data={"raw": b"bytes"})
    with pytest.raises(TypeError):
        await store.create_transaction(tx)
    ok = Transaction("y", "acme", "u", "auth", time.time() + 60)
    await store.create_transaction(ok)
    with pytest.raises(TypeError):
        await store.update_transaction("acme", "y", state="accepted", data={"raw": b"x"})
    got = await store.get_transaction("acme", "y")
    assert got is not None and got.state == "pending"  # nothing half-applied


@pytest.mark.redis
@pytest.mark.slow
async def test_redis_keys_of_a_tenant_share_one_slot(
    redis_url: str, redis_stores: Callable[[str], RedisEphemeralStore]
) -> None:
    prefix = new_prefix()
    store = redis_stores(prefix)
    limits = AttemptLimits(per_transaction=5, per_user=1, lockout_seconds=60)
    await store.create_transaction(Transaction("tx1", "acme", "alice", "auth", time.time() + 60))
    await store.record_attempt("acme", "tx1", "alice", ok=False, limits=limits)
    tx2 = Transaction("tx2", "acme", "bob", "auth", time.time() + 60)
    await store.create_transaction(tx2)
    await store.record_attempt(
        "acme", "tx2", "bob", ok=True, limits=limits, replay_key="enr_1", replay_step=1
    )
    await store.consume_quota("acme", "alice", "sms", Quota(5, 60), Quota(5, 60))
    await store.put_ticket("tk1", {"tenant_id": "acme"}, 60)

    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        keys = sorted([k async for k in client.scan_iter(match=f"{prefix}:*")])
        ttls = [await client.ttl(k) for k in keys]
    finally:
        await client.aclose()
    tenant_keys = [k for k in keys if ":{acme}:" in k]
    assert sorted(k.split(":")[2] for k in tenant_keys) == [
        "lock",
        "quota",
        "quota",
        "replay",
        "tx",
        "tx",
    ]
    assert {key_slot(k.encode()) for k in tenant_keys} == {key_slot(b"acme")}
    assert set(keys) - set(tenant_keys) == {f"{prefix}:ticket:tk1"}
    assert all(ttl > 0 for ttl in ttls)  # nothing is kept forever


@pytest.mark.redis
@pytest.mark.slow
async def test_redis_bursts_wait_for_a_free_connection(redis_url: str) -> None:
    store = RedisEphemeralStore(redis_url, prefix=new_prefix(), max_connections=2)
    try:
        results = await asyncio.gather(*(store.peek_ticket(f"t{i}") for i in range(200)))
        assert results == [None] * 200
    finally:
        await store.close()
