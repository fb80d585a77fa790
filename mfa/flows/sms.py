"""SMS: register a phone during enrollment, or text a login code.

Quota policy: a unit is given back only when the provider refused the number
itself (nothing was sent). Other provider failures keep the unit: the message
may have gone out, and refunding on ambiguous failures would let a flaky path be
used to pump SMS past the quota.
"""

from __future__ import annotations

import secrets
from typing import Any

from mfa.context import Context
from mfa.delivery import SmsMessage
from mfa.errors import (
    AlreadyEnrolled,
    InvalidEnrollment,
    InvalidPhoneNumber,
    MFAError,
    NotEnrolled,
    TooManySms,
    TooManySmsPerTenant,
)
from mfa.factors import phone
from mfa.flows._common import gone, load_pending, require_factor
from mfa.names import Channel, Factor, QuotaName, TxKind
from mfa.storage.base import Tenant, Transaction


async def sms_enroll(ctx: Context, token: str, enrollment_id: str, phone_number: str) -> None:
    tx = await load_pending(ctx, token)
    if tx.kind != TxKind.ENROLL.value:
        raise AlreadyEnrolled()
    if enrollment_id != tx.data.get("enrollment_id"):
        raise InvalidEnrollment()
    tenant = await ctx.tenants.get(tx.tenant_id)
    require_factor(ctx, tenant, tx, Factor.SMS)
    await _send_code(ctx, tenant, tx, phone.normalize(phone_number), registering=True)


async def send_sms(ctx: Context, token: str) -> None:
    tx = await load_pending(ctx, token)
    if tx.kind == TxKind.ENROLL.value:
        raise NotEnrolled()
    tenant = await ctx.tenants.get(tx.tenant_id)
    require_factor(ctx, tenant, tx, Factor.SMS)
    if Factor.SMS not in tx.data.get("methods", []) or "phone" not in tx.data:
        raise NotEnrolled("The user has not enrolled a phone for SMS.")
    eid = str(tx.data["enrollment_id"])
    e164 = ctx.sealer.unseal_text(tx.tenant_id, eid, "phone", tx.data["phone"])
    await _send_code(ctx, tenant, tx, e164, registering=False)


async def _send_code(
    ctx: Context, tenant: Tenant, tx: Transaction, e164: str, *, registering: bool
) -> None:
    try:
        await _deliver_code(ctx, tenant, tx, e164, registering)
    except MFAError as exc:
        ctx.activity.failed(tx, exc)  # a quota or delivery refusal (mfa.activity)
        raise


async def _deliver_code(
    ctx: Context, tenant: Tenant, tx: Transaction, e164: str, registering: bool
) -> None:
    """Quota, then a fresh code in the transaction (with the number, sealed and
    masked, when ``registering`` it for the enrollment), then the send."""
    decision = await ctx.ephemeral.consume_quota(
        tx.tenant_id,
        tx.user_id,
        Channel.SMS,
        tenant.quotas[QuotaName.SMS_PER_USER],
        tenant.quotas[QuotaName.SMS_PER_TENANT],
        event=ctx.events.refusal(
            tx, Factor.SMS, TooManySms.spec.code, TooManySmsPerTenant.spec.code
        ),
    )
    if not decision.granted:
        await ctx.events.settle(tx.tenant_id)  # the refusal's event, written by the decision
        cls = TooManySms if decision.refused == "user" else TooManySmsPerTenant
        raise cls(retry_after=decision.retry_after)
    length = tenant.sms_otp_length
    code = "".join(secrets.choice("0123456789") for _ in range(length))
    changes: dict[str, Any] = {
        "sms_code": ctx.sms_code_hash(tx.txid, code),
        "sms_length": length,
        "sms_expires_at": ctx.clock() + ctx.settings.sms_code_ttl_seconds,
    }
    if registering:
        eid = str(tx.data["enrollment_id"])
        changes["phone"] = ctx.sealer.seal_text(tx.tenant_id, eid, "phone", e164)
        changes["phone_masked"] = phone.mask(e164)
    if not await ctx.ephemeral.update_transaction(tx.tenant_id, tx.txid, data=changes):
        await ctx.ephemeral.refund_quota(tx.tenant_id, tx.user_id, Channel.SMS)
        raise gone(tx.kind)
    message = SmsMessage(
        to=e164,
        body=f"{code} is your verification code for {tenant.name}.",
        code=code,
        tenant_id=tx.tenant_id,
    )
    try:
        await ctx.sms_for(tenant).send(message)
    except InvalidPhoneNumber:
        await ctx.ephemeral.refund_quota(tx.tenant_id, tx.user_id, Channel.SMS)
        raise
