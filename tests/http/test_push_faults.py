"""Push steps that write both stores, with the ephemeral store failing halfway.

The failing store is the in-process one with its writes switched off at will,
raising :class:`BackendUnavailable` exactly as the Redis store does when Redis
is gone (tests/storage/test_faults.py shows that it does). What is checked is
the flow's promise: the old state or the new one, never a mix.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mfa import MFAService, Settings, create_app
from mfa.storage.base import BackendUnavailable
from mfa.storage.memory import MemoryEphemeralStore
from mfa.testing import FrozenClock
from mfa.testing_phone import Phone
from tests.conftest import ADMIN_KEY
from tests.http.test_boundary import assert_error

pytestmark = pytest.mark.anyio


class FlakyStore(MemoryEphemeralStore):
    """Updates fail while ``down`` is set, as on a Redis that went away."""

    down = False

    async def update_transaction(self, *args: Any, **kw: Any) -> bool:
        if self.down:
            raise BackendUnavailable("redis unavailable during update_transaction")
        return await super().update_transaction(*args, **kw)


@pytest.fixture
async def flaky(
    settings: Settings, clock: FrozenClock
) -> AsyncIterator[tuple[httpx.AsyncClient, FlakyStore, MFAService]]:
    store = FlakyStore(clock=clock)
    service = MFAService(settings, ephemeral=store, clock=clock)
    await service.open()
    transport = httpx.ASGITransport(app=create_app(service=service))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://mfa.test") as http:
            yield http, store, service
    finally:
        await service.close()


async def test_enroll_undone_when_the_transaction_cannot_show_it(
    flaky: tuple[httpx.AsyncClient, FlakyStore, MFAService], clock: FrozenClock
) -> None:
    http, store, service = flaky
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    await http.post("/api/tenants", json={"tenant_id": "acme", "name": "Acme"}, headers=admin)
    r = await http.post("/api/tenants/acme/request-tokens", json={"user_id": "u"}, headers=admin)
    auth = {"Authorization": f"Bearer {r.json()['request_token']}"}
    start = (await http.post("/api/start-flow", headers=auth)).json()
    phone = Phone("http://mfa.test", clock=clock)

    store.down = True
    r = await http.send(phone.enroll_request(start["enrollment_tx_id"]))
    assert_error(r, 503, "service_unavailable")
    # Old state: no enrollment stored, the transaction unchanged.
    assert await service.durable.get_user_enrollment("acme", "u") is None
    store.down = False
    tx = {"Authorization": f"Bearer {start['transaction_token']}"}
    assert (await http.post("/api/transaction-state", headers=tx)).json()["enrollment"] is None
    # Back: the same ticket enrolls.
    r = await http.send(phone.enroll_request(start["enrollment_tx_id"]))
    assert r.status_code == 200, r.text
    assert await service.durable.get_user_enrollment("acme", "u") is not None
