"""Push: send a login challenge to the enrolled phone, and take its signed answer.

``send-push-notification`` (the browser) puts a fresh random challenge in the
transaction — a re-send replaces it, so only the newest push can be answered —
and hands the Guardian payload (guardian-wire §3.5, shaped by
:mod:`~mfa.flows.push_payload`) to the push transport after one atomic quota
decision. ``resolve-transaction`` (the phone) checks the
device-signed answer against the stored key; an approval accepts the
transaction exactly as a right OTP does (:func:`~mfa.flows._common.accept`), a
rejection ends it. Both end the transaction atomically, which is also why a
challenge resolves at most once: a second answer finds nothing pending.

Quota policy, as for SMS: a unit comes back only when the provider says the
device token itself is dead (nothing can have been delivered). Other failures
keep it: the push may have gone out.

Push fatigue, two tenant settings, both off by default: number matching
(``push_number_matching`` feature: the browser shows a two-digit number, the
phone must sign it back) and a bound on unanswered pushes per user
(``pn_unanswered_per_user`` quota, limit 0 = off).
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from mfa.context import Context
from mfa.delivery import PushMessage
from mfa.errors import (
    InvalidToken,
    MFAError,
    NotEnrolled,
    PnEndpointDisabled,
    TooManyPn,
    TooManyPnPerTenant,
)
from mfa.events.record import EventType
from mfa.factors import device_keys
from mfa.flows._common import accept, gone, load_pending, refusal, require_factor
from mfa.flows.push_payload import PushChallenge, guardian_payload
from mfa.names import Channel, Factor, Feature, Quota, QuotaName, TxKind, TxState
from mfa.storage.base import AttemptOutcome, Enrollment, Tenant, Transaction

# The claim a phone signs the number into when number matching is on (our extension).
NUMBER_CLAIM = "mfa_number"
# A challenge answer lives 30 s on the SDKs; a few minutes allow for clock skew.
RESOLVE_MAX_LIFETIME = 300.0
# The unanswered-push counter has no tenant-wide bound; the store's call wants one.
_UNBOUNDED = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Origin:
    """Where the browser's request came from: the phone calls back ``service_url``."""

    service_url: str
    user_agent: str = ""


async def send_push_notification(ctx: Context, token: str, origin: Origin) -> str | None:
    """Send the push; the number to show when number matching is on, else None."""
    tx = await load_pending(ctx, token)
    try:
        return await _send_push(ctx, tx, origin)
    except MFAError as exc:
        ctx.activity.failed(tx, exc)  # a quota or delivery refusal (mfa.activity)
        raise


async def _send_push(ctx: Context, tx: Transaction, origin: Origin) -> str | None:
    tenant = await ctx.tenants.get(tx.tenant_id)
    require_factor(ctx, tenant, tx, Factor.PUSH)
    device = await _push_device(ctx, tx)
    if device.status == "pn_disabled" or device.push_token is None or device.push_service is None:
        # Nothing would arrive: say so before spending a unit of quota.
        raise PnEndpointDisabled()
    await _consume(ctx, tenant, tx)
    challenge = secrets.token_urlsafe(24)
    number = (
        f"{secrets.randbelow(90) + 10}"
        if tenant.features.get(Feature.PUSH_NUMBER_MATCHING)
        else None
    )
    changes = {"push_challenge": challenge, "push_number": number}
    if not await ctx.ephemeral.update_transaction(tx.tenant_id, tx.txid, data=changes):
        await _refund(ctx, tenant, tx)
        raise gone(tx.kind)
    push_token = ctx.sealer.unseal(tx.tenant_id, device.enrollment_id, "push", device.push_token)
    txtkn = ctx.codec.issue(
        "tx",
        {"tid": tx.tenant_id, "sub": tx.user_id, "txid": tx.txid, "k": tx.kind, "use": "push"},
        max(1, int(tx.expires_at - ctx.clock())),
    )
    push = PushChallenge(
        enrollment_id=device.enrollment_id,
        push_service=device.push_service,
        token=txtkn,
        challenge=challenge,
        service_url=origin.service_url,
        user_agent=origin.user_agent,
        sent_at=ctx.clock(),
        number_matching=number is not None,
    )
    message = PushMessage(device.push_service, push_token, guardian_payload(push), tx.tenant_id)
    try:
        await ctx.push_for(tenant).send(message)
    except PnEndpointDisabled as exc:
        # Refund first, then mark: the refund is true on its own (nothing was
        # delivered). Should the mark fail (database down), the next send finds the
        # token dead again and marks it then — the two writes never contradict.
        await _refund(ctx, tenant, tx)
        reason = getattr(exc, "reason", None) or exc.message
        await ctx.durable.update_enrollment(
            tx.tenant_id,
            device.enrollment_id,
            {
                "status": "pn_disabled",
                "pn_disabled_at": datetime.fromtimestamp(ctx.clock(), UTC),
                "pn_disabled_reason": str(reason)[:500],
            },
        )
        disabled = ctx.events.make(
            tx.tenant_id,
            EventType.DEVICE_DISABLED,
            user_id=tx.user_id,
            enrollment_id=device.enrollment_id,
            method=Factor.PUSH.value,
            outcome="pn_disabled",
            error_code=exc.code,
        )
        await ctx.events.record(disabled)
        raise
    return number


async def resolve_transaction(
    ctx: Context, token: str, challenge_response: str, audiences: Collection[str]
) -> None:
    tx = await load_pending(ctx, token, use="push")
    challenge = tx.data.get("push_challenge")
    if not challenge:
        raise InvalidToken("No push challenge is outstanding for this transaction.")
    device = await ctx.durable.get_enrollment(tx.tenant_id, str(tx.data["enrollment_id"]))
    if device is None or device.device_public_key is None or device.device_identifier is None:
        raise InvalidToken("No device key is enrolled for this transaction.")
    claims = device_keys.verify(
        challenge_response,
        device.device_public_key,
        issuer=device.device_identifier,
        audiences=audiences,
        now=ctx.clock(),
        max_lifetime=RESOLVE_MAX_LIFETIME,
        subject=str(challenge),
    )
    accepted = claims.get("auth0_guardian_accepted")
    if claims.get("auth0_guardian_method") != "push" or not isinstance(accepted, bool):
        raise InvalidToken("The answer is not a push approval or rejection.")
    reason = claims.get("auth0_guardian_reason")
    number = tx.data.get("push_number")
    if accepted and number is not None and str(claims.get(NUMBER_CLAIM)) != number:
        # The user picked another number than the browser showed: someone else's login.
        accepted, reason = False, "number_mismatch"
    tenant = await ctx.tenants.get(tx.tenant_id)
    if accepted:
        require_factor(ctx, tenant, tx, Factor.PUSH)  # switched off since the send
        outcome = await accept(ctx, tx, Factor.PUSH)
        if outcome is not AttemptOutcome.ACCEPTED:
            raise refusal(tx, outcome, InvalidToken("The push approval came too late."))
    else:
        data = {"push_reject_reason": str(reason)[:200] if reason is not None else None}
        if not await ctx.ephemeral.update_transaction(
            tx.tenant_id, tx.txid, state=TxState.REJECTED.value, data=data
        ):
            raise gone(tx.kind)
        rejected = ctx.events.make(
            tx.tenant_id,
            EventType.AUTH_REJECTED,
            user_id=tx.user_id,
            enrollment_id=tx.data.get("enrollment_id"),
            method=Factor.PUSH.value,
            outcome="rejected",
            # Only our own reason: the phone's is free text.
            data={"reason": "number_mismatch"} if reason == "number_mismatch" else {},
        )
        await ctx.events.emit(rejected)
    # Answered: it no longer counts against the unanswered-push bound.
    if _unanswered_bound(tenant) is not None:
        await ctx.ephemeral.refund_quota(tx.tenant_id, tx.user_id, Channel.PN_UNANSWERED)


# ------------------------------------------------------------------ helpers


async def _push_device(ctx: Context, tx: Transaction) -> Enrollment:
    """The enrolled push device of the transaction's user."""
    if tx.kind == TxKind.ENROLL.value and not tx.data.get("enrolled"):
        raise NotEnrolled("Enroll the phone (scan the code) before asking it to approve.")
    if Factor.PUSH not in tx.data.get("methods", []):
        raise NotEnrolled("The user has not enrolled a phone for push.")
    device = await ctx.durable.get_enrollment(tx.tenant_id, str(tx.data["enrollment_id"]))
    if device is None or Factor.PUSH not in device.methods:
        raise NotEnrolled("The user's push device was removed.")
    return device


def _unanswered_bound(tenant: Tenant) -> Quota | None:
    quota = tenant.quotas.get(QuotaName.PN_UNANSWERED_PER_USER)
    return quota if quota is not None and quota.limit > 0 else None


async def _consume(ctx: Context, tenant: Tenant, tx: Transaction) -> None:
    """The fatigue bound (when on), then the push quotas: each one atomic decision."""
    bound = _unanswered_bound(tenant)
    if bound is not None:
        unanswered = await ctx.ephemeral.consume_quota(
            tx.tenant_id,
            tx.user_id,
            Channel.PN_UNANSWERED,
            bound,
            Quota(_UNBOUNDED, bound.window_seconds),
            event=ctx.events.refusal(tx, Factor.PUSH, TooManyPn.spec.code, TooManyPn.spec.code),
        )
        if not unanswered.granted:
            await ctx.events.settle(tx.tenant_id)  # the refusal's event, written by the decision
            raise TooManyPn(
                "Too many unanswered push notifications; answer one or wait.",
                retry_after=unanswered.retry_after,
            )
    decision = await ctx.ephemeral.consume_quota(
        tx.tenant_id,
        tx.user_id,
        Channel.PN,
        tenant.quotas[QuotaName.PN_PER_USER],
        tenant.quotas[QuotaName.PN_PER_TENANT],
        event=ctx.events.refusal(
            tx, Factor.PUSH, TooManyPn.spec.code, TooManyPnPerTenant.spec.code
        ),
    )
    if not decision.granted:
        if bound is not None:
            await ctx.ephemeral.refund_quota(tx.tenant_id, tx.user_id, Channel.PN_UNANSWERED)
        await ctx.events.settle(tx.tenant_id)
        cls = TooManyPn if decision.refused == "user" else TooManyPnPerTenant
        raise cls(retry_after=decision.retry_after)


async def _refund(ctx: Context, tenant: Tenant, tx: Transaction) -> None:
    await ctx.ephemeral.refund_quota(tx.tenant_id, tx.user_id, Channel.PN)
    if _unanswered_bound(tenant) is not None:
        await ctx.ephemeral.refund_quota(tx.tenant_id, tx.user_id, Channel.PN_UNANSWERED)
