"""What every transaction step shares: loading a transaction, factor checks,
the enrollment the browser may see, and recording a right or wrong answer."""

from __future__ import annotations

from typing import Any, NoReturn

from mfa.context import Context
from mfa.errors import (
    AuthMethodDisabled,
    EnrollmentMethodDisabled,
    EnrollmentTransactionNotFound,
    InvalidToken,
    LoginTransactionNotFound,
    MFAError,
)
from mfa.flows.records import ConfirmedEnrollment, TransactionStatus
from mfa.names import Factor, TxKind, TxState
from mfa.storage.base import AttemptOutcome, Tenant, Transaction


def gone(kind: str) -> MFAError:
    """The error for a transaction that no longer exists (or never did)."""
    if kind == TxKind.ENROLL.value:
        return EnrollmentTransactionNotFound()
    return LoginTransactionNotFound()


async def load(ctx: Context, token: str, use: str | None = None) -> Transaction:
    """The live transaction a transaction token names.

    ``use`` tells the browser's token (None) from the one a push hands the phone
    (``"push"``): each is refused where the other belongs, so a push payload seen
    on its way (a relay, a notification log) cannot poll for the result signature.
    """
    claims = ctx.codec.decode(token, "tx")
    if claims.get("use") != use:
        raise InvalidToken("This token is not for this call.")
    kind = str(claims.get("k"))
    tx = await ctx.ephemeral.get_transaction(str(claims["tid"]), str(claims["txid"]))
    if tx is None or tx.user_id != claims.get("sub"):
        raise gone(kind)
    return tx


async def status(ctx: Context, token: str) -> TransactionStatus:
    """transaction-state: the state, the enrollment once shown, the signature once accepted."""
    tx = await load(ctx, token)
    return TransactionStatus(
        txid=tx.txid,
        state=tx.state,
        enrollment=None
        if tx.enrollment is None
        else ConfirmedEnrollment.from_stored(tx.enrollment),
        signature=tx.token if tx.state == TxState.ACCEPTED.value else None,
    )


async def load_pending(ctx: Context, token: str, use: str | None = None) -> Transaction:
    tx = await load(ctx, token, use)
    if tx.state != TxState.PENDING.value:
        raise gone(tx.kind)  # finished: a transaction succeeds once
    return tx


def require_factor(ctx: Context, tenant: Tenant, tx: Transaction, factor: str) -> None:
    """Refuse a factor the operator or the tenant admin switched off."""
    ctx.require_global(factor)
    if not ctx.factor_available(tenant, factor):
        if tx.kind == TxKind.ENROLL.value:
            raise EnrollmentMethodDisabled(method=factor)
        raise AuthMethodDisabled(method=factor)


def authenticator_types(
    ctx: Context, tenant: Tenant, methods: list[str], has_recovery: bool
) -> list[str]:
    types = [m for m in methods if ctx.factor_available(tenant, m)]
    if has_recovery and ctx.factor_available(tenant, Factor.RECOVERY_CODE):
        types.append(Factor.RECOVERY_CODE.value)
    return types


def confirmed_enrollment(
    ctx: Context,
    tenant: Tenant,
    enrollment_id: str,
    methods: list[str],
    *,
    has_recovery: bool,
    name: str | None = None,
    phone_masked: str | None = None,
) -> ConfirmedEnrollment:
    """The enrollment as start-flow and transaction-state show it (guardian-wire §2.1)."""
    return ConfirmedEnrollment(
        enrollment_id=enrollment_id,
        methods=tuple(methods),
        authenticator_types=tuple(authenticator_types(ctx, tenant, methods, has_recovery)),
        name=name,
        phone_masked=phone_masked,
    )


async def accept(
    ctx: Context,
    tx: Transaction,
    method: str,
    *,
    replay_key: str | None = None,
    step: int | None = None,
    enrollment: ConfirmedEnrollment | None = None,
    failure_code: str | None = None,
) -> AttemptOutcome:
    """Record a right answer and, in the same atomic step, accept the transaction
    with its result signature (unless the user is locked out, the step was
    replayed or the transaction ended meanwhile), showing ``enrollment`` when the
    answer confirmed one. The decision's event (``failure_code`` names the error
    of a refusal) is written in that step too."""
    signature = ctx.sign_result(tx.tenant_id, tx.user_id, tx.txid, method)
    accepted: dict[str, Any] = {"state": TxState.ACCEPTED.value, "token": signature}
    if enrollment is not None:
        accepted["enrollment"] = enrollment.stored()
    event = ctx.events.attempt(tx, method, failure_code or _WRONG_ANSWER.get(method, ""))
    outcome = await ctx.ephemeral.record_attempt(
        tx.tenant_id,
        tx.txid,
        tx.user_id,
        ok=True,
        limits=ctx.limits,
        replay_key=replay_key,
        replay_step=step,
        on_success=accepted,
        event=event,
    )
    await ctx.events.settle(tx.tenant_id)
    if outcome is AttemptOutcome.ACCEPTED:
        ctx.activity.used(tx)  # noted in process, written behind (mfa.activity)
    return outcome


async def fail(
    ctx: Context, tx: Transaction, error: MFAError, method: str | None = None
) -> NoReturn:
    """Count a wrong answer and raise ``error`` (or the transaction's end), with the
    event of that decision written in the same atomic step."""
    event = ctx.events.attempt(tx, method or error.method or "", error.code)
    outcome = await ctx.ephemeral.record_attempt(
        tx.tenant_id, tx.txid, tx.user_id, ok=False, limits=ctx.limits, event=event
    )
    await ctx.events.settle(tx.tenant_id)
    refused = refusal(tx, outcome, error)
    ctx.activity.failed(tx, refused)
    raise refused


# The error a refused right answer comes out as (see refusal), by method.
_WRONG_ANSWER: dict[str, str] = {
    Factor.OTP: "invalid_otp",
    Factor.SMS: "invalid_otp",
    Factor.RECOVERY_CODE: "invalid_recovery_code",
    Factor.PUSH: "invalid_token",
}


def refusal(tx: Transaction, outcome: AttemptOutcome, error: MFAError) -> MFAError:
    if outcome is AttemptOutcome.GONE:
        return gone(tx.kind)
    if outcome is AttemptOutcome.KILLED:
        error.message = "Too many wrong codes: this transaction has ended."
    elif outcome is AttemptOutcome.LOCKED:
        error.message = "Too many wrong codes for this user; try again later."
    return error
