"""Shared fixtures: a real service over real stores, driven through its ASGI app.

``ephemeral`` is parametrized over the in-process store and the real Redis server
(DB 14, a random key prefix per test, keys removed afterwards), so every HTTP test
that uses ``api`` runs against both.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mfa import MFAService, Settings, create_app
from mfa.storage.memory import MemoryEphemeralStore
from mfa.storage.protocols import EphemeralStore
from mfa.storage.redis import RedisEphemeralStore
from mfa.testing import FrozenClock
from transports.outbox import Outbox, PushOutbox

pytest_plugins = ["tests.stubs.fixtures", "tests.redis_cluster"]

REDIS_URL = os.environ.get("MFA_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
ADMIN_KEY = "mfa_test-operator-key-0123456789abcdefghijklmnop"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'mfa.db'}",
        dev_keys_path=str(tmp_path / "keys.json"),
        admin_key=ADMIN_KEY,
        sms_transport="outbox",
        push_transport="outbox",
        argon2_profile="cheapest",
        auto_migrate=True,
    )


async def _drop_prefix(url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def ephemeral(
    request: pytest.FixtureRequest, clock: FrozenClock
) -> AsyncIterator[EphemeralStore]:
    if request.param == "memory":
        yield MemoryEphemeralStore(clock=clock)
        return
    prefix = f"mfatest-{uuid.uuid4().hex[:12]}"
    store = RedisEphemeralStore(REDIS_URL, prefix=prefix)
    try:
        yield store
    finally:
        await store.close()
        await _drop_prefix(REDIS_URL, prefix)


@pytest.fixture
async def service(
    settings: Settings, ephemeral: EphemeralStore, clock: FrozenClock
) -> AsyncIterator[MFAService]:
    svc = MFAService(settings, ephemeral=ephemeral, clock=clock)
    await svc.open()
    try:
        yield svc
    finally:
        await svc.close()


@pytest.fixture
def outbox(service: MFAService) -> Outbox:
    assert isinstance(service.sms, Outbox)
    return service.sms


@pytest.fixture
def push_outbox(service: MFAService) -> PushOutbox:
    assert isinstance(service.push, PushOutbox)
    return service.push


@dataclass
class Api:
    """An httpx client on the real ASGI app, with the operator key and helpers."""

    http: httpx.AsyncClient
    service: MFAService

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_KEY}"}

    async def tenant(self, tenant_id: str = "acme", name: str = "Acme") -> str:
        r = await self.http.post(
            "/api/tenants", json={"tenant_id": tenant_id, "name": name}, headers=self.admin
        )
        assert r.status_code == 201, r.text
        return tenant_id

    async def request_token(self, tenant_id: str, user_id: str) -> str:
        r = await self.http.post(
            f"/api/tenants/{tenant_id}/request-tokens",
            json={"user_id": user_id},
            headers=self.admin,
        )
        assert r.status_code == 200, r.text
        return str(r.json()["request_token"])

    async def start(self, tenant_id: str, user_id: str) -> dict[str, Any]:
        token = await self.request_token(tenant_id, user_id)
        r = await self.http.post(
            "/api/start-flow",
            json={"state_transport": "polling"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def post(self, path: str, tx_token: str, body: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {tx_token}"}
        if body is None:
            return await self.http.post(path, headers=headers)
        return await self.http.post(path, json=body, headers=headers)

    async def state(self, tx_token: str) -> dict[str, Any]:
        r = await self.post("/api/transaction-state", tx_token)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


@pytest.fixture
async def api(service: MFAService) -> AsyncIterator[Api]:
    app = create_app(service=service)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mfa.test") as http:
        yield Api(http, service)
