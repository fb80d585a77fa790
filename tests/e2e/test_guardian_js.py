"""The public npm client ``auth0-guardian-js@1.4.1`` (transport ``polling``), unmodified,
against the real service on a real socket: OTP and SMS enrollment and login, recovery-code
login with rotation, and a wrong OTP.

Each test runs one ``node tests/e2e/node/harness.js`` (see its header for the JSON-lines
protocol) with the fast injected poller of guardian-wire.md §8 (300 ms), so a scenario takes
about a second. Parametrized over the in-process and the Redis ephemeral store by ``live``.
"""

from __future__ import annotations

import re
import shutil
import uuid
from typing import Any

import pytest

from mfa.service import VerifiedResult
from tests.e2e.conftest import GuardianJs, LiveService, Run

if shutil.which("node") is None:
    pytest.skip(
        "node is not on PATH: the auth0-guardian-js end-to-end tests need Node.js",
        allow_module_level=True,
    )

pytestmark = pytest.mark.slow

PHONE = "+14155552671"
RECOVERY_CODE = re.compile(r"^[0-9A-Za-z]{24}$")
BASE32 = re.compile(r"^[A-Z2-7]+$")


def new_user() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


def verified(live: LiveService, signature: Any, user: str, txid: str) -> VerifiedResult:
    assert isinstance(signature, str) and signature.count(".") == 2, signature
    result = live.service.verify_result(
        signature, user_id=user, tenant_id=live.tenant_id, txid=txid
    )
    assert (result.user_id, result.tenant_id, result.txid) == (user, live.tenant_id, txid)
    return result


def check_enrollment(
    live: LiveService, run: Run, user: str, method: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Common checks of an enrollment run; returns (started, enrollment-complete)."""
    started = run.one("started")
    assert started["enrolled"] is False
    assert started["availableEnrollmentMethods"] and method in started["availableEnrollmentMethods"]
    # The first poll (answered before anything changed) saw the pending, unenrolled state.
    assert started["firstPollState"] == {
        "id": started["txId"],
        "state": "pending",
        "enrollment": None,
    }
    account = started["deviceAccount"]
    assert RECOVERY_CODE.match(account["recoveryCode"]), account
    assert BASE32.match(account["otpSecret"]), account

    # Events in the order the client promises: enrollment-complete, then auth-response.
    names = [n for n in run.names() if n in ("enrollment-complete", "auth-response")]
    assert names == ["enrollment-complete", "auth-response"], run.names()
    complete = run.one("enrollment-complete")
    assert complete["recoveryCode"] == account["recoveryCode"]  # from start-flow
    assert complete["authRequired"] is False
    enrollment = complete["enrollment"]
    assert enrollment["methods"] == [method]
    assert enrollment["availableAuthenticatorTypes"] == [method, "recovery-code"]
    assert run.one("confirm-accepted")["recoveryCode"] == account["recoveryCode"]

    auth = run.one("auth-response")
    assert auth["accepted"] is True
    result = verified(live, auth["signature"], user, started["txId"])
    assert result.method == method
    assert "mfa" in result.amr and method in result.amr
    return started, complete


def check_login(live: LiveService, run: Run, user: str, method: str) -> dict[str, Any]:
    """Common checks of a successful login run; returns the auth-response."""
    started = run.one("started")
    assert started["enrolled"] is True
    assert started["availableAuthenticationMethods"]
    # Enrolled users: the enrollment is there from the very first poll (no spurious event).
    assert started["firstPollState"]["state"] == "pending"
    assert started["firstPollState"]["enrollment"] is not None
    assert not run.all("enrollment-complete")
    auth = run.one("auth-response")
    assert auth["accepted"] is True
    result = verified(live, auth["signature"], user, started["txId"])
    assert result.method == method
    return auth


def test_otp_enrollment(guardian: GuardianJs, live: LiveService) -> None:
    user = new_user()
    run = guardian.ok("enroll", user=user, method="otp")
    started, complete = check_enrollment(live, run, user, "otp")
    assert complete["enrollment"]["phoneNumber"] is None
    assert run.one("confirming")["otpSecret"] == started["deviceAccount"]["otpSecret"]
    uri = run.one("confirming")["uri"]
    assert uri.startswith("otpauth://totp/acme:") and started["deviceAccount"]["otpSecret"] in uri
    assert run.end["otpSecret"] == started["deviceAccount"]["otpSecret"]
    if live.redis_prefix is not None:  # the Redis variant really kept its state in Redis
        assert any(b":tx:" in key for key in live.redis_keys())


def test_otp_login(guardian: GuardianJs, live: LiveService) -> None:
    user = new_user()
    secret = guardian.ok("enroll", user=user, method="otp").end["otpSecret"]
    # Right after the enrollment: the harness uses the next TOTP step (no replay).
    run = guardian.ok("login", user=user, method="otp", otpSecret=secret)
    auth = check_login(live, run, user, "otp")
    assert auth["recoveryCode"] is None
    (enrollment,) = run.one("started")["enrollments"]
    assert enrollment["methods"] == ["otp"]
    assert enrollment["availableAuthenticatorTypes"] == ["otp", "recovery-code"]


def test_wrong_otp_reaches_verify_callback(guardian: GuardianJs, live: LiveService) -> None:
    user = new_user()
    secret = guardian.ok("enroll", user=user, method="otp").end["otpSecret"]
    run = guardian.ok("login", user=user, method="otp", otpSecret=secret, wrongCodeFirst=True)
    error = run.all("verify-error")
    assert len(error) == 1, run.events
    assert error[0]["error"]["errorCode"] == "invalid_otp"
    assert error[0]["error"]["statusCode"] == 403
    assert isinstance(error[0]["error"]["message"], str) and error[0]["error"]["message"]
    # The transaction stays pending: the right code is still accepted after the wrong one.
    check_login(live, run, user, "otp")


def test_recovery_code_login_rotates(guardian: GuardianJs, live: LiveService) -> None:
    user = new_user()
    enroll = guardian.ok("enroll", user=user, method="otp")
    first = enroll.one("enrollment-complete")["recoveryCode"]

    run = guardian.ok("login", user=user, method="recovery-code", recoveryCode=first)
    auth = check_login(live, run, user, "recovery-code")
    fresh = auth["recoveryCode"]
    assert isinstance(fresh, str) and RECOVERY_CODE.match(fresh), auth
    assert fresh != first
    assert run.one("verify-accepted")["recoveryCode"] == fresh

    # The old code no longer works...
    refused = guardian.ok(
        "login", user=user, method="recovery-code", recoveryCode=first, expectError=True
    )
    error = refused.one("verify-error")["error"]
    assert (error["errorCode"], error["statusCode"]) == ("invalid_recovery_code", 403)
    assert not refused.all("auth-response")
    # ...and the new one does (and rotates again).
    again = guardian.ok("login", user=user, method="recovery-code", recoveryCode=fresh)
    newest = check_login(live, again, user, "recovery-code")["recoveryCode"]
    assert RECOVERY_CODE.match(newest) and newest not in (first, fresh)


def test_sms_enrollment(guardian: GuardianJs, live: LiveService) -> None:
    user = new_user()
    run = guardian.ok("enroll", user=user, method="sms", phoneNumber=PHONE)
    assert "need:sms_code" in run.names()
    _, complete = check_enrollment(live, run, user, "sms")
    masked = complete["enrollment"]["phoneNumber"]
    assert masked == "XXXXXXXXX71", masked
    (sms,) = live.outbox.messages
    assert sms.to == PHONE and sms.code in sms.body


def test_sms_login(guardian: GuardianJs, live: LiveService) -> None:
    user = new_user()
    guardian.ok("enroll", user=user, method="sms", phoneNumber=PHONE)
    run = guardian.ok("login", user=user, method="sms")
    assert "need:sms_code" in run.names()
    auth = check_login(live, run, user, "sms")
    assert auth["recoveryCode"] is None
    (enrollment,) = run.one("started")["enrollments"]
    assert enrollment["methods"] == ["sms"]
    assert enrollment["availableAuthenticatorTypes"] == ["sms", "recovery-code"]
    assert enrollment["phoneNumber"] == "XXXXXXXXX71"
    assert [m.to for m in live.outbox.messages] == [PHONE, PHONE]


def check_push_enrollment(live: LiveService, run: Run, user: str) -> dict[str, Any]:
    started = run.one("started")
    assert started["enrolled"] is False and "push" in started["availableEnrollmentMethods"]
    assert started["firstPollState"]["enrollment"] is None
    uri = run.one("confirming")["uri"]
    assert "enrollment_tx_id=etx_" in uri and "base_url=" in uri
    names = [n for n in run.names() if n in ("enrollment-complete", "auth-response")]
    assert names == ["enrollment-complete", "auth-response"], run.names()
    complete = run.one("enrollment-complete")
    # A push enrollment asks for a login next, on the same transaction.
    assert complete["authRequired"] is True
    assert complete["recoveryCode"] == started["deviceAccount"]["recoveryCode"]
    enrollment = complete["enrollment"]
    assert enrollment["name"] == f"{user}'s phone"
    assert enrollment["availableAuthenticatorTypes"] == ["push", "otp", "recovery-code"]
    return started


def test_push_enrollment_then_approve(guardian: GuardianJs, live: LiveService) -> None:
    user = new_user()
    run = guardian.ok("enroll", user=user, method="push", pushAnswer="accept")
    assert run.names().count("need:phone_enrolled") == 1
    started = check_push_enrollment(live, run, user)
    auth = run.one("auth-response")
    assert auth["accepted"] is True
    assert verified(live, auth["signature"], user, started["txId"]).method == "push"
    # The phone got the same TOTP seed the browser showed.
    phone = live.phones[user]
    assert phone.account is not None
    assert phone.account.totp_secret == started["deviceAccount"]["otpSecret"]


def test_push_login_approved_and_rejected(guardian: GuardianJs, live: LiveService) -> None:
    user = new_user()
    guardian.ok("enroll", user=user, method="push", pushAnswer="accept")
    run = guardian.ok("login", user=user, method="push", pushAnswer="accept")
    auth = check_login(live, run, user, "push")
    assert auth["recoveryCode"] is None
    (enrollment,) = run.one("started")["enrollments"]
    assert enrollment["availableAuthenticatorTypes"][0] == "push"

    rejected = guardian.ok("login", user=user, method="push", pushAnswer="reject")
    started = rejected.one("started")
    assert started["enrolled"] is True
    first = rejected.all("auth-response")[0]
    assert first["accepted"] is False and first["signature"] is None
    assert len(live.push_outbox.messages) == 3
