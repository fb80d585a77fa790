"""Schema revisions, migrations, and what the database rows really hold."""

from __future__ import annotations

import base64
import hashlib
import secrets
import sqlite3
from typing import Any

import anyio
import asyncpg  # type: ignore[import-untyped]
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from mfa.keys import EncryptionKeys, generate_encryption_key
from mfa.storage import (
    ApiKey,
    Enrollment,
    SchemaOutdated,
    SqlDurableStore,
    Tenant,
    current_revision,
    head_revision,
    upgrade,
)
from mfa.storage.schema import metadata
from mfa.storage.sql import make_engine
from tests.storage.conftest import DurableEnv

pytestmark = pytest.mark.anyio


async def test_fresh_database_is_outdated(fresh_db_url: str) -> None:
    assert await current_revision(fresh_db_url) is None
    with pytest.raises(
        SchemaOutdated, match=rf"code needs {head_revision()}: run `mfa db upgrade`"
    ):
        await SqlDurableStore(fresh_db_url).open()
    # Refusing did not touch the database.
    assert await current_revision(fresh_db_url) is None


async def test_upgrade_then_open(fresh_db_url: str) -> None:
    await upgrade(fresh_db_url)
    assert await current_revision(fresh_db_url) == head_revision()
    await upgrade(fresh_db_url)  # at head: nothing to do
    async with SqlDurableStore(fresh_db_url) as store:
        await store.create_tenant(Tenant("acme", "Acme"))


async def test_migrate_on_open(fresh_db_url: str) -> None:
    async with SqlDurableStore(fresh_db_url, migrate=True) as store:
        await store.create_tenant(Tenant("acme", "Acme"))
    assert await current_revision(fresh_db_url) == head_revision()


async def test_workers_migrating_together(fresh_db_url: str) -> None:
    stores = [SqlDurableStore(fresh_db_url, migrate=True, timeout=10) for _ in range(4)]
    try:
        async with anyio.create_task_group() as tg:
            for store in stores:
                tg.start_soon(store.open)
        assert await current_revision(fresh_db_url) == head_revision()
    finally:
        for store in stores:
            await store.close()


async def test_a_newer_schema_is_tolerated(fresh_db_url: str) -> None:
    # Newer code migrated the database (a rolling deploy): this code carries on.
    await upgrade(fresh_db_url)
    engine = make_engine(fresh_db_url, timeout=5)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        await engine.dispose()
    async with SqlDurableStore(fresh_db_url) as store:
        await store.ping()


def _schema_diff(connection: sa.Connection) -> list[Any]:
    diff: list[Any] = compare_metadata(MigrationContext.configure(connection), metadata)
    return diff


async def test_migrations_match_the_tables(fresh_db_url: str) -> None:
    await upgrade(fresh_db_url)
    engine = make_engine(fresh_db_url, timeout=5)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_schema_diff) == []
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- raw rows


async def raw_rows(env: DurableEnv) -> list[tuple[Any, ...]]:
    """Every row of every table, read with plain SQL outside the store."""
    names = [t.name for t in metadata.sorted_tables]
    if env.kind == "sqlite":
        path = env.url.removeprefix("sqlite+aiosqlite:///")
        with sqlite3.connect(path) as conn:
            return [row for name in names for row in conn.execute(f"SELECT * FROM {name}")]
    conn = await asyncpg.connect(env.url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return [tuple(row) for name in names for row in await conn.fetch(f"SELECT * FROM {name}")]
    finally:
        await conn.close()


def as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | memoryview):
        return bytes(value)
    return str(value).encode()


async def test_rows_hold_no_plaintext_secret(durable_env: DurableEnv) -> None:
    store = durable_env.store
    keys = EncryptionKeys.from_text(generate_encryption_key())
    seed = secrets.token_bytes(20)
    seed_b32 = base64.b32encode(seed).decode().rstrip("=")
    phone = "+14155550123"
    api_secret = "mfa_" + secrets.token_urlsafe(32)
    aad = b"acme|enr_1"

    await store.create_tenant(Tenant("acme", "Acme"))
    await store.create_api_key(
        ApiKey(
            key_id="key_1",
            tenant_id="acme",
            name="backend",
            scopes=frozenset({"transactions:create"}),
            key_hash=hashlib.sha256(api_secret.encode()).digest(),
        )
    )
    await store.create_enrollment(
        Enrollment(
            enrollment_id="enr_1",
            tenant_id="acme",
            user_id="alice",
            methods=("otp", "sms"),
            totp_secret=keys.encrypt(seed, aad),
            phone_number=keys.encrypt(phone.encode(), aad),
            phone_masked="XXXXXXXX0123",
        )
    )

    rows = await raw_rows(durable_env)
    assert len(rows) == 3
    cells = [as_bytes(cell) for row in rows for cell in row if cell is not None]
    for secret in (
        seed,
        seed_b32.encode(),
        phone.encode(),
        phone[1:].encode(),
        api_secret.encode(),
    ):
        assert not any(secret in cell for cell in cells), secret
    # And what is there is what the store was given: ciphertexts that open.
    got = await store.get_enrollment("acme", "enr_1")
    assert got is not None and got.totp_secret is not None and got.phone_number is not None
    assert keys.decrypt(got.totp_secret, aad) == seed
    assert keys.decrypt(got.phone_number, aad).decode() == phone


async def test_sqlite_connections_are_set_up(tmp_path: Any) -> None:
    """Every SQLite connection: foreign keys on, WAL, and mfa's page cache (its
    absence showed as page reads on every write-behind batch)."""
    from mfa.storage.sql_engine import SQLITE_CACHE_KIB

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'setup.db'}", timeout=5)
    try:
        async with engine.connect() as conn:
            pragmas = {
                name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("foreign_keys", "journal_mode", "cache_size")
            }
    finally:
        await engine.dispose()
    assert pragmas == {"foreign_keys": 1, "journal_mode": "wal", "cache_size": -SQLITE_CACHE_KIB}
