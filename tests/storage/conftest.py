"""Fixtures of the storage tests: every store, on real servers where it has one.

- ``ephemeral``: an :class:`EphemeralEnv` over the in-process store (fake clock)
  and the real Redis (DB 13, a random key prefix per test, its keys deleted
  afterwards; never FLUSHDB, other runs share the server).
- ``durable``: an open :class:`SqlDurableStore` over a fresh SQLite file and over
  a throwaway PostgreSQL database made for this session (tables emptied per test).

Tests needing a server are skipped, with the reason, when it cannot be reached.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio
import asyncpg  # type: ignore[import-untyped]
import pytest
import redis.asyncio as aioredis
import redis.exceptions

from mfa.storage import EphemeralStore, MemoryEphemeralStore, RedisEphemeralStore, SqlDurableStore
from mfa.storage.redis import CLUSTER_SCHEME
from mfa.storage.sql import upgrade
from mfa.testing import FrozenClock

REDIS_URL = os.environ.get("MFA_TEST_STORAGE_REDIS_URL", "redis://127.0.0.1:6379/13")
PG_HOST = os.environ.get("MFA_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("MFA_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("MFA_TEST_PG_USER", "postgres")
PG_ADMIN_DB = os.environ.get("MFA_TEST_PG_ADMIN_DB", "test")


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    # Session scope: one event loop for the whole storage suite, so that the
    # session's PostgreSQL database can be made by an async fixture.
    return "asyncio"


# --------------------------------------------------------------------------- Redis


async def drop_redis_prefix(url: str, prefix: str) -> None:
    """Delete this test's keys, and only them."""
    client = aioredis.Redis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.unlink(*keys)
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
async def redis_url() -> str:
    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except (redis.exceptions.ConnectionError, OSError) as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    finally:
        await client.aclose()
    return REDIS_URL


@pytest.fixture
async def redis_stores(redis_url: str) -> AsyncIterator[Callable[[str], RedisEphemeralStore]]:
    """Make Redis stores (several may share a prefix); all closed and cleaned up after."""
    made: list[RedisEphemeralStore] = []

    def make(prefix: str) -> RedisEphemeralStore:
        store = RedisEphemeralStore(redis_url, prefix=prefix)
        made.append(store)
        return store

    try:
        yield make
    finally:
        for store in made:
            await store.close()
        for prefix in {s.prefix for s in made}:
            await drop_redis_prefix(redis_url, prefix)


def new_prefix() -> str:
    return f"mfatest-{uuid.uuid4().hex[:12]}"


@dataclass
class EphemeralEnv:
    """A store plus its notion of time: fake for memory, real for Redis."""

    kind: str
    store: EphemeralStore
    now: Callable[[], float]
    advance: Callable[[float], Awaitable[None]]


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=[pytest.mark.redis, pytest.mark.slow]),
        pytest.param("cluster", marks=[pytest.mark.redis, pytest.mark.slow]),
    ]
)
def ephemeral_backend(request: pytest.FixtureRequest) -> str | None:
    """None for the in-process store, else the Redis URL (skips if Redis is down):
    one server, or the suite's own three-master Redis Cluster."""
    # Sync on purpose: async fixtures cannot be fetched by name from async ones.
    if request.param == "memory":
        return None
    if request.param == "cluster":
        cluster_url: str = request.getfixturevalue("redis_cluster").url
        return cluster_url
    url: str = request.getfixturevalue("redis_url")
    return url


@pytest.fixture
async def ephemeral(ephemeral_backend: str | None) -> AsyncIterator[EphemeralEnv]:
    if ephemeral_backend is None:
        clock = FrozenClock()

        async def advance_fake(seconds: float) -> None:
            clock.advance(seconds)

        store = MemoryEphemeralStore(clock=clock)
        await store.open()
        yield EphemeralEnv("memory", store, clock, advance_fake)
        await store.close()
        return
    redis_store = RedisEphemeralStore(ephemeral_backend, prefix=new_prefix())
    await redis_store.open()
    try:
        yield EphemeralEnv("redis", redis_store, time.time, anyio.sleep)
    finally:
        await redis_store.close()
        if not ephemeral_backend.startswith(CLUSTER_SCHEME):  # the cluster is the suite's own
            await drop_redis_prefix(ephemeral_backend, redis_store.prefix)


# --------------------------------------------------------------------------- PostgreSQL


def pg_url(database: str, *, host: str = PG_HOST, port: int = PG_PORT) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{host}:{port}/{database}"


class PgDatabases:
    """Throwaway databases on the shared server, all dropped at the end of the session."""

    def __init__(self, admin: asyncpg.Connection) -> None:
        self._admin = admin
        self.names: list[str] = []

    async def create(self) -> str:
        name = f"mfa_test_{uuid.uuid4().hex[:12]}"
        await self._admin.execute(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        return name

    async def drop_all(self) -> None:
        for name in self.names:
            await self._admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def pg_databases() -> AsyncIterator[PgDatabases]:
    dsn = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_ADMIN_DB}"
    try:
        admin = await asyncpg.connect(dsn, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        pytest.skip(f"PostgreSQL not reachable at {dsn}: {exc}")
    databases = PgDatabases(admin)
    try:
        yield databases
    finally:
        await databases.drop_all()
        await admin.close()


@pytest.fixture(scope="session")
async def pg_migrated(pg_databases: PgDatabases) -> str:
    """The name of one database of this session, migrated to head."""
    name = await pg_databases.create()
    await upgrade(pg_url(name))
    return name


async def empty_pg_tables(database: str) -> None:
    conn = await asyncpg.connect(f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}")
    try:
        await conn.execute(
            "TRUNCATE enrollments, api_keys, tenants, events, webhook_endpoints, webhook_deliveries"
        )
    finally:
        await conn.close()


@dataclass
class DurableEnv:
    kind: str
    url: str
    store: SqlDurableStore


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])]
)
def durable_backend(request: pytest.FixtureRequest) -> str | None:
    """None for SQLite, else the session's migrated PostgreSQL database."""
    if request.param == "sqlite":
        return None
    name: str = request.getfixturevalue("pg_migrated")
    return name


@pytest.fixture
async def durable_env(durable_backend: str | None, tmp_path: Path) -> AsyncIterator[DurableEnv]:
    if durable_backend is None:
        url = f"sqlite+aiosqlite:///{tmp_path / 'mfa.db'}"
        store = SqlDurableStore(url, migrate=True)
    else:
        await empty_pg_tables(durable_backend)
        url = pg_url(durable_backend)
        store = SqlDurableStore(url)
    await store.open()
    try:
        yield DurableEnv("sqlite" if durable_backend is None else "postgres", url, store)
    finally:
        await store.close()


@pytest.fixture
def durable(durable_env: DurableEnv) -> SqlDurableStore:
    return durable_env.store


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])]
)
def fresh_backend(request: pytest.FixtureRequest) -> PgDatabases | None:
    if request.param == "sqlite":
        return None
    databases: PgDatabases = request.getfixturevalue("pg_databases")
    return databases


@pytest.fixture
async def fresh_db_url(fresh_backend: PgDatabases | None, tmp_path: Path) -> str:
    """The URL of an empty database (never migrated), SQLite or PostgreSQL."""
    if fresh_backend is None:
        return f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    return pg_url(await fresh_backend.create())
