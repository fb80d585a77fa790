"""``mfa serve --workers 2`` on Redis and PostgreSQL, stopped by SIGTERM while
requests are in flight: every request it accepted gets its whole answer, the
process exits 0 soon after, and what it accepted is in the stores.

The slow path is real: send-sms through the webhook transport to a local
receiver that holds every message until the test releases them, :data:`HOLD`
seconds after the signal, so the sends are provably inside the workers (the
receiver has them, unanswered) when the signal lands and while they drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from mfa import MFAService, Settings
from mfa.factors import totp
from mfa.flows.records import PendingEnrollment, StartedTransaction
from mfa.names import Quota, QuotaName
from mfa.tokens import Credential
from tests.conftest import ADMIN_KEY, REDIS_URL, _drop_prefix
from tests.test_serve import PG, PG_ADMIN_DB, PG_HOST, PG_PORT, PG_USER, clean_env, free_port
from transports.outbox import Outbox

pytestmark = [pytest.mark.anyio, pytest.mark.postgres, pytest.mark.redis]

HOLD = 1.0  # seconds after SIGTERM before the receiver answers the held SMS
SENDS = 12  # send-sms in flight at SIGTERM
CONFIRMS = 12  # TOTP enrollments confirmed just before it
EXIT_BOUND = 15.0  # seconds from SIGTERM to the master's exit
MOBILE = "+447911123{:03d}"
SECRET = "webhook-secret-for-the-shutdown-test"


@dataclass
class Receiver:
    """The SMS webhook's far end: records each message, answers once released."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    release: threading.Event = field(default_factory=threading.Event)
    answered: int = 0

    def wait_for(self, count: int, timeout: float) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    seen = Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with seen.arrived:
                seen.messages.append(body)
                seen.arrived.notify_all()
            seen.release.wait(30)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            seen.answered += 1

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield seen, f"http://127.0.0.1:{server.server_address[1]}/sms"
    finally:
        seen.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    asyncpg = pytest.importorskip("asyncpg")
    name = f"mfa_test_workers_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=PG_ADMIN_DB)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def tenant() -> Iterator[str]:
    tenant_id = f"shutdown-{uuid.uuid4().hex[:10]}"
    yield tenant_id
    asyncio.run(_drop_prefix(REDIS_URL, "mfa:{" + tenant_id + "}"))


@dataclass
class Prepared:
    logins: list[str]  # SMS users' login transaction tokens
    enrolling: list[tuple[str, str]]  # (transaction token, TOTP secret) of new users


def settings_for(pg_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=pg_url,
        redis_url=REDIS_URL,
        admin_key=ADMIN_KEY,
        dev_keys_path=str(tmp_path / "keys.json"),  # the server signs with the same keys
        sms_transport="outbox",
        argon2_profile="cheapest",
        auto_migrate=True,
    )


async def prepare(settings: Settings, tenant: str) -> Prepared:
    service = MFAService(settings)
    async with service:
        await service.admin.create_tenant(tenant, "Shutdown")
        await service.admin.set_quotas(tenant, {QuotaName.SMS_PER_USER.value: Quota(100, 3600)})
        outbox = service.sms
        assert isinstance(outbox, Outbox)

        async def start(user: str) -> StartedTransaction:
            issued = await service.admin.issue_request_token(tenant, user)
            return await service.flows.start_flow(Credential("bearer", issued.token))

        async def sms_user(i: int) -> str:
            user, phone = f"sms-{i}", MOBILE.format(i)
            started = await start(user)
            tx, eid = started.token, started.enrollment.enrollment_id
            await service.flows.sms_enroll(tx, eid, phone)
            code = outbox.last_code(phone)
            assert code is not None
            await service.flows.verify_otp(tx, code)
            return (await start(user)).token

        async def totp_user(i: int) -> tuple[str, str]:
            started = await start(f"totp-{i}")
            assert isinstance(started.enrollment, PendingEnrollment)
            return started.token, started.enrollment.otp_secret

        logins = list(await asyncio.gather(*(sms_user(i) for i in range(SENDS))))
        enrolling = list(await asyncio.gather(*(totp_user(i) for i in range(CONFIRMS))))
        return Prepared(logins, enrolling)


async def confirmed_users(settings: Settings, tenant: str) -> set[str]:
    service = MFAService(settings)
    async with service:
        users = [f"totp-{i}" for i in range(CONFIRMS)] + [f"sms-{i}" for i in range(SENDS)]
        found = [(u, await service.admin.list_enrollments(tenant, u)) for u in users]
    return {u for u, enrollments in found if enrollments}


@pytest.fixture
def server(
    pg_url: str, tmp_path: Path, receiver: tuple[Receiver, str]
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = clean_env(
        MFA_DATABASE_URL=pg_url,
        MFA_REDIS_URL=REDIS_URL,
        MFA_ADMIN_KEY=ADMIN_KEY,
        MFA_DEV_KEYS_PATH=str(tmp_path / "keys.json"),
        MFA_SMS_TRANSPORT="webhook",
        MFA_SMS_WEBHOOK_URL=receiver[1],
        MFA_WEBHOOK_SECRET=SECRET,
    )
    # The schema and the development keys first, so that both workers find them.
    asyncio.run(prepare_schema(settings_for(pg_url, tmp_path)))
    cmd = [sys.executable, "-m", "mfa.cli", "serve", "--workers", "2", "--port", str(port)]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, base, log)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


async def prepare_schema(settings: Settings) -> None:
    async with MFAService(settings):
        pass


def wait_ready(proc: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    ready = 0
    with httpx.Client(base_url=base) as client:
        while time.monotonic() < deadline and ready < 4:  # a few answers: both workers, likely
            assert proc.poll() is None, log.read_text()
            with contextlib.suppress(httpx.TransportError):
                ready += client.get("/readyz").status_code == 200
            time.sleep(0.1)
    assert ready >= 4, f"mfa serve not ready after 30 s:\n{log.read_text()}"


async def post(base: str, path: str, token: str, body: dict[str, Any]) -> httpx.Response:
    # A connection of its own per request: none waits behind another.
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        return await client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})


async def test_sigterm_lets_requests_in_flight_finish(
    server: tuple[subprocess.Popen[bytes], str],
    receiver: tuple[Receiver, str],
    pg_url: str,
    tmp_path: Path,
    tenant: str,
) -> None:
    proc, base = server
    seen, _ = receiver
    settings = settings_for(pg_url, tmp_path)
    prepared = await prepare(settings, tenant)

    # Enrollments confirmed over HTTP before the signal: they must be in PostgreSQL after.
    confirms = [
        post(base, "/api/verify-otp", tx, {"code": totp.code_at(secret, time.time())})
        for tx, secret in prepared.enrolling
    ]
    assert [r.status_code for r in await asyncio.gather(*confirms)] == [204] * CONFIRMS

    sends = [asyncio.ensure_future(post(base, "/api/send-sms", tx, {})) for tx in prepared.logins]
    # Every send is inside a worker, waiting on the receiver, before the signal.
    assert await asyncio.to_thread(seen.wait_for, SENDS, 20), len(seen.messages)
    assert seen.answered == 0
    signalled = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    await asyncio.sleep(HOLD)  # the workers are draining, the sends still held
    assert proc.poll() is None
    seen.release.set()

    answers = await asyncio.gather(*sends, return_exceptions=True)
    assert [getattr(a, "status_code", a) for a in answers] == [204] * SENDS
    code = await asyncio.to_thread(proc.wait, EXIT_BOUND)
    took = time.monotonic() - signalled
    assert code == 0, (tmp_path / "serve.log").read_text()
    assert took < EXIT_BOUND
    assert "Traceback" not in (tmp_path / "serve.log").read_text()

    # Stopped: new connections are refused, not left hanging.
    with pytest.raises(httpx.ConnectError):
        await post(base, "/api/send-sms", prepared.logins[0], {})
    # What was accepted is in the stores: each SMS reached the receiver once, the
    # enrollments are in PostgreSQL.
    assert sorted(m["to"] for m in seen.messages) == sorted(MOBILE.format(i) for i in range(SENDS))
    assert seen.answered == SENDS
    everyone = {f"totp-{i}" for i in range(CONFIRMS)} | {f"sms-{i}" for i in range(SENDS)}
    assert await confirmed_users(settings, tenant) == everyone
    # and each send's quota unit is in Redis (one per enrollment SMS, one per send).
    async with redis_client() as client:
        used = await client.get("mfa:{" + tenant + "}:quota:sms:tenant")
    assert int(used) == 2 * SENDS


def redis_client() -> Any:
    import redis.asyncio as aioredis

    return aioredis.Redis.from_url(REDIS_URL)
