"""The durable store's part in push: devices found by id alone, dead endpoints marked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mfa.storage.base import Enrollment, Tenant
from mfa.storage.sql import SqlDurableStore

pytestmark = pytest.mark.anyio


async def test_find_enrollment_across_tenants(durable: SqlDurableStore) -> None:
    for tid in ("acme", "globex"):
        await durable.create_tenant(Tenant(tid, tid))
    jwk = {"kty": "RSA", "n": "AQAB", "e": "AQAB"}
    device = Enrollment(
        "dev_1", "globex", "u1", ("push", "otp"), device_identifier="id-1", device_public_key=jwk
    )
    await durable.create_enrollment(device)
    found = await durable.find_enrollment("dev_1")
    assert found is not None and found.tenant_id == "globex"
    assert found.device_public_key == jwk and found.methods == ("push", "otp")
    assert await durable.find_enrollment("dev_2") is None
    assert await durable.get_enrollment("acme", "dev_1") is None  # the tenant wall holds


async def test_disabled_push_endpoint_round_trip(durable: SqlDurableStore) -> None:
    await durable.create_tenant(Tenant("acme", "Acme"))
    await durable.create_enrollment(Enrollment("dev_1", "acme", "u1", ("push",)))
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    changed = {
        "status": "pn_disabled",
        "pn_disabled_at": when,
        "pn_disabled_reason": "Unregistered",
    }
    updated = await durable.update_enrollment("acme", "dev_1", changed)
    assert updated is not None
    assert (updated.status, updated.pn_disabled_at, updated.pn_disabled_reason) == (
        "pn_disabled",
        when,
        "Unregistered",
    )
    cleared = {"status": "confirmed", "pn_disabled_at": None, "pn_disabled_reason": None}
    again = await durable.update_enrollment("acme", "dev_1", cleared)
    assert again is not None and again.pn_disabled_at is None and again.status == "confirmed"
