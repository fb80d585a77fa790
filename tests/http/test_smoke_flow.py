from __future__ import annotations

import pytest

from mfa.factors import totp
from mfa.testing import FrozenClock
from tests.conftest import Api

pytestmark = pytest.mark.anyio


async def test_otp_enroll_then_login(api: Api, clock: FrozenClock) -> None:
    await api.tenant()
    start = await api.start("acme", "alice")
    assert start["enrollment_tx_id"]
    secret = start["device_account"]["otp_secret"]
    tx = start["transaction_token"]
    assert (await api.state(tx))["state"] == "pending"
    r = await api.post(
        "/api/verify-otp", tx, {"type": "manual_input", "code": totp.code_at(secret, clock())}
    )
    assert r.status_code == 204, r.text
    state = await api.state(tx)
    assert state["state"] == "accepted" and state["token"]
    assert state["enrollment"]["methods"] == ["otp"]
    clock.advance(30)
    start2 = await api.start("acme", "alice")
    assert "enrollment_tx_id" not in start2
    tx2 = start2["transaction_token"]
    r = await api.post("/api/verify-otp", tx2, {"code": totp.code_at(secret, clock())})
    assert r.status_code == 204, r.text
    assert (await api.state(tx2))["state"] == "accepted"
