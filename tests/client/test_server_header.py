"""Over a real socket (uvicorn, as ``mfa serve`` runs it): no ``Server`` banner."""

from __future__ import annotations

import httpx
import pytest

from tests.client.conftest import Live

pytestmark = pytest.mark.anyio


async def test_uvicorn_does_not_announce_itself(live: Live) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        r = await http.get("/healthz")
    assert r.status_code == 200
    assert "server" not in r.headers
    assert r.headers["cache-control"] == "no-store"
