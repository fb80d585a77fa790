"""``mfa serve`` as real processes on a real Redis Cluster (the suite's own).

Two workers share nothing but the stores: an enrollment and logins made through
either hold, and quotas stay exact when concurrent sends land on both workers.
Then one master of a cluster of this test's own is stopped: the tenants it
owned get ``service_unavailable``, the others carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest

from mfa.factors import totp
from mfa.keys import generate_encryption_key, generate_signing_jwk
from tests.conftest import ADMIN_KEY
from tests.redis_cluster import Cluster, start_cluster
from tests.storage.conftest import PG_ADMIN_DB, PG_HOST, PG_PORT, PG_USER
from tests.stubs.webhook_receiver import WebhookReceiver
from tests.test_serve import clean_env, free_port

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """A throwaway PostgreSQL database (URL), dropped after."""
    name = f"mfa_test_{uuid.uuid4().hex[:12]}"
    admin = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_ADMIN_DB}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def served(
    tmp_path: Path, redis_url: str, workers: int, database_url: str | None = None, **env: str
) -> Iterator[httpx.Client]:
    """``mfa serve`` on the cluster, migrated, with fixed keys, until it answers."""
    port = free_port()
    full = clean_env(
        MFA_REDIS_URL=redis_url,
        MFA_DATABASE_URL=database_url or f"sqlite+aiosqlite:///{tmp_path / 'mfa.db'}",
        MFA_ADMIN_KEY=ADMIN_KEY,
        MFA_SIGNING_KEYS=json.dumps([generate_signing_jwk()]),
        MFA_ENCRYPTION_KEYS=generate_encryption_key(),
        MFA_ARGON2_PROFILE="cheapest",
        **env,
    )
    cli = [sys.executable, "-m", "mfa.cli"]
    subprocess.run([*cli, "db", "upgrade"], cwd=tmp_path, env=full, check=True, timeout=60)
    proc = subprocess.Popen(
        [*cli, "serve", "--port", str(port), "--workers", str(workers)],
        cwd=tmp_path,
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    http.get("/healthz")
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                    assert time.monotonic() < deadline, "mfa serve did not come up"
                    time.sleep(0.1)
            yield http
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
        sys.stderr.write(err[-4000:])  # shown by pytest when the test fails


def start(http: httpx.Client, tenant: str, user: str) -> dict[str, Any]:
    r = http.post(f"/api/tenants/{tenant}/request-tokens", json={"user_id": user}, headers=ADMIN)
    assert r.status_code == 200, r.text
    auth = {"Authorization": f"Bearer {r.json()['request_token']}"}
    r = http.post("/api/start-flow", headers=auth)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def last_code(receiver: WebhookReceiver) -> str:
    code: str = receiver.deliveries[-1].json["code"]
    return code


def test_two_workers_on_a_cluster_enroll_log_in_and_keep_quotas_exact(
    tmp_path: Path, redis_cluster: Cluster
) -> None:
    with (
        WebhookReceiver() as receiver,
        pg_database() as database_url,
        served(
            tmp_path,
            redis_cluster.url,
            workers=2,
            database_url=database_url,
            MFA_SMS_TRANSPORT="webhook",
            MFA_SMS_WEBHOOK_URL=receiver.url,
            MFA_WEBHOOK_SECRET=receiver.secret,
        ) as http,
    ):
        assert (
            http.post(
                "/api/tenants", json={"tenant_id": "acme", "name": "Acme"}, headers=ADMIN
            ).status_code
            == 201
        )

        # TOTP enrollment.
        bob = start(http, "acme", "bob")
        code = totp.code_at(bob["device_account"]["otp_secret"], time.time())
        r = http.post(
            "/api/verify-otp", json={"code": code}, headers=bearer(bob["transaction_token"])
        )
        assert r.status_code == 204, r.text

        # SMS enrollment, then SMS logins: codes come through the webhook.
        alice = start(http, "acme", "alice")
        tx = bearer(alice["transaction_token"])
        eid = alice["device_account"]["id"]
        r = http.post(
            f"/api/device-accounts/{eid}/sms-enroll",
            json={"phone_number": "+14155550100"},
            headers=tx,
        )
        assert r.status_code == 204, r.text
        assert (
            http.post("/api/verify-otp", json={"code": last_code(receiver)}, headers=tx).status_code
            == 204
        )
        login = start(http, "acme", "alice")
        tx = bearer(login["transaction_token"])
        assert http.post("/api/send-sms", headers=tx).status_code == 204
        assert (
            http.post("/api/verify-otp", json={"code": last_code(receiver)}, headers=tx).status_code
            == 204
        )
        state = http.post("/api/transaction-state", headers=tx).json()
        assert state["state"] == "accepted" and state["token"]

        # Exact quotas across both workers: 2 sends used of 12, so 10 more.
        r = http.put(
            "/api/tenants/acme/quotas",
            json={"sms_per_user": {"limit": 12, "window_seconds": 3600}},
            headers=ADMIN,
        )
        assert r.status_code == 200, r.text
        receiver.reset()
        txs = [bearer(start(http, "acme", "alice")["transaction_token"]) for _ in range(4)]
        with ThreadPoolExecutor(16) as pool:
            statuses = list(
                pool.map(
                    lambda i: http.post("/api/send-sms", headers=txs[i % 4]).status_code, range(80)
                )
            )
        assert statuses.count(204) == 10
        assert sorted(set(statuses)) == [204, 429]
        assert len(receiver.deliveries) == 10


def test_a_stopped_master_stops_only_its_own_tenants(tmp_path: Path) -> None:
    cluster = start_cluster(tmp_path / "cluster")
    try:
        with served(tmp_path, cluster.url, workers=1) as http:
            # Tenants until every master owns one.
            owners: dict[int, str] = {}
            for i in range(60):
                owners.setdefault(cluster.slot_owner(f"{{t{i}}}"), f"t{i}")
                if len(owners) == len(cluster.ports):
                    break
            for tid in owners.values():
                r = http.post("/api/tenants", json={"tenant_id": tid, "name": tid}, headers=ADMIN)
                assert r.status_code == 201, r.text
            down_port, down_tenant = next(iter(owners.items()))
            cluster.stop_node(down_port)
            # Past cluster-node-timeout (2 s): the other masters have marked it failed,
            # as a real outage would be by the time it matters.
            time.sleep(3)

            for port, tid in owners.items():
                if port == down_port:
                    continue
                tx = start(http, tid, "alice")
                code = totp.code_at(tx["device_account"]["otp_secret"], time.time())
                r = http.post(
                    "/api/verify-otp", json={"code": code}, headers=bearer(tx["transaction_token"])
                )
                assert r.status_code == 204, r.text
            r = http.post(
                f"/api/tenants/{down_tenant}/request-tokens",
                json={"user_id": "alice"},
                headers=ADMIN,
            )
            assert r.status_code == 503 and r.json()["errorCode"] == "service_unavailable"
    finally:
        cluster.stop()
