"""Enrollments in the durable store: one user's confirmed device account per row.

The row holds the record's fields (:class:`~mfa.storage.base.Enrollment`, secrets
sealed) and, beside them, the recovery handover's columns, which
:mod:`mfa.storage.sql_recovery` changes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from mfa.storage.base import Conflict, Enrollment
from mfa.storage.schema import enrollments
from mfa.storage.sql_engine import SqlConnections, _bounded, _now

_ENROLLMENT_FIELDS = frozenset(f.name for f in dataclasses.fields(Enrollment))
_ENROLLMENT_MUTABLE = _ENROLLMENT_FIELDS - {"enrollment_id", "tenant_id", "created_at"}
_BYTES_FIELDS = ("totp_secret", "phone_number", "push_token", "device_token_hash")


def _enrollment(row: sa.Row[Any]) -> Enrollment:
    # Only the record's own fields: the row also holds the recovery handover columns.
    values = {k: v for k, v in row._mapping.items() if k in _ENROLLMENT_FIELDS}
    values["methods"] = tuple(values["methods"])
    for name in _BYTES_FIELDS:  # asyncpg may hand back memoryview-like buffers
        if values[name] is not None:
            values[name] = bytes(values[name])
    return Enrollment(**values)


def _enrollment_values(changes: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(changes)
    if "methods" in values:
        values["methods"] = list(values["methods"])
    return values


class SqlEnrollments(SqlConnections):
    @_bounded
    async def create_enrollment(self, enrollment: Enrollment) -> None:
        now = _now()
        values = _enrollment_values(dataclasses.asdict(enrollment))
        values["created_at"] = enrollment.created_at or now
        values["updated_at"] = enrollment.updated_at or values["created_at"]
        async with self._write("create_enrollment") as conn:
            try:
                await conn.execute(enrollments.insert().values(**values))
            except sa_exc.IntegrityError as exc:
                raise Conflict(
                    f"user {enrollment.user_id!r} of tenant {enrollment.tenant_id!r} is "
                    "already enrolled (or the tenant does not exist)"
                ) from exc

    def _enrollment_query(self, tenant_id: str) -> sa.Select[Any]:
        return sa.select(enrollments).where(enrollments.c.tenant_id == tenant_id)

    @_bounded
    async def get_enrollment(self, tenant_id: str, enrollment_id: str) -> Enrollment | None:
        query = self._enrollment_query(tenant_id).where(
            enrollments.c.enrollment_id == enrollment_id
        )
        async with self._read("get_enrollment") as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _enrollment(row)

    @_bounded
    async def get_user_enrollment(self, tenant_id: str, user_id: str) -> Enrollment | None:
        query = self._enrollment_query(tenant_id).where(enrollments.c.user_id == user_id)
        async with self._read("get_user_enrollment") as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _enrollment(row)

    @_bounded
    async def update_enrollment(
        self, tenant_id: str, enrollment_id: str, changes: dict[str, Any]
    ) -> Enrollment | None:
        unknown = set(changes) - _ENROLLMENT_MUTABLE
        if unknown:
            raise ValueError(f"cannot change enrollment fields {sorted(unknown)}")
        values = _enrollment_values(changes)
        values.setdefault("updated_at", _now())
        where = (
            enrollments.c.tenant_id == tenant_id,
            enrollments.c.enrollment_id == enrollment_id,
        )
        async with self._write("update_enrollment") as conn:
            try:
                result = await conn.execute(enrollments.update().where(*where).values(**values))
            except sa_exc.IntegrityError as exc:
                raise Conflict(f"user {changes.get('user_id')!r} is already enrolled") from exc
            if result.rowcount == 0:
                return None
            row = (await conn.execute(sa.select(enrollments).where(*where))).one()
        return _enrollment(row)

    @_bounded
    async def find_enrollment(self, enrollment_id: str) -> Enrollment | None:
        query = sa.select(enrollments).where(enrollments.c.enrollment_id == enrollment_id)
        async with self._read("find_enrollment") as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _enrollment(row)

    @_bounded
    async def delete_enrollment(self, tenant_id: str, enrollment_id: str) -> bool:
        query = enrollments.delete().where(
            enrollments.c.tenant_id == tenant_id, enrollments.c.enrollment_id == enrollment_id
        )
        async with self._write("delete_enrollment") as conn:
            result = await conn.execute(query)
        return result.rowcount > 0
