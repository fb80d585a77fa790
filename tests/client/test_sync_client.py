"""The blocking client against the real app on a real socket (uvicorn in a thread)."""

from __future__ import annotations

import pytest

from mfa.client import Client, Quota
from mfa.errors import InsufficientScope, InvalidOtp, InvalidOtpFormat, InvalidToken, TooManySms
from mfa.factors import totp
from mfa.testing import FrozenClock
from tests.client.conftest import Live
from tests.client.test_async_client import wrong_code
from tests.conftest import ADMIN_KEY


def test_enrollment_login_and_recovery(live: Live, clock: FrozenClock) -> None:
    with Client(live.base_url, ADMIN_KEY) as c:
        c.create_tenant("acme", "Acme")
        tx = c.start_flow(c.request_token("acme", "alice"))
        assert not tx.enrolled and tx.otp_secret and tx.recovery_code
        c.verify_otp(tx, totp.code_at(tx.otp_secret, clock()))
        state = c.transaction_state(tx)
        assert state.accepted and state.token
        assert c.verify_result(state.token, user_id="alice", tenant_id="acme").method == "otp"

        clock.advance(30)  # a TOTP step is accepted once
        login = c.start_flow(request_token=c.request_token("acme", "alice").token)
        assert login.enrolled
        with pytest.raises(InvalidOtpFormat):
            c.verify_otp(login, "1234567")
        with pytest.raises(InvalidOtp):
            c.verify_otp(login, wrong_code(tx.otp_secret, clock()))
        c.verify_otp(login, totp.code_at(tx.otp_secret, clock()))
        token = c.transaction_state(login.transaction_token).token
        assert token is not None
        with pytest.raises(InvalidToken):
            c.verify_result(token, user_id="bob", tenant_id="acme")

        recover = c.start_flow(c.request_token("acme", "alice"))
        fresh = c.recover_account(recover, tx.recovery_code)
        assert fresh != tx.recovery_code and c.transaction_state(recover).accepted


def test_errors_and_quota(live: Live) -> None:
    with Client(live.base_url, ADMIN_KEY) as c:
        c.create_tenant("acme", "Acme")
        key = c.create_api_key("acme", "reader", ["factors:read", "quotas:read"])
        assert c.set_quotas("acme", sms_per_user=(1, 3600))["sms_per_user"] == Quota(1, 3600)
        tx = c.start_flow(c.request_token("acme", "carol"))
        c.sms_enroll(tx, tx.enrollment_id, "+14155550123")
        assert live.outbox.last_code("+14155550123") is not None
        with pytest.raises(TooManySms) as refused:
            c.sms_enroll(tx, tx.enrollment_id, "+14155550123")
        assert refused.value.retry_after is not None and refused.value.retry_after > 0

    with Client(live.base_url, key.key) as reader:
        assert reader.get_quotas("acme")["sms_per_user"] == Quota(1, 3600)
        with pytest.raises(InsufficientScope):
            reader.set_factor("acme", "sms", False)
    with Client(live.base_url, "mfa_wrong") as bad, pytest.raises(InvalidToken):
        bad.list_factors("acme")
