"""The hosted-pages tenant setting: API, scopes, validation, storage, and the URL rules."""

from __future__ import annotations

import httpx
import pytest

from mfa.storage.base import HostedPages
from mfa.ui import policy
from tests.conftest import Api
from tests.ui.conftest import RETURN_TO

pytestmark = pytest.mark.anyio


async def test_put_then_get_roundtrip_normalizes(api: Api, tenant: str) -> None:
    r = await api.http.put(
        f"/api/tenants/{tenant}/hosted-pages",
        json={
            "allowed_return_urls": ["HTTPS://App.Example.com:443/mfa/return", RETURN_TO],
            "logo_url": "https://cdn.example.com/logo.svg",
            "primary_color": "#AABBCC",
        },
        headers=api.admin,
    )
    assert r.status_code == 200, r.text
    expected = {
        "allowed_return_urls": [RETURN_TO],  # normalized, duplicates dropped
        "logo_url": "https://cdn.example.com/logo.svg",
        "primary_color": "#aabbcc",
    }
    assert r.json() == expected
    got = await api.http.get(f"/api/tenants/{tenant}/hosted-pages", headers=api.admin)
    assert got.status_code == 200
    assert got.json() == expected


async def test_a_put_replaces_the_whole_setting(api: Api, tenant: str) -> None:
    r = await api.http.put(
        f"/api/tenants/{tenant}/hosted-pages", json={"logo_url": "/logo.png"}, headers=api.admin
    )
    assert r.json() == {"allowed_return_urls": [], "logo_url": "/logo.png", "primary_color": None}


@pytest.mark.parametrize(
    "body",
    [
        {"allowed_return_urls": ["http://app.example.com/back"]},  # plain http off loopback
        {"allowed_return_urls": ["https://user@app.example.com/back"]},
        {"allowed_return_urls": ["https://app.example.com/a/../back"]},
        {"allowed_return_urls": ["https://app.example.com/back#frag"]},
        {"allowed_return_urls": ["javascript:alert(1)"]},
        {"allowed_return_urls": ["/relative/back"]},
        {"allowed_return_urls": ["https://app.example.com\\@evil.com/"]},
        {"logo_url": "//evil.example/logo.png"},
        {"logo_url": "data:image/png;base64,AAAA"},
        {"primary_color": "red; background: url(x)"},
        {"primary_color": "#12345"},
        {"allowed_return_urls": [f"https://app.example.com/{i}" for i in range(21)]},
        {"unknown": 1},
    ],
)
async def test_unsafe_settings_are_invalid_body(
    api: Api, tenant: str, body: dict[str, object]
) -> None:
    r = await api.http.put(f"/api/tenants/{tenant}/hosted-pages", json=body, headers=api.admin)
    assert r.status_code == 400, r.text
    assert r.json()["errorCode"] == "invalid_body"
    # and nothing changed
    got = await api.http.get(f"/api/tenants/{tenant}/hosted-pages", headers=api.admin)
    assert got.json()["allowed_return_urls"] == [RETURN_TO]


async def _key(api: Api, tenant: str, scopes: list[str]) -> dict[str, str]:
    r = await api.http.post(
        f"/api/tenants/{tenant}/api-keys", json={"name": "k", "scopes": scopes}, headers=api.admin
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['key']}"}


async def test_scopes_and_tenant_walls(api: Api, tenant: str) -> None:
    reader = await _key(api, tenant, ["tenants:read"])
    writer = await _key(api, tenant, ["factors:write"])
    path = f"/api/tenants/{tenant}/hosted-pages"
    assert (await api.http.get(path, headers=reader)).status_code == 200
    r = await api.http.put(path, json={}, headers=reader)
    assert r.status_code == 403 and r.json()["errorCode"] == "insufficient_scope"
    assert (await api.http.put(path, json={}, headers=writer)).status_code == 200
    other = await api.tenant("other", "Other")
    r = await api.http.put(f"/api/tenants/{other}/hosted-pages", json={}, headers=writer)
    assert r.status_code == 403 and r.json()["errorCode"] == "insufficient_scope"
    r = await api.http.get("/api/tenants/nope/hosted-pages", headers=api.admin)
    assert r.status_code == 404 and r.json()["errorCode"] == "tenant_not_found"


async def test_setting_survives_other_tenant_updates(api: Api, tenant: str) -> None:
    # update_tenant merges: a factor toggle must not wipe the allowlist
    r = await api.http.put(
        f"/api/tenants/{tenant}/factors/sms", json={"enabled": False}, headers=api.admin
    )
    assert r.status_code == 200
    got = await api.http.get(f"/api/tenants/{tenant}/hosted-pages", headers=api.admin)
    assert got.json()["allowed_return_urls"] == [RETURN_TO]


ALLOWED = HostedPages(allowed_return_urls=(RETURN_TO, "http://127.0.0.1:8000/back?x=1"))


@pytest.mark.parametrize(
    "candidate",
    [
        "https://app.example.com/mfa/return/",
        "https://app.example.com/mfa/returnx",
        "https://app.example.com/mfa/return?next=https://evil.com",
        "https://app.example.com.evil.com/mfa/return",
        "https://evil.com/https://app.example.com/mfa/return",
        "https://app.example.com@evil.com/mfa/return",
        "https://app.example.com:8443/mfa/return",
        "http://app.example.com/mfa/return",
        "//app.example.com/mfa/return",
        "https://app.example.com/mfa/./return",
        "https://app.example.com/mfa/x/../return",
        "https://app.example.com\\mfa/return",
        "https://app.example.com/mfa/return#x",
        " https://app.example.com/mfa/return",
        "http://127.0.0.1:8000/back",
        "http://127.0.0.1:8001/back?x=1",
        "javascript://app.example.com/mfa/return",
        "",
    ],
)
def test_return_to_must_match_an_allowed_url_exactly(candidate: str) -> None:
    assert policy.return_url_allowed(ALLOWED, candidate) is None


@pytest.mark.parametrize(
    ("candidate", "normal"),
    [
        (RETURN_TO, RETURN_TO),
        ("HTTPS://APP.example.com:443/mfa/return", RETURN_TO),
        ("http://127.0.0.1:8000/back?x=1", "http://127.0.0.1:8000/back?x=1"),
    ],
)
def test_equivalent_spellings_are_allowed(candidate: str, normal: str) -> None:
    assert policy.return_url_allowed(ALLOWED, candidate) == normal


def test_a_tenant_without_setting_allows_nothing() -> None:
    assert policy.return_url_allowed(HostedPages(), RETURN_TO) is None


async def test_async_client_reads_and_replaces_the_setting(api: Api, tenant: str) -> None:
    from mfa import create_app
    from mfa.client import AsyncClient, MFAError
    from tests.conftest import ADMIN_KEY

    transport = httpx.ASGITransport(app=create_app(service=api.service))
    async with AsyncClient("http://mfa.test", ADMIN_KEY, transport=transport) as client:
        assert (await client.get_hosted_pages(tenant))["allowed_return_urls"] == [RETURN_TO]
        got = await client.set_hosted_pages(
            tenant, allowed_return_urls=["https://b.example/r"], primary_color="#000000"
        )
        assert got == {
            "allowed_return_urls": ["https://b.example/r"],
            "logo_url": None,
            "primary_color": "#000000",
        }
        with pytest.raises(MFAError) as refused:
            await client.set_hosted_pages(tenant, allowed_return_urls=["http://b.example/r"])
        assert refused.value.code == "invalid_body"
