"""The rules of trust of DESIGN.md that other files do not already pin down.

Each test here fails if its rule is broken: secrets at rest, codes never stored or
logged in the clear, argon2 off the event loop, a backend outage that is clean,
bounded and heals by itself.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from mfa import MFAService, Settings, create_app
from mfa.factors import totp
from mfa.factors.recovery import RecoveryHasher
from mfa.storage.redis import RedisEphemeralStore
from mfa.testing import FrozenClock
from tests.conftest import ADMIN_KEY, Api
from tests.http.test_boundary import assert_error
from tests.http.test_sms_flows import MOBILE, sms_enroll
from tests.storage.test_faults import RedisServer, free_port
from transports.outbox import Outbox

pytestmark = pytest.mark.anyio


def raw_rows(settings: Settings) -> str:
    """Every row of every table of the SQLite file, as one string."""
    path = settings.database_url.split("///", 1)[1]
    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute("select name from sqlite_master where type='table'")]
        dump = []
        for table in tables:
            for row in con.execute(f'select * from "{table}"'):
                dump.append(
                    " ".join(v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row)
                )
        return "\n".join(dump)
    finally:
        con.close()


async def test_secrets_are_not_readable_at_rest(
    api: Api, settings: Settings, outbox: Outbox, clock: FrozenClock
) -> None:
    await api.tenant()
    start = await api.start("acme", "alice")
    secret = start["device_account"]["otp_secret"]
    recovery_code = start["device_account"]["recovery_code"]
    r = await api.post(
        "/api/verify-otp", start["transaction_token"], {"code": totp.code_at(secret, clock())}
    )
    assert r.status_code == 204
    await sms_enroll(api, outbox, "bob")
    key = await api.http.post(
        "/api/tenants/acme/api-keys",
        json={"name": "k", "scopes": ["factors:read"]},
        headers=api.admin,
    )
    api_key = key.json()["key"]
    dump = raw_rows(settings)
    assert "alice" in dump  # the dump does see the rows
    for plaintext in (secret, recovery_code, MOBILE, MOBILE[1:], api_key):
        assert plaintext not in dump
    stored = await api.service.durable.get_user_enrollment("acme", "alice")
    assert stored is not None and stored.recovery_code_hash is not None
    assert stored.recovery_code_hash.startswith("$argon2id$")


async def test_sms_code_is_only_kept_as_a_keyed_hash(api: Api, outbox: Outbox) -> None:
    await api.tenant()
    await sms_enroll(api, outbox, "carol")
    login = await api.start("acme", "carol")
    await api.post("/api/send-sms", login["transaction_token"])
    code = outbox.last_code()
    assert code is not None
    claims = api.service.codec.decode(login["transaction_token"], "tx")
    tx = await api.service.ephemeral.get_transaction("acme", claims["txid"])
    assert tx is not None
    kept = json.dumps(tx.data)
    assert code not in kept and MOBILE not in kept
    assert tx.data["sms_code"] == api.service.ctx.sms_code_hash(tx.txid, code)


async def test_seed_in_the_ephemeral_store_is_sealed(api: Api) -> None:
    await api.tenant()
    start = await api.start("acme", "dave")
    claims = api.service.codec.decode(start["transaction_token"], "tx")
    tx = await api.service.ephemeral.get_transaction("acme", claims["txid"])
    assert tx is not None
    kept = json.dumps(tx.data)
    assert start["device_account"]["otp_secret"] not in kept
    assert start["device_account"]["recovery_code"] not in kept


class ThreadRecordingHasher(RecoveryHasher):
    def __init__(self) -> None:
        super().__init__("cheapest")
        self.threads: list[threading.Thread] = []

    def hash(self, code: str) -> str:
        self.threads.append(threading.current_thread())
        return super().hash(code)

    def verify(self, stored_hash: str, code: str) -> bool:
        self.threads.append(threading.current_thread())
        return super().verify(stored_hash, code)


async def test_argon2_runs_off_the_event_loop(api: Api, clock: FrozenClock) -> None:
    recorder = ThreadRecordingHasher()
    api.service.ctx.hasher = recorder
    await api.tenant()
    start = await api.start("acme", "erin")
    code = totp.code_at(start["device_account"]["otp_secret"], clock())
    await api.post("/api/verify-otp", start["transaction_token"], {"code": code})
    login = await api.start("acme", "erin")
    r = await api.post(
        "/api/recover-account",
        login["transaction_token"],
        {"recovery_code": start["device_account"]["recovery_code"]},
    )
    assert r.status_code == 200
    assert len(recorder.threads) == 3  # hash at enrollment, verify, hash of the new code
    assert all(t is not threading.main_thread() for t in recorder.threads)


async def test_no_code_or_secret_in_logs(
    api: Api, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await api.tenant()
    start = await api.start("acme", "fred")
    account = start["device_account"]
    code = totp.code_at(account["otp_secret"], clock())
    await api.post("/api/verify-otp", start["transaction_token"], {"code": "000000"})
    await api.post("/api/verify-otp", start["transaction_token"], {"code": code})
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (account["otp_secret"], account["recovery_code"], code, ADMIN_KEY):
        assert secret not in logged


@pytest.fixture
async def own_redis() -> AsyncIterator[RedisServer]:
    server = RedisServer(free_port())
    await server.start()
    try:
        yield server
    finally:
        await server.kill()


@pytest.mark.slow
@pytest.mark.redis
async def test_redis_outage_is_503_then_heals(settings: Settings, own_redis: RedisServer) -> None:
    service = MFAService(settings, ephemeral=RedisEphemeralStore(own_redis.url, timeout=0.5))
    app = create_app(service=service)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as http:
            api = Api(http, service)
            await api.tenant()
            tx = (await api.start("acme", "gail"))["transaction_token"]
            await own_redis.kill()
            started = time.monotonic()
            r = await api.post("/api/transaction-state", tx)
            assert time.monotonic() - started < 3
            assert_error(r, 503, "service_unavailable")
            assert r.headers["retry-after"]
            assert_error(await http.get("/readyz"), 503, "service_unavailable")
            await own_redis.start()
            # The restarted server lost the transaction (no persistence): the
            # contract answer, not a 503, proves the service talks to it again.
            assert_error(
                await api.post("/api/transaction-state", tx),
                404,
                "enrollment_transaction_not_found",
            )
            assert (await http.get("/readyz")).status_code == 200
            assert (await api.start("acme", "gail"))["transaction_token"]
    finally:
        await service.close()
