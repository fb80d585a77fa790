"""The backend API: API keys, scopes, tenant isolation, toggles, quotas, enrollments."""

from __future__ import annotations

from typing import Any

import pytest

from mfa.admin import ALL_SCOPES
from mfa.testing import FrozenClock
from tests.conftest import Api
from tests.http.test_boundary import assert_error
from tests.http.test_otp_flows import enroll

pytestmark = pytest.mark.anyio


async def make_key(api: Api, tenant: str, scopes: list[str]) -> dict[str, str]:
    r = await api.http.post(
        f"/api/tenants/{tenant}/api-keys", json={"name": "k", "scopes": scopes}, headers=api.admin
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["key"].startswith("mfa_") and body["scopes"] == sorted(scopes)
    return {"Authorization": f"Bearer {body['key']}", "key_id": body["key_id"]}


def _auth(key: dict[str, str]) -> dict[str, str]:
    return {"Authorization": key["Authorization"]}


# Every tenant-scoped route, with a body good enough to pass validation.
ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/api/tenants/{t}", None),
    ("DELETE", "/api/tenants/{t}", None),
    ("POST", "/api/tenants/{t}/api-keys", {"name": "x", "scopes": ["factors:read"]}),
    ("DELETE", "/api/tenants/{t}/api-keys/key_x", None),
    ("GET", "/api/tenants/{t}/factors", None),
    ("PUT", "/api/tenants/{t}/factors/otp", {"enabled": False}),
    ("PUT", "/api/tenants/{t}/features/enrollment", {"enabled": False}),
    ("PUT", "/api/tenants/{t}/sms-settings", {"otp_length": 8}),
    ("GET", "/api/tenants/{t}/quotas", None),
    ("PUT", "/api/tenants/{t}/quotas", {"sms_per_user": {"limit": 1, "window_seconds": 60}}),
    ("POST", "/api/tenants/{t}/request-tokens", {"user_id": "u"}),
    ("POST", "/api/tenants/{t}/enrollment-tickets", {"user_id": "u"}),
    ("GET", "/api/tenants/{t}/users/u/enrollments", None),
    ("DELETE", "/api/tenants/{t}/enrollments/dev_x", None),
    ("POST", "/api/tenants/{t}/users/u/recovery-code-regeneration", None),
]


async def test_tenant_isolation_on_every_route(api: Api) -> None:
    await api.tenant("tenant-a")
    await api.tenant("tenant-b")
    key_a = await make_key(api, "tenant-a", sorted(ALL_SCOPES - {"tenants:write"}))
    for method, path, body in ROUTES:
        r = await api.http.request(
            method, path.format(t="tenant-b"), json=body, headers=_auth(key_a)
        )
        assert_error(r, 403, "insufficient_scope")
    # Tenant B is untouched.
    r = await api.http.get("/api/tenants/tenant-b", headers=api.admin)
    assert r.json()["factors"]["otp"] is True


async def test_scopes_are_enforced(api: Api) -> None:
    await api.tenant()
    reader = await make_key(api, "acme", ["factors:read"])
    assert (
        await api.http.get("/api/tenants/acme/factors", headers=_auth(reader))
    ).status_code == 200
    r = await api.http.put(
        "/api/tenants/acme/factors/otp", json={"enabled": False}, headers=_auth(reader)
    )
    assert_error(r, 403, "insufficient_scope")
    r = await api.http.post(
        "/api/tenants", json={"tenant_id": "x", "name": "X"}, headers=_auth(reader)
    )
    assert_error(r, 403, "insufficient_scope")
    # No key can mint a stronger key.
    minter = await make_key(api, "acme", ["keys:write"])
    r = await api.http.post(
        "/api/tenants/acme/api-keys",
        json={"name": "n", "scopes": ["enrollments:write"]},
        headers=_auth(minter),
    )
    assert_error(r, 403, "insufficient_scope")
    # Tenant keys cannot hold operator scopes.
    r = await api.http.post(
        "/api/tenants/acme/api-keys",
        json={"name": "n", "scopes": ["tenants:write"]},
        headers=api.admin,
    )
    assert_error(r, 400, "invalid_body")


async def test_revoked_key_is_invalid_token(api: Api) -> None:
    await api.tenant()
    key = await make_key(api, "acme", ["factors:read"])
    r = await api.http.delete(f"/api/tenants/acme/api-keys/{key['key_id']}", headers=api.admin)
    assert r.status_code == 204
    r = await api.http.get("/api/tenants/acme/factors", headers=_auth(key))
    assert_error(r, 401, "invalid_token")
    r = await api.http.delete(f"/api/tenants/acme/api-keys/{key['key_id']}", headers=api.admin)
    assert_error(r, 404, "not_found")


async def test_unknown_tenant_factor_and_feature(api: Api) -> None:
    assert_error(
        await api.http.get("/api/tenants/ghost", headers=api.admin), 404, "tenant_not_found"
    )
    await api.tenant()
    r = await api.http.put(
        "/api/tenants/acme/factors/email", json={"enabled": True}, headers=api.admin
    )
    assert_error(r, 400, "method_not_found")
    r = await api.http.put(
        "/api/tenants/acme/features/x", json={"enabled": True}, headers=api.admin
    )
    assert_error(r, 404, "not_found")


async def test_tenant_validation_and_duplicates(api: Api) -> None:
    for bad in ("UPPER", "", "a" * 65, "sp ace"):
        r = await api.http.post(
            "/api/tenants", json={"tenant_id": bad, "name": "x"}, headers=api.admin
        )
        assert_error(r, 400, "invalid_body")
    await api.tenant()
    r = await api.http.post(
        "/api/tenants", json={"tenant_id": "acme", "name": "x"}, headers=api.admin
    )
    assert_error(r, 400, "invalid_body")


async def test_factors_features_and_quotas(api: Api) -> None:
    await api.tenant()
    factors = (await api.http.get("/api/tenants/acme/factors", headers=api.admin)).json()
    assert [f["name"] for f in factors] == ["otp", "sms", "push", "recovery-code"]
    assert all(f["enabled"] for f in factors)
    r = await api.http.put(
        "/api/tenants/acme/factors/sms", json={"enabled": False}, headers=api.admin
    )
    assert r.json() == {"name": "sms", "enabled": False, "available": False}
    quotas = (await api.http.get("/api/tenants/acme/quotas", headers=api.admin)).json()
    assert quotas == {
        "sms_per_user": {"limit": 10, "window_seconds": 3600},
        "pn_per_user": {"limit": 20, "window_seconds": 3600},
        "sms_per_tenant": {"limit": 1000, "window_seconds": 86400},
        "pn_per_tenant": {"limit": 10000, "window_seconds": 86400},
        "pn_unanswered_per_user": {"limit": 0, "window_seconds": 3600},  # push fatigue: off
    }
    r = await api.http.put(
        "/api/tenants/acme/quotas",
        json={"pn_per_user": {"limit": 3, "window_seconds": 60}},
        headers=api.admin,
    )
    assert r.json()["pn_per_user"] == {"limit": 3, "window_seconds": 60}
    assert r.json()["sms_per_user"] == {"limit": 10, "window_seconds": 3600}
    r = await api.http.put(
        "/api/tenants/acme/quotas",
        json={"sms_per_user": {"limit": -1, "window_seconds": 60}},
        headers=api.admin,
    )
    assert_error(r, 400, "invalid_body")
    tenant = (await api.http.get("/api/tenants/acme", headers=api.admin)).json()
    assert tenant["factors"]["sms"] is False and tenant["quotas"]["pn_per_user"]["limit"] == 3


async def test_enrollments_list_delete_and_regenerate(api: Api, clock: FrozenClock) -> None:
    await api.tenant()
    account = await enroll(api, clock)
    r = await api.http.get("/api/tenants/acme/users/alice/enrollments", headers=api.admin)
    [listed] = r.json()
    assert listed["id"] == account["id"] and listed["methods"] == ["otp"]
    assert "otp_secret" not in listed and "recovery_code" not in listed
    r = await api.http.post(
        "/api/tenants/acme/users/alice/recovery-code-regeneration", headers=api.admin
    )
    fresh = r.json()["recovery_code"]
    tx = (await api.start("acme", "alice"))["transaction_token"]
    r = await api.post("/api/recover-account", tx, {"recovery_code": account["recovery_code"]})
    assert_error(r, 403, "invalid_recovery_code")
    r = await api.post("/api/recover-account", tx, {"recovery_code": fresh})
    assert r.status_code == 200
    r = await api.http.delete(f"/api/tenants/acme/enrollments/{account['id']}", headers=api.admin)
    assert r.status_code == 204
    assert (
        await api.http.get("/api/tenants/acme/users/alice/enrollments", headers=api.admin)
    ).json() == []
    start = await api.start("acme", "alice")
    assert start["enrollment_tx_id"]  # enrolls again from scratch
    r = await api.http.post(
        "/api/tenants/acme/users/alice/recovery-code-regeneration", headers=api.admin
    )
    assert_error(r, 403, "not_enrolled")


async def test_readyz_and_healthz(api: Api) -> None:
    assert (await api.http.get("/healthz")).json() == {"status": "ok"}
    r = await api.http.get("/readyz")
    assert r.status_code == 200 and r.json()["checks"] == {"database": "ok", "ephemeral": "ok"}


async def _snapshot(api: Api, tenant: str, user: str) -> Any:
    """Everything a backend route can change, read as the operator."""
    service = api.service
    t = await service.durable.get_tenant(tenant)
    keys = sorted(k.key_id for k in await service.durable.list_api_keys(tenant))
    enrollment = await service.durable.get_user_enrollment(tenant, user)
    return t, keys, enrollment


async def test_every_backend_route_checks_its_declared_scope_before_any_effect(
    api: Api, clock: FrozenClock
) -> None:
    """Walks the declared endpoints (not a hand-kept list): a tenant key holding
    every scope but the route's own is refused, and nothing changed."""
    from mfa.http import backend

    await api.tenant()
    await enroll(api, clock, "u")
    # The step and the enrollment's last use, written behind (mfa.activity), before the walk.
    await api.service.ctx.activity.flush()
    bodies: dict[str, Any] = {path.format(t="acme"): body for _, path, body in ROUTES}
    walked = 0
    for ep in backend.ENDPOINTS:
        if ep.auth != "api_key":
            continue
        assert ep.scope is not None
        path = ep.path.format(
            tenant_id="acme",
            key_id="key_x",
            name="otp",
            user_id="u",
            enrollment_id="dev_x",
            webhook_id="ep_x",
            delivery_id="msg_x",
            recipient="+14155550100",
        )
        if ep.scope == "factors:write" and ep.path.endswith("/factors/{name}"):
            body: Any = {"enabled": False}
        else:
            body = bodies.get(
                path, {"tenant_id": "x", "name": "X"} if ep.method == "POST" else None
            )
        before = await _snapshot(api, "acme", "u")
        key = await make_key(api, "acme", sorted(ALL_SCOPES - {"tenants:write", ep.scope}))
        r = await api.http.request(ep.method, path, json=body, headers=_auth(key))
        assert_error(r, 403, "insufficient_scope")
        await api.http.delete(f"/api/tenants/acme/api-keys/{key['key_id']}", headers=api.admin)
        assert await _snapshot(api, "acme", "u") == before, f"{ep.method} {ep.path} changed state"
        walked += 1
    assert walked >= len(ROUTES)


async def test_write_scope_alone_changes_a_toggle_and_answers_it(api: Api) -> None:
    """Once a bug: PUT .../factors/{f} saved the toggle, then refused because it
    re-read the factors with a factors:read check."""
    await api.tenant()
    writer = await make_key(api, "acme", ["factors:write"])
    r = await api.http.put(
        "/api/tenants/acme/factors/sms", json={"enabled": False}, headers=_auth(writer)
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "sms", "enabled": False, "available": False}
