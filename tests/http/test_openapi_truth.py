"""The OpenAPI document states what validation enforces, and validation accepts what
a JSON client sends (``3600.0`` for an integer)."""

from __future__ import annotations

from typing import Any

import pytest

from mfa.names import Factor, Feature
from tests.conftest import Api
from tests.http.test_boundary import assert_error

pytestmark = pytest.mark.anyio


async def _doc(api: Api) -> dict[str, Any]:
    r = await api.http.get("/api/openapi.json")
    assert r.status_code == 200
    doc: dict[str, Any] = r.json()
    return doc


def _props(doc: dict[str, Any], model: str) -> dict[str, Any]:
    props: dict[str, Any] = doc["components"]["schemas"][model]["properties"]
    return props


async def test_request_bodies_are_required_where_fields_are(api: Api) -> None:
    paths = (await _doc(api))["paths"]
    required = {
        ("/api/tenants", "post"): True,
        ("/api/verify-otp", "post"): True,
        ("/api/recover-account", "post"): True,
        ("/api/tenants/{tenant_id}/request-tokens", "post"): True,
        ("/api/tenants/{tenant_id}/sms-settings", "put"): True,
        ("/api/tenants/{tenant_id}/factors/{name}", "put"): True,
        # Guardian clients POST these without a body.
        ("/api/start-flow", "post"): False,
        ("/api/transaction-state", "post"): False,
        ("/api/send-sms", "post"): False,
        ("/api/tenants/{tenant_id}/quotas", "put"): False,  # any subset, even none
    }
    for (path, method), expected in required.items():
        assert paths[path][method]["requestBody"]["required"] is expected, (path, method)


async def test_constraints_that_validation_enforces_are_documented(api: Api) -> None:
    doc = await _doc(api)
    code = _props(doc, "VerifyOtpBody")["code"]
    assert code["pattern"] == "^[0-9]{4,10}$"
    recovery = _props(doc, "RecoverAccountBody")["recovery_code"]
    assert (recovery["minLength"], recovery["maxLength"]) == (24, 24)
    assert recovery["pattern"] == "^[0-9A-Za-z]{24}$"
    length = _props(doc, "SmsSettingsBody")["otp_length"]
    assert (length["type"], length["minimum"], length["maximum"]) == ("integer", 4, 10)
    assert _props(doc, "UserBody")["user_id"]["pattern"]  # no control characters

    paths = doc["paths"]

    def param(path: str, method: str, name: str) -> dict[str, Any]:
        for p in paths[path][method]["parameters"]:
            if p["name"] == name:
                schema: dict[str, Any] = p["schema"]
                return schema
        raise AssertionError(name)

    factor = param("/api/tenants/{tenant_id}/factors/{name}", "put", "name")
    assert factor["enum"] == [f.value for f in Factor]
    feature = param("/api/tenants/{tenant_id}/features/{name}", "put", "name")
    assert feature["enum"] == [f.value for f in Feature]
    tenant = param("/api/tenants/{tenant_id}", "get", "tenant_id")
    assert tenant["pattern"] == "^[a-z0-9_-]{1,64}$"
    key = param("/api/tenants/{tenant_id}/api-keys/{key_id}", "delete", "key_id")
    assert key["maxLength"] == 256 and key["pattern"]


async def test_integral_floats_are_integers(api: Api) -> None:
    await api.tenant()
    r = await api.http.put(
        "/api/tenants/acme/quotas",
        json={"sms_per_user": {"limit": 10.0, "window_seconds": 3600.0}},
        headers=api.admin,
    )
    assert r.status_code == 200, r.text
    assert r.json()["sms_per_user"] == {"limit": 10, "window_seconds": 3600}
    r = await api.http.put(
        "/api/tenants/acme/sms-settings", json={"otp_length": 8.0}, headers=api.admin
    )
    assert r.status_code == 200 and r.json() == {"otp_length": 8}
    for bad in (3600.5, "3600", True, None, 0, 0.0, 31 * 86400 + 1):
        r = await api.http.put(
            "/api/tenants/acme/quotas",
            json={"sms_per_user": {"limit": 10, "window_seconds": bad}},
            headers=api.admin,
        )
        assert_error(r, 400, "invalid_body")


@pytest.mark.parametrize("length", [3, 11, 4.5])
async def test_otp_length_out_of_range_is_invalid_body(api: Api, length: float) -> None:
    await api.tenant()
    r = await api.http.put(
        "/api/tenants/acme/sms-settings", json={"otp_length": length}, headers=api.admin
    )
    assert_error(r, 400, "invalid_body")
