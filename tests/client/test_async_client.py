"""The async client against the real app (memory and Redis ephemeral stores)."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from mfa import MFAService, create_app
from mfa.client import (
    AsyncClient,
    EnrollmentTicket,
    NewApiKey,
    Quota,
    RequestToken,
    Transaction,
    otpauth_uri,
    qr_svg,
)
from mfa.errors import (
    AlreadyEnrolled,
    AuthMethodDisabled,
    InsufficientScope,
    InvalidOtp,
    InvalidRecoveryCode,
    InvalidToken,
    LoginTransactionNotFound,
    NotEnrolled,
    TenantNotFound,
    TooManySms,
)
from mfa.factors import totp
from mfa.testing import FrozenClock
from tests.conftest import ADMIN_KEY
from transports.outbox import Outbox

pytestmark = pytest.mark.anyio

TID = "acme"


def wrong_code(secret: str, now: float) -> str:
    """A 6-digit code that matches none of the steps the service accepts now."""
    near = {totp.code_at(secret, now + d) for d in (-30, 0, 30)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)


async def enroll_otp(client: AsyncClient, clock: FrozenClock, user: str) -> Transaction:
    """Enroll ``user`` with TOTP through the client; returns the enrollment transaction."""
    tx = await client.start_flow(await client.request_token(TID, user))
    assert not tx.enrolled and tx.otp_secret and tx.recovery_code
    await client.verify_otp(tx, totp.code_at(tx.otp_secret, clock()))
    clock.advance(30)  # a TOTP step is accepted once
    return tx


async def test_otp_enrollment_then_login(
    client: AsyncClient, service: MFAService, clock: FrozenClock
) -> None:
    await client.create_tenant(TID, "Acme")
    token = await client.request_token(TID, "alice")
    assert isinstance(token, RequestToken) and token.expires_at.tzinfo is not None
    tx = await client.start_flow(request_token=token.token)
    assert not tx.enrolled and tx.enrollment_tx_id
    assert "otp" in tx.available_enrollment_methods and tx.otp_length == 6
    assert tx.otp_secret is not None and tx.otp_secret not in repr(tx)
    assert (await client.transaction_state(tx)).state == "pending"

    await client.verify_otp(tx.transaction_token, totp.code_at(tx.otp_secret, clock()))
    state = await client.transaction_state(tx.transaction_token)
    assert state.accepted and state.token and state.enrollment is not None
    assert state.enrollment["methods"] == ["otp"]
    result = await client.verify_result(state.token, user_id="alice", tenant_id=TID)
    assert (result.user_id, result.tenant_id, result.method) == ("alice", TID, "otp")
    assert result.txid == state.id

    enrollments = await client.list_enrollments(TID, "alice")
    assert [e["id"] for e in enrollments] == [tx.enrollment_id]
    status = await client.get_enrollment_status(TID, "alice")
    assert (status["id"], status["status"], status["methods"]) == (
        tx.enrollment_id,
        "confirmed",
        ["otp"],
    )

    clock.advance(30)
    login = await client.start_flow(await client.request_token(TID, "alice"))
    assert login.enrolled and login.enrollment_tx_id is None and login.otp_secret is None
    assert login.available_authenticator_types == ["otp", "recovery-code"]
    with pytest.raises(InvalidOtp) as wrong:
        await client.verify_otp(login, wrong_code(tx.otp_secret, clock()))
    assert wrong.value.status == 403 and wrong.value.code == "invalid_otp"
    await client.verify_otp(login, totp.code_at(tx.otp_secret, clock()))
    final = await client.transaction_state(login)
    assert final.accepted and final.token
    # Both sides agree: the service's own check accepts what the client verified.
    assert service.verify_result(final.token, user_id="alice", tenant_id=TID).method == "otp"
    assert (await client.verify_result(final.token, user_id="alice", tenant_id=TID)).txid


async def test_recovery_rotates_the_code(client: AsyncClient, clock: FrozenClock) -> None:
    await client.create_tenant(TID, "Acme")
    first = (await enroll_otp(client, clock, "bob")).recovery_code
    assert first is not None

    login = await client.start_flow(await client.request_token(TID, "bob"))
    second = await client.recover_account(login, first)
    assert len(second) == 24 and second != first
    state = await client.transaction_state(login)
    assert state.accepted and state.token
    assert (await client.verify_result(state.token, user_id="bob", tenant_id=TID)).method == (
        "recovery-code"
    )
    # The transaction is finished: a second success is refused.
    with pytest.raises(LoginTransactionNotFound):
        await client.recover_account(login, second)

    again = await client.start_flow(await client.request_token(TID, "bob"))
    with pytest.raises(InvalidRecoveryCode):
        await client.recover_account(again, first)  # used: rotated away
    third = await client.recover_account(again, second)

    regenerated = await client.regenerate_recovery_code(TID, "bob")
    assert len(regenerated) == 24
    last = await client.start_flow(await client.request_token(TID, "bob"))
    with pytest.raises(InvalidRecoveryCode):
        await client.recover_account(last, third)  # replaced by the admin
    await client.recover_account(last, regenerated)
    with pytest.raises(NotEnrolled):
        await client.regenerate_recovery_code(TID, "nobody")


async def test_sms_enrollment_login_and_quota(
    client: AsyncClient, outbox: Outbox, clock: FrozenClock
) -> None:
    await client.create_tenant(TID, "Acme")
    await client.set_factor(TID, "sms", True)
    assert await client.set_sms_otp_length(TID, 8) == 8
    tx = await client.start_flow(await client.request_token(TID, "carol"))
    assert tx.otp_length == 8 and "sms" in tx.available_enrollment_methods
    await client.sms_enroll(tx, tx.enrollment_id, "+14155550123")
    code = outbox.last_code("+14155550123")
    assert code is not None and len(code) == 8
    await client.verify_otp(tx, code)
    assert (await client.transaction_state(tx)).accepted
    (enrollment,) = await client.list_enrollments(TID, "carol")
    assert enrollment["methods"] == ["sms"]
    assert enrollment["phone_number"] != "+14155550123"  # masked

    quotas = await client.set_quotas(TID, sms_per_user=Quota(2, 3600))
    assert quotas["sms_per_user"] == Quota(2, 3600)
    assert quotas["sms_per_tenant"] == (await client.get_quotas(TID))["sms_per_tenant"]
    login = await client.start_flow(await client.request_token(TID, "carol"))
    await client.send_sms(login)  # the second SMS of the hour: the last allowed
    with pytest.raises(TooManySms) as refused:
        await client.send_sms(login)
    assert refused.value.status == 429
    assert refused.value.retry_after is not None and 0 < refused.value.retry_after <= 3600
    code = outbox.last_code("+14155550123")
    assert code is not None
    await client.verify_otp(login, code)
    assert (await client.transaction_state(login)).accepted


async def test_sms_quota_of_one_refuses_the_second_send(
    client: AsyncClient, outbox: Outbox
) -> None:
    await client.create_tenant(TID, "Acme")
    await client.set_factor(TID, "sms", True)
    await client.set_quotas(TID, sms_per_user={"limit": 1, "window_seconds": 600})
    tx = await client.start_flow(await client.request_token(TID, "dave"))
    await client.sms_enroll(tx, tx.enrollment_id, "+14155550124")
    with pytest.raises(TooManySms) as refused:
        await client.sms_enroll(tx, tx.enrollment_id, "+14155550124")
    assert refused.value.retry_after is not None and 0 < refused.value.retry_after <= 600
    assert len(outbox) == 1


async def test_error_extras_field_and_method(client: AsyncClient, clock: FrozenClock) -> None:
    from mfa.client import _Call
    from mfa.errors import FieldRequired

    await client.create_tenant(TID, "Acme")
    tx = await client.start_flow(await client.request_token(TID, "erin"))
    # No client method omits a required field, so send the malformed call by hand
    # through the same machinery.
    missing = _Call(
        "POST",
        "/api/verify-otp",
        lambda b: b,
        {"type": "manual_input"},
        f"Bearer {tx.transaction_token}",
    )
    with pytest.raises(FieldRequired) as err:
        await client._run(missing)
    assert err.value.field == "otpCode" and err.value.status == 400
    assert any(n.startswith("X-Request-Id: ") for n in err.value.__notes__)

    assert tx.otp_secret is not None
    await client.verify_otp(tx, totp.code_at(tx.otp_secret, clock()))
    clock.advance(30)
    await client.set_factor(TID, "otp", False)
    await client.set_factor(TID, "recovery-code", True)
    login = await client.start_flow(await client.request_token(TID, "erin"))
    with pytest.raises(AuthMethodDisabled) as disabled:
        await client.verify_otp(login, totp.code_at(tx.otp_secret, clock()))
    assert disabled.value.method == "otp"


async def test_api_keys_scopes_and_revocation(client: AsyncClient, service: MFAService) -> None:
    transport = httpx.ASGITransport(app=create_app(service=service))
    await client.create_tenant(TID, "Acme")
    await client.create_tenant("other", "Other")

    async with AsyncClient("http://mfa.test", "mfa_not-a-key", transport=transport) as bad:
        with pytest.raises(InvalidToken) as err:
            await bad.get_tenant(TID)
        assert err.value.status == 401

    key = await client.create_api_key(TID, "reader", ["factors:read"])
    assert isinstance(key, NewApiKey) and key.scopes == ["factors:read"]
    assert key.key not in repr(key) and key.tenant_id == TID
    async with AsyncClient("http://mfa.test", key.key, transport=transport) as reader:
        factors = {f["name"]: f for f in await reader.list_factors(TID)}
        assert set(factors) == {"otp", "sms", "push", "recovery-code"}
        with pytest.raises(InsufficientScope):
            await reader.request_token(TID, "alice")  # lacks transactions:create
        with pytest.raises(InsufficientScope):
            await reader.list_factors("other")  # another tenant's key
        with pytest.raises(InsufficientScope):
            await reader.create_api_key(TID, "escalate", ["keys:write"])
        await client.revoke_api_key(TID, key.key_id)
        with pytest.raises(InvalidToken):
            await reader.list_factors(TID)


async def test_tenant_administration(client: AsyncClient, clock: FrozenClock) -> None:
    created = await client.create_tenant(TID, "Acme")
    assert created["tenant_id"] == TID and created["name"] == "Acme"
    assert [t["tenant_id"] for t in await client.list_tenants()] == [TID]
    assert (await client.get_tenant(TID))["factors"]["otp"] is True
    assert await client.set_factor(TID, "push", False) == {
        "name": "push",
        "enabled": False,
        "available": False,
    }
    assert await client.set_feature(TID, "enrollment", False) == {
        "name": "enrollment",
        "enabled": False,
    }
    # Self-service enrollment is off, but an admin's ticket still enrolls.
    ticket = await client.enrollment_ticket(TID, "frank")
    assert isinstance(ticket, EnrollmentTicket)
    tx = await client.start_flow(ticket=ticket)
    assert not tx.enrolled and "push" not in tx.available_enrollment_methods
    assert tx.otp_secret is not None
    await client.verify_otp(tx, totp.code_at(tx.otp_secret, clock()))
    with pytest.raises(InvalidToken):
        await client.start_flow(ticket=ticket.ticket_id)  # one-time
    with pytest.raises(AlreadyEnrolled):
        await client.start_flow(ticket=await client.enrollment_ticket(TID, "frank"))

    await client.delete_enrollment(TID, tx.enrollment_id)
    assert await client.list_enrollments(TID, "frank") == []
    await client.delete_tenant(TID)
    with pytest.raises(TenantNotFound):
        await client.get_tenant(TID)
    with pytest.raises(ValueError, match="exactly one"):
        await client.start_flow()


async def test_public_documents(client: AsyncClient) -> None:
    catalogue = await client.errors()
    assert len(catalogue) == 36 and {"too_many_sms", "service_unavailable"} <= {
        e["code"] for e in catalogue
    }
    jwks = await client.jwks()
    assert jwks["keys"] and all(k["kty"] == "EC" and "d" not in k for k in jwks["keys"])


async def test_mounted_under_a_prefix(service: MFAService) -> None:
    """A base URL with the mount path works: the client joins paths under it."""
    mfa_app = create_app(service=service)
    host = Starlette(routes=[Mount("/mfa", app=mfa_app)])
    transport = httpx.ASGITransport(app=host)
    async with AsyncClient("http://host.test/mfa/", ADMIN_KEY, transport=transport) as c:
        await c.create_tenant(TID, "Acme")
        assert (await c.get_tenant(TID))["name"] == "Acme"
        assert (await c.jwks())["keys"]


def test_provisioning_helpers() -> None:
    uri = otpauth_uri("JBSWY3DPEHPK3PXP", "alice@example.com", "Acme Corp")
    assert uri.startswith("otpauth://totp/Acme%20Corp:alice%40example.com?secret=JBSWY3DPEHPK3PXP")
    assert uri == totp.provisioning_uri("JBSWY3DPEHPK3PXP", "alice@example.com", "Acme Corp")
    svg = qr_svg(uri)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
