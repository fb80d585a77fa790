"""Fixtures of the client tests: the real app, reached through the client.

``client`` is an :class:`mfa.client.AsyncClient` on the ASGI app of the shared
``service`` fixture (so it runs on the memory and the Redis ephemeral store), with
the operator key. ``live`` runs a fresh service on a real socket for the blocking
:class:`mfa.client.Client`, which has no in-process transport.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from mfa import MFAService, Settings, create_app
from mfa.client import AsyncClient
from mfa.testing import FrozenClock
from tests.conftest import ADMIN_KEY
from tests.stubs.server import ServerThread
from transports.outbox import Outbox

BASE_URL = "http://mfa.test"


@pytest.fixture
async def client(service: MFAService) -> AsyncIterator[AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(service=service))
    async with AsyncClient(BASE_URL, ADMIN_KEY, transport=transport) as c:
        yield c


@dataclass
class Live:
    base_url: str
    service: MFAService

    @property
    def outbox(self) -> Outbox:
        assert isinstance(self.service.sms, Outbox)
        return self.service.sms


@pytest.fixture
def live(settings: Settings, clock: FrozenClock) -> Iterator[Live]:
    """A fresh service behind uvicorn in a thread.

    The service opens its stores lazily, on the first request, inside the server
    thread's event loop; so it must be closed in that loop too (aiosqlite and the
    stores are bound to it). The wrapper app remembers the loop for that."""
    service = MFAService(settings, clock=clock)
    app = create_app(service=service)
    loops: list[asyncio.AbstractEventLoop] = []

    async def remember_loop(scope: Scope, receive: Receive, send: Send) -> None:
        if not loops:
            loops.append(asyncio.get_running_loop())
        await app(scope, receive, send)

    with ServerThread(remember_loop) as server:
        try:
            yield Live(server.base_url, service)
        finally:
            if loops:
                asyncio.run_coroutine_threadsafe(service.close(), loops[0]).result(timeout=10)
