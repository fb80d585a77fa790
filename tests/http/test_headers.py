"""Every answer says ``Cache-Control: no-store`` and ``X-Content-Type-Options: nosniff``.

Many carry a secret or a token; a cached copy of one is a leak. The boundary adds
both to every response, errors and 405s included.
"""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Api

pytestmark = pytest.mark.anyio


def assert_hardened(r: httpx.Response) -> None:
    assert r.headers.get_list("cache-control") == ["no-store"], (r.request.url, r.headers)
    assert r.headers.get_list("x-content-type-options") == ["nosniff"]
    assert "server" not in r.headers


async def test_answers_carrying_secrets_are_not_stored(api: Api) -> None:
    await api.tenant()
    admin = api.admin
    answers = [
        await api.http.post(
            "/api/tenants/acme/api-keys",
            json={"name": "k", "scopes": ["factors:read"]},
            headers=admin,
        ),
        await api.http.post(
            "/api/tenants/acme/request-tokens", json={"user_id": "u"}, headers=admin
        ),
        await api.http.post(
            "/api/tenants/acme/enrollment-tickets", json={"user_id": "u"}, headers=admin
        ),
    ]
    token = answers[1].json()["request_token"]
    start = await api.http.post("/api/start-flow", headers={"Authorization": f"Bearer {token}"})
    answers.append(start)
    tx = start.json()["transaction_token"]
    answers.append(await api.post("/api/transaction-state", tx))
    for r in answers:
        assert r.status_code in (200, 201), r.text
        assert_hardened(r)


async def test_errors_and_meta_routes_are_hardened_too(api: Api) -> None:
    for r in (
        await api.http.get("/healthz"),
        await api.http.get("/api/openapi.json"),
        await api.http.get("/nope"),
        await api.http.get("/api/verify-otp"),  # 405
        await api.http.post("/api/verify-otp", json={"code": "123456"}),  # 400
        await api.http.get("/api/tenants", headers={"Authorization": "Bearer nope"}),
    ):
        assert_hardened(r)
