"""Edges of the contract: trailing slashes, 405's Allow, codes that cannot be codes."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from mfa import create_app
from mfa.factors import totp
from mfa.testing import FrozenClock
from tests.conftest import Api
from tests.http.test_boundary import assert_error

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "path",
    ["/api/tenants/", "/appliance-mfa/api/tenants/", "/healthz/", "/appliance-mfa"],
)
async def test_a_trailing_slash_is_not_found_not_a_redirect(api: Api, path: str) -> None:
    r = await api.http.get(path, headers={**api.admin, "Host": "evil.example"})
    assert_error(r, 404, "not_found")
    assert "location" not in r.headers


def _allow(r: httpx.Response) -> set[str]:
    return {m.strip() for m in r.headers["allow"].split(",")}


@pytest.mark.parametrize("prefix", ["", "/appliance-mfa"])
async def test_allow_lists_every_method_of_the_path(api: Api, prefix: str) -> None:
    r = await api.http.put(f"{prefix}/api/tenants/acme", json={}, headers=api.admin)
    assert_error(r, 405, "not_found")
    assert _allow(r) == {"GET", "HEAD", "DELETE"}
    r = await api.http.delete(f"{prefix}/api/tenants", headers=api.admin)
    assert_error(r, 405, "not_found")
    assert _allow(r) == {"GET", "HEAD", "POST"}
    r = await api.http.get(f"{prefix}/api/verify-otp")
    assert _allow(r) == {"POST"}


async def test_allow_is_right_under_a_host_mount(api: Api) -> None:
    host = Starlette(routes=[Mount("/mfa", app=create_app(service=api.service))])
    transport = httpx.ASGITransport(app=host)
    async with httpx.AsyncClient(transport=transport, base_url="http://host.test") as http:
        r = await http.put("/mfa/appliance-mfa/api/tenants/acme", json={})
    assert r.status_code == 405
    assert _allow(r) == {"GET", "HEAD", "DELETE"}


async def _enroll_tx(api: Api) -> str:
    await api.tenant()
    return str((await api.start("acme", "u1"))["transaction_token"])


async def test_a_trailing_newline_costs_no_attempt(api: Api, clock: FrozenClock) -> None:
    await api.tenant()
    start = await api.start("acme", "u1")
    tx, secret = start["transaction_token"], start["device_account"]["otp_secret"]
    right = totp.code_at(secret, clock())
    wrong = f"{(int(right[:5]) + 1) % 100000:05d}\n"  # 6 characters, 5 digits and "\n"
    limit = api.service.settings.otp_attempts_per_transaction
    for _ in range(limit + 1):
        r = await api.post("/api/verify-otp", tx, {"code": wrong})
        assert_error(r, 400, "invalid_otp_format")
    r = await api.post("/api/verify-otp", tx, {"code": right})
    assert r.status_code == 204, r.text


@pytest.mark.parametrize("code", ["12345\n", "123456\n", "1" * 65, "1" * 11, "12 456", "١٢٣٤٥٦"])
async def test_codes_that_cannot_be_codes_are_invalid_otp_format(api: Api, code: str) -> None:
    tx = await _enroll_tx(api)
    r = await api.post("/api/verify-otp", tx, {"code": code})
    assert_error(r, 400, "invalid_otp_format")
    # Not a wrong attempt: the transaction still takes the right code's format.
    assert (await api.state(tx))["state"] == "pending"


@pytest.mark.parametrize("code", ["A" * 23 + "\n", "A" * 24 + "\n", "A" * 200, "A" * 23 + "-"])
async def test_recovery_codes_that_cannot_be_are_invalid_format(api: Api, code: str) -> None:
    tx = await _enroll_tx(api)
    r = await api.post("/api/recover-account", tx, {"recovery_code": code})
    assert_error(r, 400, "invalid_recovery_code_format")
