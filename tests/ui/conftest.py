"""Fixtures of the hosted-pages tests: a tenant whose pages may return to the host."""

from __future__ import annotations

import pytest

from tests.conftest import Api

HOST = "https://app.example.com"
RETURN_TO = HOST + "/mfa/return"


@pytest.fixture
async def tenant(api: Api) -> str:
    tid = await api.tenant("acme", "Acme & Co")
    r = await api.http.put(
        f"/api/tenants/{tid}/hosted-pages",
        json={"allowed_return_urls": [RETURN_TO], "primary_color": "#0A7B3E"},
        headers=api.admin,
    )
    assert r.status_code == 200, r.text
    return tid
