"""verify-otp and a refused send cost exactly two Redis round trips, counted at
the Redis server.

The hot path reads the transaction (``HGETALL``) and records the attempt and the
acceptance in one script (``EVALSHA``); nothing else may reach Redis. A send a
quota refuses reads the transaction and decides in one script, which appends the
refusal's audit event too. ``MONITOR`` sees every command the server receives, so
the count does not depend on how the store talks to redis-py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from mfa import MFAService, Settings, create_app
from mfa.factors import totp
from mfa.storage.redis import RedisEphemeralStore
from mfa.storage.redis_events import RELAY_CLIENT_NAME
from mfa.testing import FrozenClock
from tests.conftest import REDIS_URL, Api, _drop_prefix
from tests.events.conftest import trail
from tests.http.test_boundary import assert_error
from tests.http.test_sms_flows import set_quota, sms_enroll
from transports.outbox import Outbox

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


@pytest.fixture
async def redis_api(settings: Settings, clock: FrozenClock) -> AsyncIterator[tuple[Api, str]]:
    prefix = f"mfatest-rt-{uuid.uuid4().hex[:12]}"
    service = MFAService(
        settings, ephemeral=RedisEphemeralStore(REDIS_URL, prefix=prefix), clock=clock
    )
    transport = httpx.ASGITransport(app=create_app(service=service))
    try:
        async with (
            service,
            httpx.AsyncClient(transport=transport, base_url="http://mfa.test") as http,
        ):
            yield Api(http, service), prefix
    finally:
        await _drop_prefix(REDIS_URL, prefix)


class Monitor:
    """The commands Redis receives while in the block."""

    def __init__(self) -> None:
        self.client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
        self.marker = f"round-trips-end-{uuid.uuid4().hex}"
        self.commands: list[dict[str, Any]] = []
        self.relay_ports: set[str] = set()

    async def __aenter__(self) -> Monitor:
        self._monitor = self.client.monitor()
        await self._monitor.__aenter__()  # MONITOR acknowledged: nothing is missed
        self._task = asyncio.create_task(self._collect())
        return self

    async def _collect(self) -> None:
        async for command in self._monitor.listen():
            if self.marker in command["command"]:
                return
            self.commands.append(command)

    async def __aexit__(self, *exc: object) -> None:
        # The event relay (mfa.events.relay) moves streams in the background, on its
        # own named connections: not the request path.
        self.relay_ports = {
            c["addr"].rsplit(":", 1)[1]
            for c in await self.client.client_list()
            if c.get("name") == RELAY_CLIENT_NAME
        }
        await self.client.echo(self.marker)  # on another connection of the client
        try:
            await asyncio.wait_for(self._task, 10)
        finally:
            await self._monitor.__aexit__(None, None, None)
            await self.client.aclose()

    def round_trips(self, prefix: str) -> list[str]:
        """Command names, one per round trip, of every connection that used ``prefix``."""
        ours = {
            c["client_port"]
            for c in self.commands
            if f"{prefix}:" in c["command"] and c["client_port"] not in self.relay_ports
        }
        names: list[str] = []
        in_multi: set[str] = set()
        for c in self.commands:
            who = c["client_port"]
            if c["client_type"] == "lua" or who not in ours:
                continue  # a command run by a script is not a round trip
            name = c["command"].split(" ", 1)[0].strip('"').upper()
            if who in in_multi:  # MULTI..EXEC goes in one round trip
                if name in ("EXEC", "DISCARD"):
                    in_multi.discard(who)
                continue
            if name == "MULTI":
                in_multi.add(who)
            names.append(name)
        return names


async def test_verify_otp_is_two_redis_round_trips(
    redis_api: tuple[Api, str], clock: FrozenClock
) -> None:
    api, prefix = redis_api
    await api.tenant()
    start = await api.start("acme", "alice")
    secret = start["device_account"]["otp_secret"]
    code = totp.code_at(secret, clock())
    r = await api.post("/api/verify-otp", start["transaction_token"], {"code": code})
    assert r.status_code == 204, r.text  # enrolled; the scripts are loaded
    clock.advance(totp.PERIOD)
    login = (await api.start("acme", "alice"))["transaction_token"]
    body = {"type": "manual_input", "code": totp.code_at(secret, clock())}

    async with Monitor() as monitor:
        r = await api.post("/api/verify-otp", login, body)
    assert r.status_code == 204, r.text
    assert monitor.round_trips(prefix) == ["HGETALL", "EVALSHA"]
    assert (await api.state(login))["state"] == "accepted"


async def test_a_refused_send_writes_its_event_in_the_deciding_script(
    redis_api: tuple[Api, str],
) -> None:
    api, prefix = redis_api
    await api.tenant()
    await set_quota(api, "sms_per_user", 1, 600)
    outbox = api.service.sms
    assert isinstance(outbox, Outbox)
    await sms_enroll(api, outbox, "hal")  # the one send allowed; the scripts are loaded
    login = (await api.start("acme", "hal"))["transaction_token"]

    async with Monitor() as monitor:
        r = await api.post("/api/send-sms", login)
    assert_error(r, 429, "too_many_sms")
    assert monitor.round_trips(prefix) == ["HGETALL", "EVALSHA"]  # no XADD of its own
    by_script = [
        c["command"]
        for c in monitor.commands
        if c["client_type"] == "lua" and f"{prefix}:{{acme}}:events" in c["command"]
    ]
    assert len(by_script) == 1 and by_script[0].startswith("XADD ")
    assert " quota.refused " in by_script[0] and " error_code too_many_sms " in by_script[0]
    (refused,) = await trail(api, "acme", type="quota.refused")
    assert (refused["user_id"], refused["method"]) == ("hal", "sms")
