"""Hostile input through HTTP, on real PostgreSQL: a contract error, never a 500.

PostgreSQL refuses what SQLite stores (a NUL in text), so these run against a
throwaway database of the shared server, made and dropped here.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest

from mfa import MFAService, Settings, create_app
from mfa.storage.memory import MemoryEphemeralStore
from mfa.testing import FrozenClock
from tests.conftest import ADMIN_KEY, Api
from tests.http.test_boundary import assert_error
from tests.storage.conftest import PG_ADMIN_DB, PG_HOST, PG_PORT, PG_USER, pg_url

pytestmark = pytest.mark.anyio


@pytest.fixture
async def pg_api(tmp_path: Path) -> AsyncIterator[Api]:
    dsn = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_ADMIN_DB}"
    try:
        admin = await asyncpg.connect(dsn, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        pytest.skip(f"PostgreSQL not reachable at {dsn}: {exc}")
    name = f"mfa_test_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        settings = Settings(
            database_url=pg_url(name),
            dev_keys_path=str(tmp_path / "keys.json"),
            admin_key=ADMIN_KEY,
            sms_transport="outbox",
            push_transport="outbox",
            argon2_profile="cheapest",
            auto_migrate=True,
        )
        clock = FrozenClock()
        service = MFAService(settings, ephemeral=MemoryEphemeralStore(clock=clock), clock=clock)
        await service.open()
        try:
            transport = httpx.ASGITransport(app=create_app(service=service))
            async with httpx.AsyncClient(transport=transport, base_url="http://mfa.test") as http:
                yield Api(http, service)
        finally:
            await service.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.mark.postgres
@pytest.mark.slow
async def test_control_characters_in_bodies_are_invalid_body(pg_api: Api) -> None:
    api, admin = pg_api, pg_api.admin
    r = await api.http.post(
        "/api/tenants", json={"tenant_id": "acme", "name": "A\x00"}, headers=admin
    )
    assert_error(r, 400, "invalid_body")
    await api.tenant()
    r = await api.http.post(
        "/api/tenants/acme/api-keys",
        json={"name": "k\x00", "scopes": ["factors:read"]},
        headers=admin,
    )
    assert_error(r, 400, "invalid_body")
    for path in ("request-tokens", "enrollment-tickets"):
        r = await api.http.post(
            f"/api/tenants/acme/{path}", json={"user_id": "u\x00"}, headers=admin
        )
        assert_error(r, 400, "invalid_body")
    # A lone surrogate cannot even be encoded for the database.
    r = await api.http.post(
        "/api/tenants/acme/request-tokens",
        content=b'{"user_id": "u\\ud800"}',
        headers={**admin, "Content-Type": "application/json"},
    )
    assert_error(r, 400, "invalid_body")
    # Nothing was lost: the tenant still works end to end.
    assert (await api.start("acme", "alice"))["transaction_token"]


@pytest.mark.postgres
@pytest.mark.slow
async def test_control_characters_in_paths_are_not_found(pg_api: Api) -> None:
    api, admin = pg_api, pg_api.admin
    await api.tenant()
    assert_error(await api.http.get("/api/tenants/%00", headers=admin), 404, "tenant_not_found")
    assert_error(await api.http.delete("/api/tenants/%00", headers=admin), 404, "tenant_not_found")
    for method, path in (
        ("DELETE", "/api/tenants/acme/api-keys/%00"),
        ("GET", "/api/tenants/acme/users/a%00b/enrollments"),
        ("DELETE", "/api/tenants/acme/enrollments/%00"),
        ("POST", "/api/tenants/acme/users/%00/recovery-code-regeneration"),
        ("PUT", "/api/tenants/acme/factors/%00"),
        ("PUT", "/api/tenants/acme/features/%00"),
    ):
        body = {"enabled": True} if method == "PUT" else None
        r = await api.http.request(method, path, json=body, headers=admin)
        assert_error(r, 404, "not_found")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "path", ["/api/start-flow", "/api/transaction-state", "/api/verify-otp", "/api/send-sms"]
)
async def test_a_deeply_nested_jwt_header_is_invalid_token(api: Api, path: str) -> None:
    header = _b64(b"[" * 3000 + b"]" * 3000)
    token = f"{header}.{_b64(b'{}')}.{_b64(b'x' * 32)}"
    body = {"code": "123456"} if path.endswith("otp") else {}
    r = await api.http.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
    assert_error(r, 401, "invalid_token")


async def test_credentials_are_checked_before_path_ids(api: Api) -> None:
    for method, path in (
        ("PUT", "/api/tenants/acme/features/%00"),
        ("PUT", "/api/tenants/acme/factors/%00"),
        ("GET", "/api/tenants/%00"),
        ("DELETE", "/api/tenants/acme/api-keys/%00"),
    ):
        r = await api.http.request(
            method, path, json={"enabled": True}, headers={"Authorization": "Bearer mfa_nope"}
        )
        assert_error(r, 401, "invalid_token")
