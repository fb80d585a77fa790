"""start-flow: a request token or an enrollment ticket opens a transaction.

An unenrolled user gets an enrollment transaction with a fresh TOTP seed and
recovery code; an enrolled one gets a login transaction. Either way the
transaction carries everything the later steps need (sealed), so the hot path
(verify-otp) reads no database.
"""

from __future__ import annotations

from typing import Any

from mfa.context import Context
from mfa.errors import AlreadyEnrolled, FeatureDisabledByAdmin, InvalidToken, NoMethodAvailable
from mfa.events.record import EventType
from mfa.factors import recovery, totp
from mfa.flows._common import confirmed_enrollment
from mfa.flows.records import ConfirmedEnrollment, PendingEnrollment, StartedTransaction
from mfa.names import ENROLLABLE, Feature, TxKind
from mfa.sealing import b64
from mfa.storage.base import Enrollment, Tenant, Transaction
from mfa.tokens import Credential


async def start_flow(ctx: Context, credential: Credential) -> StartedTransaction:
    if credential.kind == "ticket":
        ticket_key = "enroll:" + credential.value
        info = await ctx.ephemeral.peek_ticket(ticket_key)
        if info is None:
            raise InvalidToken("Unknown or already used enrollment ticket.")
    else:
        claims = ctx.codec.decode(credential.value, "request")
        ticket_key = "req:" + str(claims.get("jti"))
        info = {"tenant_id": claims.get("tid"), "user_id": claims.get("sub")}
    tenant_id, user_id = str(info["tenant_id"]), str(info["user_id"])
    tenant = await ctx.tenants.get(tenant_id)
    enrollment = await ctx.durable.get_user_enrollment(tenant_id, user_id)
    txid = ctx.new_id("tx")
    ttl = ctx.settings.transaction_ttl_seconds
    expires_at = ctx.clock() + ttl
    shown: PendingEnrollment | ConfirmedEnrollment
    if enrollment is None:
        tx, shown = _enrollment_tx(ctx, tenant, user_id, txid, expires_at, credential.kind)
        # A new user may log in with whatever they enroll.
        authenticable = enrollable_now = enrollable(ctx, tenant)
    else:
        if credential.kind == "ticket":
            raise AlreadyEnrolled()
        tx, shown = _login_tx(ctx, tenant, enrollment, txid, expires_at)
        enrollable_now = enrollable(ctx, tenant)
        authenticable = [m for m in enrollment.methods if ctx.factor_available(tenant, m)]
    # The one-time credential is consumed last: a refusal above leaves it usable.
    if await ctx.ephemeral.take_ticket(ticket_key) is None:
        raise InvalidToken("This token already opened a transaction.")
    await ctx.ephemeral.create_transaction(tx)
    if tx.kind == TxKind.ENROLL.value:
        await ctx.ephemeral.put_ticket(
            "etx:" + tx.data["etx"], {"tenant_id": tenant_id, "txid": txid}, ttl
        )
        started = ctx.events.make(
            tenant_id,
            EventType.ENROLLMENT_STARTED,
            user_id=user_id,
            enrollment_id=tx.data["enrollment_id"],
        )
        await ctx.events.emit(started)
    return StartedTransaction(
        token=ctx.tx_token(tenant_id, user_id, txid, TxKind(tx.kind)),
        enrollable=tuple(enrollable_now),
        authenticable=tuple(authenticable),
        sms_otp_length=tenant.sms_otp_length,
        enrollment=shown,
    )


def enrollable(ctx: Context, tenant: Tenant) -> list[str]:
    return [f.value for f in ENROLLABLE if ctx.factor_available(tenant, f)]


def _enrollment_tx(
    ctx: Context, tenant: Tenant, user_id: str, txid: str, expires_at: float, via: str
) -> tuple[Transaction, PendingEnrollment]:
    if via != "ticket" and not tenant.features.get(Feature.ENROLLMENT, True):
        # Tickets are the admin's invitations; the toggle governs self-service.
        raise FeatureDisabledByAdmin("Self-service enrollment is switched off.")
    if not enrollable(ctx, tenant):
        raise NoMethodAvailable()
    eid = ctx.new_id("dev")
    secret = totp.new_secret()
    code = recovery.new_code()
    tid = tenant.tenant_id
    data = {
        "enrollment_id": eid,
        "otp_secret": ctx.sealer.seal_text(tid, eid, "totp", secret),
        "recovery_code": ctx.sealer.seal_text(tid, eid, "recovery", code),
        "etx": ctx.new_id("etx", 18, tenant_id=tid),
    }
    tx = Transaction(txid, tid, user_id, TxKind.ENROLL.value, expires_at, data=data)
    return tx, PendingEnrollment(eid, data["etx"], otp_secret=secret, recovery_code=code)


def _login_tx(
    ctx: Context, tenant: Tenant, e: Enrollment, txid: str, expires_at: float
) -> tuple[Transaction, ConfirmedEnrollment]:
    methods = list(e.methods)
    shown = confirmed_enrollment(
        ctx,
        tenant,
        e.enrollment_id,
        methods,
        has_recovery=e.recovery_code_hash is not None,
        name=e.name,
        phone_masked=e.phone_masked,
    )
    if not shown.authenticator_types:
        raise NoMethodAvailable()
    data: dict[str, Any] = {"enrollment_id": e.enrollment_id, "methods": methods}
    if e.totp_secret is not None:
        data["otp_secret"] = b64(e.totp_secret)
        if e.totp_last_step is not None:
            data["otp_last_step"] = e.totp_last_step  # see mfa.totp_steps
    if e.phone_number is not None:
        data["phone"] = b64(e.phone_number)
    tx = Transaction(
        txid,
        tenant.tenant_id,
        e.user_id,
        TxKind.AUTH.value,
        expires_at,
        enrollment=shown.stored(),
        data=data,
    )
    return tx, shown
