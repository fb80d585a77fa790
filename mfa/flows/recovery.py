"""recover-account: the recovery code completes a login and is rotated."""

from __future__ import annotations

import anyio.to_thread

from mfa.context import Context
from mfa.errors import InvalidRecoveryCode, InvalidRecoveryCodeFormat, NotEnrolled
from mfa.factors import recovery
from mfa.flows._common import accept, fail, load_pending, refusal, require_factor
from mfa.names import Factor, TxKind
from mfa.storage.base import AttemptOutcome


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
    old = enrollment.recovery_code_hash
    if not await anyio.to_thread.run_sync(ctx.hasher.verify, old, code):
        await fail(ctx, tx, InvalidRecoveryCode())
    fresh = recovery.new_code()
    fresh_hash = await anyio.to_thread.run_sync(ctx.hasher.hash, fresh)
    # Compare-and-set: of two requests racing with one code, one rotates it.
    if not await ctx.durable.swap_recovery_hash(tx.tenant_id, eid, old, fresh_hash):
        await fail(ctx, tx, InvalidRecoveryCode())
    outcome = await accept(ctx, tx, Factor.RECOVERY_CODE)
    if outcome is not AttemptOutcome.ACCEPTED:
        # Not accepted (locked out, or the transaction ended meanwhile): the user
        # keeps the code they have.
        await ctx.durable.swap_recovery_hash(tx.tenant_id, eid, fresh_hash, old)
        raise refusal(tx, outcome, InvalidRecoveryCode())
    return fresh
