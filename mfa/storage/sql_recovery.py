"""Recovery-code handover and TOTP steps: the durable halves of two-store steps.

Why these exist is told where they are used (:mod:`mfa.flows.recovery`,
:mod:`mfa.totp_steps`); here each is one conditional statement, so the database
decides races.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from mfa.storage.base import RecoveryHandover
from mfa.storage.schema import enrollments
from mfa.storage.sql_engine import SqlConnections, _bounded, _now, bind_datetime, driver_sql

# The handover columns cleared together: no handover pending.
_NO_HANDOVER: dict[str, Any] = {
    "recovery_prev_hash": None,
    "recovery_handover": None,
    "recovery_handover_at": None,
}

_SET_LAST_USED = "UPDATE enrollments SET last_used_at = ? WHERE tenant_id = ? AND enrollment_id = ?"
# The step only ever grows, whichever worker writes last.
_SET_TOTP_STEP = (
    "UPDATE enrollments SET totp_last_step = ? WHERE tenant_id = ? AND enrollment_id = ?"
    " AND (totp_last_step IS NULL OR totp_last_step < ?)"
)


class SqlRecovery(SqlConnections):
    async def _set_if(
        self, what: str, tenant_id: str, enrollment_id: str, *when: Any, **values: Any
    ) -> bool:
        """One conditional UPDATE of one enrollment row; True when it matched. The
        database decides races: of two requests with the same condition, one wins."""
        query = (
            enrollments.update()
            .where(
                enrollments.c.tenant_id == tenant_id,
                enrollments.c.enrollment_id == enrollment_id,
                *when,
            )
            .values(**values)
        )
        async with self._write(what) as conn:
            result = await conn.execute(query)
        return result.rowcount == 1

    @_bounded
    async def rotate_recovery_code(
        self,
        tenant_id: str,
        enrollment_id: str,
        old_hash: str,
        new_hash: str,
        sealed_new_code: bytes,
        now: datetime,
    ) -> bool:
        return await self._set_if(
            "rotate_recovery_code",
            tenant_id,
            enrollment_id,
            enrollments.c.recovery_code_hash == old_hash,
            recovery_code_hash=new_hash,
            recovery_prev_hash=old_hash,
            recovery_handover=sealed_new_code,
            recovery_handover_at=now,
            updated_at=_now(),
        )

    @_bounded
    async def get_recovery_handover(
        self, tenant_id: str, enrollment_id: str
    ) -> RecoveryHandover | None:
        query = sa.select(
            enrollments.c.recovery_prev_hash,
            enrollments.c.recovery_handover,
            enrollments.c.recovery_handover_at,
        ).where(enrollments.c.tenant_id == tenant_id, enrollments.c.enrollment_id == enrollment_id)
        async with self._read("get_recovery_handover") as conn:
            row = (await conn.execute(query)).first()
        if row is None or row.recovery_handover is None or row.recovery_prev_hash is None:
            return None
        return RecoveryHandover(
            row.recovery_prev_hash, bytes(row.recovery_handover), row.recovery_handover_at
        )

    @_bounded
    async def claim_recovery_handover(
        self, tenant_id: str, enrollment_id: str, since: datetime, now: datetime
    ) -> bool:
        return await self._set_if(
            "claim_recovery_handover",
            tenant_id,
            enrollment_id,
            enrollments.c.recovery_handover_at == since,
            enrollments.c.recovery_handover.is_not(None),
            recovery_handover_at=now,
        )

    @_bounded
    async def end_recovery_handover(self, tenant_id: str, enrollment_id: str) -> None:
        await self._set_if("end_recovery_handover", tenant_id, enrollment_id, **_NO_HANDOVER)

    @_bounded
    async def reset_recovery_code(self, tenant_id: str, enrollment_id: str, new_hash: str) -> bool:
        return await self._set_if(
            "reset_recovery_code",
            tenant_id,
            enrollment_id,
            recovery_code_hash=new_hash,
            updated_at=_now(),
            **_NO_HANDOVER,
        )

    @_bounded
    async def undo_recovery_rotation(
        self, tenant_id: str, enrollment_id: str, new_hash: str, old_hash: str
    ) -> bool:
        return await self._set_if(
            "undo_recovery_rotation",
            tenant_id,
            enrollment_id,
            enrollments.c.recovery_code_hash == new_hash,
            recovery_code_hash=old_hash,
            updated_at=_now(),
            **_NO_HANDOVER,
        )

    @_bounded
    async def swap_recovery_hash(
        self, tenant_id: str, enrollment_id: str, old_hash: str, new_hash: str
    ) -> bool:
        return await self._set_if(
            "swap_recovery_hash",
            tenant_id,
            enrollment_id,
            enrollments.c.recovery_code_hash == old_hash,
            recovery_code_hash=new_hash,
            updated_at=_now(),
        )

    @_bounded
    async def record_enrollment_activity(
        self,
        used: list[tuple[str, str, datetime]],
        errors: list[tuple[str, str, dict[str, Any]]],
        steps: Sequence[tuple[str, str, int]] = (),
    ) -> None:
        if not used and not errors and not steps:
            return
        # One transaction for the three: a login's step and last use rewrite the
        # same row, and SQLite's journal then takes each page once, not twice.
        async with self._write("record_enrollment_activity") as conn:
            if steps:
                # Driver rows (mfa.storage.sql_engine.driver_sql): one per accepted code.
                marks = [(step, t, e, step) for t, e, step in steps]
                await conn.exec_driver_sql(driver_sql(conn.dialect, _SET_TOTP_STEP), marks)
            if used:
                # Driver rows (mfa.storage.sql_engine.driver_sql): one per login.
                bind = bind_datetime(enrollments.c.last_used_at, conn.dialect)
                rows = [(bind(at), t, e) for t, e, at in used]
                await conn.exec_driver_sql(driver_sql(conn.dialect, _SET_LAST_USED), rows)
            if errors:
                where = (
                    enrollments.c.tenant_id == sa.bindparam("t"),
                    enrollments.c.enrollment_id == sa.bindparam("e"),
                )
                query = enrollments.update().where(*where).values(last_error=sa.bindparam("v"))
                await conn.execute(query, [{"t": t, "e": e, "v": err} for t, e, err in errors])
