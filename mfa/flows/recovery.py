"""recover-account: the recovery code completes a login and is rotated.

Two stores take part, and either may stall halfway. The rule: the user is never
left without a working code, and a code decides at most one login.

1. The attempt is reserved before any hashing (one argon2 check per transaction
   at a time, the rest refused at once): a burst of guesses cannot queue 64 MiB
   hashes and starve the event loop.
2. SQL decides who used the code: one compare-and-set replaces the hash and, in
   the same row, keeps the used hash and the new code (sealed) as a *handover*.
   Two requests racing with one code: exactly one wins here.
3. Redis accepts the transaction. If that fails or stalls, SQL holds the new
   code and the user does not: the handover lets the *used* code claim the new
   one later (step 5), so nobody is locked out. If Redis refuses (locked out,
   transaction gone), the rotation is undone: the old code stays valid.
4. The handover is ended once the new code is in the response. If that write
   fails, the handover lingers; it is ended at the next rotation.
5. A code that matches no current hash but a handover's used hash claims it,
   once the original request's deadline has surely passed (the lease), by one
   more compare-and-set on the handover's date — one claimer wins — and then
   accepts its own transaction and answers the same new code.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from mfa.context import Context
from mfa.errors import InvalidRecoveryCode, InvalidRecoveryCodeFormat, NotEnrolled
from mfa.events.record import EventType
from mfa.factors import recovery
from mfa.flows._common import accept, fail, load_pending, refusal, require_factor
from mfa.names import Factor, TxKind
from mfa.storage.base import AttemptOutcome, BackendUnavailable, Enrollment, Transaction


async def recover_account(ctx: Context, token: str, code: str) -> str:
    if not recovery.well_formed(code):
        raise InvalidRecoveryCodeFormat()
    tx = await load_pending(ctx, token)
    if tx.kind == TxKind.ENROLL.value:
        raise NotEnrolled()
    tenant = await ctx.tenants.get(tx.tenant_id)
    require_factor(ctx, tenant, tx, Factor.RECOVERY_CODE)
    eid = str(tx.data["enrollment_id"])
    enrollment = await ctx.durable.get_enrollment(tx.tenant_id, eid)
    if enrollment is None or enrollment.recovery_code_hash is None:
        raise NotEnrolled()
    lease = "recover:" + tx.txid
    if not await ctx.ephemeral.acquire_lease(tx.tenant_id, lease, _lease_seconds(ctx)):
        raise InvalidRecoveryCode(
            "Another recovery code for this transaction is being checked; try again."
        )
    try:
        return await _check(ctx, tx, enrollment, code)
    finally:
        with contextlib.suppress(BackendUnavailable):
            await ctx.ephemeral.release_lease(tx.tenant_id, lease)


async def _check(ctx: Context, tx: Transaction, enrollment: Enrollment, code: str) -> str:
    old = str(enrollment.recovery_code_hash)
    if await ctx.hasher.verify_async(old, code):
        return await _rotate(ctx, tx, old)
    eid = enrollment.enrollment_id
    handover = await ctx.durable.get_recovery_handover(tx.tenant_id, eid)
    if handover is not None and await ctx.hasher.verify_async(handover.used_hash, code):
        now = _now(ctx)
        settled = handover.since.timestamp() + _lease_seconds(ctx) <= now.timestamp()
        if settled and await ctx.durable.claim_recovery_handover(
            tx.tenant_id, eid, handover.since, now
        ):
            fresh = ctx.sealer.unseal(tx.tenant_id, eid, "recovery", handover.sealed_code)
            await _accept_or_refuse(ctx, tx)
            await _end_handover(ctx, tx.tenant_id, eid)
            return fresh
    await fail(ctx, tx, InvalidRecoveryCode(), Factor.RECOVERY_CODE)


async def _rotate(ctx: Context, tx: Transaction, old: str) -> str:
    eid = str(tx.data["enrollment_id"])
    fresh = recovery.new_code()
    fresh_hash = await ctx.hasher.hash_async(fresh)
    sealed = ctx.sealer.seal(tx.tenant_id, eid, "recovery", fresh)
    if not await ctx.durable.rotate_recovery_code(
        tx.tenant_id, eid, old, fresh_hash, sealed, _now(ctx)
    ):
        # A racing use of this code won.
        await fail(ctx, tx, InvalidRecoveryCode(), Factor.RECOVERY_CODE)
    try:
        await _accept_or_refuse(ctx, tx)
    except BackendUnavailable:
        raise  # the handover keeps the new code for a later claim (step 5)
    except Exception:
        # Refused: nobody logged in with the code, so it stays the user's.
        await ctx.durable.undo_recovery_rotation(tx.tenant_id, eid, fresh_hash, old)
        raise
    await _end_handover(ctx, tx.tenant_id, eid)
    return fresh


async def _accept_or_refuse(ctx: Context, tx: Transaction) -> None:
    outcome = await accept(ctx, tx, Factor.RECOVERY_CODE)
    if outcome is not AttemptOutcome.ACCEPTED:
        raise refusal(tx, outcome, InvalidRecoveryCode())
    used = ctx.events.make(
        tx.tenant_id,
        EventType.RECOVERY_CODE_USED,
        user_id=tx.user_id,
        enrollment_id=tx.data.get("enrollment_id"),
        method=Factor.RECOVERY_CODE.value,
        outcome="accepted",
    )
    await ctx.events.emit(used)


async def _end_handover(ctx: Context, tenant_id: str, enrollment_id: str) -> None:
    # Best effort: the answer carries the new code already; a lingering handover
    # only lets the used code claim this same new code again (step 4).
    with contextlib.suppress(BackendUnavailable):
        await ctx.durable.end_recovery_handover(tenant_id, enrollment_id)


def _lease_seconds(ctx: Context) -> float:
    """Longer than any one request can take: each of its backend calls is bounded
    by the backend deadline, and a handful of them run in sequence."""
    return 4 * ctx.settings.backend_timeout_seconds + 2


def _now(ctx: Context) -> datetime:
    return datetime.fromtimestamp(ctx.clock(), UTC)
