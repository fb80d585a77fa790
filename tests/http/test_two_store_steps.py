"""Steps that write to SQL and Redis: an interruption leaves the old state or the new.

Redis is the real server, reached through a proxy of ours that can swallow one
command (the atomic accept) and then say nothing — a stall at the worst moment,
as a frozen or partitioned Redis gives. The client times out, the service
answers 503, and what the user holds must still work.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mfa import MFAService, Settings, create_app
from mfa.factors import totp
from mfa.factors.recovery import RecoveryHasher
from mfa.storage.redis import RedisEphemeralStore
from mfa.testing import FrozenClock
from tests.conftest import ADMIN_KEY, REDIS_URL, Api, _drop_prefix
from tests.http.test_boundary import assert_error

pytestmark = pytest.mark.anyio

_REDIS_HOST, _REDIS_PORT = "127.0.0.1", int(REDIS_URL.rsplit(":", 1)[1].split("/")[0])
_REDIS_DB = REDIS_URL.rsplit("/", 1)[1]


class SwallowingProxy:
    """Forwards to the real Redis; once armed, the next client chunk carrying
    ``marker`` is dropped and that connection goes silent (nothing is lost on the
    real server: the command never reaches it)."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._armed: bytes | None = None
        self.swallowed = 0
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/{_REDIS_DB}"

    def arm(self, marker: bytes) -> None:
        self._armed = marker

    async def __aenter__(self) -> SwallowingProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(_REDIS_HOST, _REDIS_PORT)
        self._writers |= {writer, up_writer}
        silent = asyncio.Event()
        for coro in (
            self._pump(reader, up_writer, silent, upstream=True),
            self._pump(up_reader, writer, silent, upstream=False),
        ):
            task = asyncio.ensure_future(coro)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        silent: asyncio.Event,
        *,
        upstream: bool,
    ) -> None:
        try:
            while data := await reader.read(65536):
                if upstream and self._armed is not None and self._armed in data:
                    self._armed = None
                    self.swallowed += 1
                    silent.set()
                if not silent.is_set():
                    writer.write(data)
                    await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()


@dataclass
class Rig:
    api: Api
    proxy: SwallowingProxy
    clock: FrozenClock


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    clock = FrozenClock()
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'mfa.db'}",
        dev_keys_path=str(tmp_path / "keys.json"),
        admin_key=ADMIN_KEY,
        sms_transport="outbox",
        push_transport="outbox",
        argon2_profile="cheapest",
        auto_migrate=True,
        # The database gets time (other suites may share the machine); only the
        # Redis store below has the short deadline the stall is measured against.
        backend_timeout_seconds=5.0,
    )
    prefix = f"mfatest-{uuid.uuid4().hex[:12]}"
    async with SwallowingProxy() as proxy:
        store = RedisEphemeralStore(proxy.url, prefix=prefix, timeout=0.3)
        service = MFAService(settings, ephemeral=store, clock=clock)
        await service.open()
        transport = httpx.ASGITransport(app=create_app(service=service))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://mfa.test") as http:
                yield Rig(Api(http, service), proxy, clock)
        finally:
            await service.close()
            await _drop_prefix(REDIS_URL, prefix)


async def _enrolled(rig: Rig, user: str) -> dict[str, Any]:
    api = rig.api
    await api.tenant()
    start = await api.start("acme", user)
    code = totp.code_at(start["device_account"]["otp_secret"], rig.clock())
    r = await api.post("/api/verify-otp", start["transaction_token"], {"code": code})
    assert r.status_code == 204, r.text
    rig.clock.advance(30)
    account: dict[str, Any] = start["device_account"]
    return account


@pytest.mark.redis
async def test_recovery_code_survives_a_redis_stall_after_the_rotation(rig: Rig) -> None:
    api = rig.api
    account = await _enrolled(rig, "rita")
    old_code = account["recovery_code"]
    login = await api.start("acme", "rita")
    rig.proxy.arm(b"EVALSHA")  # the atomic accept, after SQL rotated the code
    r = await api.post(
        "/api/recover-account", login["transaction_token"], {"recovery_code": old_code}
    )
    assert_error(r, 503, "service_unavailable")
    assert rig.proxy.swallowed == 1

    # The user still holds a working code: the one they typed claims the new
    # code once the stalled request's time is surely up.
    rig.clock.advance(60)  # past the lease: 4 backend deadlines and 2 s
    again = await api.start("acme", "rita")
    r = await api.post(
        "/api/recover-account", again["transaction_token"], {"recovery_code": old_code}
    )
    assert r.status_code == 200, r.text
    new_code = r.json()["recovery_code"]
    assert new_code != old_code
    assert (await api.state(again["transaction_token"]))["state"] == "accepted"

    # The handover is over: the new code works, the old one no longer does.
    third = await api.start("acme", "rita")
    r = await api.post(
        "/api/recover-account", third["transaction_token"], {"recovery_code": old_code}
    )
    assert_error(r, 403, "invalid_recovery_code")
    r = await api.post(
        "/api/recover-account", third["transaction_token"], {"recovery_code": new_code}
    )
    assert r.status_code == 200, r.text


@pytest.mark.redis
async def test_a_stalled_handover_cannot_be_claimed_while_its_request_may_still_win(
    rig: Rig,
) -> None:
    """Two requests with one code, the first stalled in Redis: the second is
    refused until the first's deadline is surely past, so one code decides at
    most one login."""
    api = rig.api
    account = await _enrolled(rig, "sam")
    login = await api.start("acme", "sam")
    rig.proxy.arm(b"EVALSHA")
    code = {"recovery_code": account["recovery_code"]}
    r = await api.post("/api/recover-account", login["transaction_token"], code)
    assert_error(r, 503, "service_unavailable")
    other = await api.start("acme", "sam")
    r = await api.post("/api/recover-account", other["transaction_token"], code)
    assert_error(r, 403, "invalid_recovery_code")


@pytest.mark.redis
async def test_enrollment_completes_after_a_redis_stall_on_its_confirmation(rig: Rig) -> None:
    api = rig.api
    await api.tenant()
    start = await api.start("acme", "ed")
    secret = start["device_account"]["otp_secret"]
    tx = start["transaction_token"]
    rig.proxy.arm(b"EVALSHA")  # after the enrollment row is written
    r = await api.post("/api/verify-otp", tx, {"code": totp.code_at(secret, rig.clock())})
    assert_error(r, 503, "service_unavailable")

    # A retry with a valid code finds its own row and completes.
    rig.clock.advance(30)
    r = await api.post("/api/verify-otp", tx, {"code": totp.code_at(secret, rig.clock())})
    assert r.status_code == 204, r.text
    state = await api.state(tx)
    assert (
        state["state"] == "accepted" and state["enrollment"]["id"] == start["device_account"]["id"]
    )


class CountingHasher(RecoveryHasher):
    """The real argon2 hasher, counting calls and the most at once."""

    def __init__(self) -> None:
        super().__init__("cheapest", workers=2)
        self.calls = 0
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def verify(self, stored_hash: str, code: str) -> bool:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            threading.Event().wait(0.02)  # long enough for the burst to pile up
            return super().verify(stored_hash, code)
        finally:
            with self._lock:
                self.running -= 1


async def test_a_burst_of_wrong_recovery_codes_hashes_little_and_answers_the_contract(
    api: Api, clock: FrozenClock
) -> None:
    hasher = CountingHasher()
    api.service.ctx.hasher = hasher
    await api.tenant()
    start = await api.start("acme", "bea")
    code = totp.code_at(start["device_account"]["otp_secret"], clock())
    assert (
        await api.post("/api/verify-otp", start["transaction_token"], {"code": code})
    ).status_code == 204
    login = await api.start("acme", "bea")
    wrong = {"recovery_code": "A" * 24}
    results = await asyncio.gather(
        *(api.post("/api/recover-account", login["transaction_token"], wrong) for _ in range(40))
    )
    codes = {r.json()["errorCode"] for r in results}
    assert codes <= {"invalid_recovery_code", "login_transaction_not_found"}, codes
    assert all(r.status_code in (403, 404) for r in results)
    # Each wrong code counts once it is checked; the transaction allows five.
    assert hasher.calls <= api.service.settings.otp_attempts_per_transaction
    assert hasher.most <= hasher.workers


async def test_a_totp_code_is_not_accepted_again_after_redis_forgets(
    api: Api, clock: FrozenClock
) -> None:
    """Redis without persistence loses its replay marks on a restart; the step
    kept with the enrollment still refuses the code."""
    await api.tenant()
    start = await api.start("acme", "rex")
    secret = start["device_account"]["otp_secret"]
    code = totp.code_at(secret, clock())
    assert (
        await api.post("/api/verify-otp", start["transaction_token"], {"code": code})
    ).status_code == 204
    clock.advance(30)
    login = await api.start("acme", "rex")
    code = totp.code_at(secret, clock())
    assert (
        await api.post("/api/verify-otp", login["transaction_token"], {"code": code})
    ).status_code == 204
    await api.service.ctx.activity.flush()  # what the background writer does within 0.1 s

    store = api.service.ephemeral
    if isinstance(store, RedisEphemeralStore):
        await _drop_prefix(REDIS_URL, store.prefix)  # everything Redis knew is gone
    else:
        await store.close()  # the in-process store forgets with its process
        await store.open()

    again = await api.start("acme", "rex")
    r = await api.post("/api/verify-otp", again["transaction_token"], {"code": code})
    assert_error(r, 403, "invalid_otp")
    clock.advance(30)  # the next code is fine
    r = await api.post(
        "/api/verify-otp", again["transaction_token"], {"code": totp.code_at(secret, clock())}
    )
    assert r.status_code == 204, r.text
