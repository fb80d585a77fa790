"""A worker killed with SIGKILL right after answering loses no audit event.

A real ``mfa serve`` on real Redis confirms 100 enrollments (verify-otp) and is
killed the moment the last answer arrives: its relay may have moved some of the
events, read others without acknowledging them, and not seen the rest. Another
worker's relay then moves everything left in the tenant's stream, claiming the
dead worker's unacknowledged entries, and the audit table holds exactly one
``enrollment.confirmed`` per answered verify, with that request's id.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from mfa import MFAService, Settings
from mfa.factors import totp
from mfa.storage.redis import RedisEphemeralStore
from tests.conftest import ADMIN_KEY, REDIS_URL
from tests.test_serve import clean_env, free_port

pytestmark = [pytest.mark.anyio, pytest.mark.redis, pytest.mark.slow]

VERIFIES = 100


async def _wait_up(base: str, proc: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as http:
        while True:
            try:
                if (await http.get(base + "/healthz", timeout=1)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert proc.returncode is None, "mfa serve exited"
            assert time.monotonic() < deadline, "mfa serve did not come up"
            await asyncio.sleep(0.1)


async def _drop(tenant: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"mfa:{{{tenant}}}:*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def test_sigkill_after_answering_loses_no_event(tmp_path: Path) -> None:
    tenant = "kill" + uuid.uuid4().hex[:10]
    db = f"sqlite+aiosqlite:///{tmp_path / 'mfa.db'}"
    env = clean_env(
        MFA_DATABASE_URL=db,
        MFA_REDIS_URL=REDIS_URL,
        MFA_ADMIN_KEY=ADMIN_KEY,
        MFA_DEV_KEYS_PATH=str(tmp_path / "keys.json"),
        MFA_ARGON2_PROFILE="cheapest",
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "mfa.cli", "serve", "--port", str(port)),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    try:
        await _wait_up(base, proc)
        limits = httpx.Limits(max_connections=20)
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
            r = await http.post(
                "/api/tenants", json={"tenant_id": tenant, "name": "K"}, headers=admin
            )
            assert r.status_code == 201, r.text

            async def start(user: str) -> tuple[str, str]:
                r = await http.post(
                    f"/api/tenants/{tenant}/request-tokens", json={"user_id": user}, headers=admin
                )
                token = r.json()["request_token"]
                r = await http.post(
                    "/api/start-flow", json={}, headers={"Authorization": f"Bearer {token}"}
                )
                assert r.status_code == 200, r.text
                body = r.json()
                return body["transaction_token"], body["device_account"]["otp_secret"]

            started = await asyncio.gather(*(start(f"user{i}") for i in range(VERIFIES)))

            async def confirm(i: int, tx: str, secret: str) -> str:
                r = await http.post(
                    "/api/verify-otp",
                    json={"code": totp.code_at(secret, time.time())},
                    headers={"Authorization": f"Bearer {tx}", "X-Request-Id": f"kill-{i}"},
                )
                assert r.status_code == 204, r.text
                return r.headers["x-request-id"]

            answered = await asyncio.gather(
                *(confirm(i, tx, secret) for i, (tx, secret) in enumerate(started))
            )
        os.kill(proc.pid, signal.SIGKILL)  # the moment the last answer is in
        assert await asyncio.wait_for(proc.wait(), 10) == -signal.SIGKILL

        # Another worker: its relay takes over what the dead one left.
        settings = Settings(
            database_url=db,
            redis_url=REDIS_URL,
            admin_key=ADMIN_KEY,
            dev_keys_path=str(tmp_path / "keys.json"),
            argon2_profile="cheapest",
        )
        store = RedisEphemeralStore(REDIS_URL, event_claim_idle_seconds=0.2)
        async with MFAService(settings, ephemeral=store) as survivor:
            before = await survivor.durable.list_events(
                tenant, type="enrollment.confirmed", limit=500
            )
            print(f"moved by the killed worker: {len(before)} of {VERIFIES}")
            deadline = time.monotonic() + 20
            while True:
                survivor.relay.forget_tenants()
                await survivor.relay.run_once()
                found = await survivor.durable.list_events(
                    tenant, type="enrollment.confirmed", limit=500
                )
                if len(found) >= VERIFIES or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.3)
        assert len(found) == VERIFIES
        assert sorted(e.request_id or "" for e in found) == sorted(answered)
        assert len({e.event_id for e in found}) == VERIFIES
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await _drop(tenant)
