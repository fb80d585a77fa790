"""verify-otp: a TOTP or SMS code confirms an enrollment or completes a login.

Hot path: decode the transaction token (HMAC), one ephemeral read, TOTP in
process, one atomic ``record_attempt`` — two ephemeral round trips and no
database read, because start-flow copied what the transaction needs (the
sealed seed, the enrolled methods) into it.
"""

from __future__ import annotations

import hmac
import re

from mfa.context import Context
from mfa.errors import EnrollmentConflict, InvalidOtp, InvalidOtpFormat
from mfa.factors import totp
from mfa.flows._common import (
    accept,
    confirmed_enrollment,
    fail,
    load_pending,
    refusal,
    require_factor,
)
from mfa.flows.records import ConfirmedEnrollment
from mfa.names import Factor, TxKind
from mfa.sandbox import fixed_code
from mfa.sealing import unb64
from mfa.storage.base import AttemptOutcome, Conflict, Enrollment, Tenant, Transaction

_DIGITS = re.compile(r"[0-9]+")


async def verify_otp(ctx: Context, token: str, code: str) -> None:
    tx = await load_pending(ctx, token)
    tenant = await ctx.tenants.get(tx.tenant_id)
    sms_hash = tx.data.get("sms_code")
    method = Factor.SMS if sms_hash else Factor.OTP
    require_factor(ctx, tenant, tx, method)
    length = int(tx.data.get("sms_length", 6)) if sms_hash else totp.DIGITS
    # fullmatch, not match with "$": "$" also matches before a trailing newline.
    if len(code) != length or not _DIGITS.fullmatch(code):
        raise InvalidOtpFormat(f"The code must be {length} digits.")
    now = ctx.clock()
    eid = str(tx.data["enrollment_id"])
    replay_key: str | None = None
    step: int | None = None
    fixed = fixed_code(tenant, code)  # None unless a sandbox tenant's fixed code
    if fixed is not None:
        ok = fixed
    elif sms_hash:
        ok = float(tx.data.get("sms_expires_at", 0)) > now and hmac.compare_digest(
            str(sms_hash), ctx.sms_code_hash(tx.txid, code)
        )
    elif "otp_secret" in tx.data:
        secret = ctx.sealer.unseal_text(tx.tenant_id, eid, "totp", tx.data["otp_secret"])
        step = totp.matching_step(secret, code, now, ctx.settings.totp_valid_window)
        ok = step is not None
        replay_key = "totp:" + eid
        floor = tx.data.get("otp_last_step")
        if step is not None and floor is not None and step <= int(floor):
            # Used before, by the durable mark: Redis may have forgotten it.
            ok = False
    else:
        ok = False  # enrolled without TOTP and no SMS code sent: nothing can match
    if not ok:
        await fail(ctx, tx, InvalidOtp(method=method))
    shown: ConfirmedEnrollment | None = None
    # A phone enrolled on this transaction already (push): a code is then a login.
    if tx.kind == TxKind.ENROLL.value and not tx.data.get("enrolled"):
        # Two stores, in this order, so that an interruption anywhere leaves the
        # old state or the new one:
        # 1. SQL stores the enrollment. This is the user's new state: they hold
        #    the seed and the recovery code since start-flow. The write is
        #    idempotent for this transaction (its enrollment id), so a retry after
        #    a failure below finds its own row and carries on.
        # 2. Redis accepts the transaction. If this raises (stall, timeout), the
        #    row stays as the intent: a retry with a valid code completes it, and
        #    without one the user is enrolled all the same — the next start-flow
        #    opens a login. Only a definite refusal while the transaction is still
        #    pending (a lockout) takes the row back: nobody accepted it.
        shown = await _confirm_enrollment(ctx, tenant, tx, method)
    outcome = await accept(ctx, tx, method, replay_key=replay_key, step=step, enrollment=shown)
    if outcome is AttemptOutcome.ACCEPTED and step is not None:
        ctx.totp_steps.note(tx.tenant_id, eid, step)
    if outcome is not AttemptOutcome.ACCEPTED:
        if tx.kind == TxKind.ENROLL.value:
            if outcome is AttemptOutcome.LOCKED:
                await ctx.durable.delete_enrollment(tx.tenant_id, eid)
            elif outcome is AttemptOutcome.GONE:
                # A concurrent confirmation of this transaction won with this very
                # code: for this request it is a used code, not a lost transaction.
                raise InvalidOtp(method=method)
        raise refusal(tx, outcome, InvalidOtp(method=method))


async def _confirm_enrollment(
    ctx: Context, tenant: Tenant, tx: Transaction, method: str
) -> ConfirmedEnrollment:
    """Store the enrollment; the unique (tenant, user) rule decides races."""
    eid = str(tx.data["enrollment_id"])
    code = ctx.sealer.unseal_text(tx.tenant_id, eid, "recovery", tx.data["recovery_code"])
    recovery_hash = await ctx.hasher.hash_async(code)
    is_sms = method == Factor.SMS
    masked = tx.data.get("phone_masked") if is_sms else None
    record = Enrollment(
        enrollment_id=eid,
        tenant_id=tx.tenant_id,
        user_id=tx.user_id,
        methods=(method,),
        totp_secret=unb64(tx.data["otp_secret"]) if method == Factor.OTP else None,
        phone_number=unb64(tx.data["phone"]) if is_sms else None,
        phone_masked=masked,
        recovery_code_hash=recovery_hash,
    )
    try:
        await ctx.durable.create_enrollment(record)
    except Conflict:
        existing = await ctx.durable.get_user_enrollment(tx.tenant_id, tx.user_id)
        if existing is None or existing.enrollment_id != eid:
            raise EnrollmentConflict() from None
        # This transaction's own row, from a concurrent request or an earlier one
        # that failed before Redis accepted: the accept step decides which wins.
    return confirmed_enrollment(ctx, tenant, eid, [method], has_recovery=True, phone_masked=masked)
