"""The durable store on SQLAlchemy Core (async): SQLite embedded, PostgreSQL in production.

This module holds the store's class, which puts the parts together, and the
tenants and API keys with their row conversions; enrollments are in
:mod:`mfa.storage.sql_enrollments`, the connections, deadlines and error mapping in
:mod:`mfa.storage.sql_engine`, the recovery handover in :mod:`mfa.storage.sql_recovery`,
audit events in :mod:`mfa.storage.sql_events` and webhooks in
:mod:`mfa.storage.sql_webhooks`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from mfa.names import DEFAULT_FACTORS, DEFAULT_FEATURES, DEFAULT_QUOTAS, Quota
from mfa.storage.base import (
    ApiKey,
    Conflict,
    HostedPages,
    Tenant,
)
from mfa.storage.schema import (
    api_keys,
    enrollments,
    head_revision,
    tenants,
)
from mfa.storage.sql_engine import (
    _bounded,
    _now,
    current_revision,
    make_engine,
    map_db_errors,
    upgrade,
)
from mfa.storage.sql_enrollments import SqlEnrollments
from mfa.storage.sql_events import SqlEvents
from mfa.storage.sql_recovery import SqlRecovery
from mfa.storage.sql_webhooks import SqlWebhooks

__all__ = [
    "SqlDurableStore",
    "current_revision",
    "head_revision",
    "make_engine",
    "map_db_errors",
    "upgrade",
]

# --------------------------------------------------------------------------- rows


def _tenant(row: sa.Row[Any]) -> Tenant:
    # Defaults under the stored values: a factor or quota added in a later release
    # shows up with its default for tenants created before.
    stored = {k: Quota(int(v["limit"]), int(v["window_seconds"])) for k, v in row.quotas.items()}
    return Tenant(
        tenant_id=row.tenant_id,
        name=row.name,
        factors={**DEFAULT_FACTORS, **row.factors},
        features={**DEFAULT_FEATURES, **row.features},
        quotas={**DEFAULT_QUOTAS, **stored},
        sms_otp_length=row.sms_otp_length,
        created_at=row.created_at,
        hosted_pages=_hosted_pages(row.hosted_pages),
        sandbox=bool(row.sandbox),
    )


def _hosted_pages(stored: Mapping[str, Any] | None) -> HostedPages:
    if not stored:
        return HostedPages()
    return HostedPages(
        allowed_return_urls=tuple(stored.get("allowed_return_urls", ())),
        logo_url=stored.get("logo_url"),
        primary_color=stored.get("primary_color"),
    )


def _hosted_pages_json(pages: HostedPages) -> dict[str, Any]:
    return {
        "allowed_return_urls": list(pages.allowed_return_urls),
        "logo_url": pages.logo_url,
        "primary_color": pages.primary_color,
    }


def _quotas_json(quotas: Mapping[str, Quota]) -> dict[str, dict[str, int]]:
    return {k: {"limit": q.limit, "window_seconds": q.window_seconds} for k, q in quotas.items()}


def _api_key(row: sa.Row[Any]) -> ApiKey:
    return ApiKey(
        key_id=row.key_id,
        tenant_id=row.tenant_id,
        name=row.name,
        scopes=frozenset(row.scopes),
        key_hash=bytes(row.key_hash),
        created_at=row.created_at,
    )


def _tenant_is(table: sa.Table, tenant_id: str | None) -> sa.ColumnElement[bool]:
    column = table.c.tenant_id
    return column.is_(None) if tenant_id is None else column == tenant_id


class SqlDurableStore(SqlEnrollments, SqlRecovery, SqlEvents, SqlWebhooks):
    """:class:`~mfa.storage.protocols.DurableStore` on SQLAlchemy Core, SQLite or PostgreSQL.

    ``url`` is a SQLAlchemy async URL (``sqlite+aiosqlite:///mfa.db``,
    ``postgresql+asyncpg://user@host/db``). :meth:`open` refuses a database whose
    schema is behind the code (:class:`SchemaOutdated`) unless ``migrate`` is set,
    in which case it upgrades it. Every call is bounded by ``timeout`` seconds.
    Connections: :mod:`mfa.storage.sql_engine`; enrollments:
    :mod:`mfa.storage.sql_enrollments`; the recovery handover and TOTP steps:
    :mod:`mfa.storage.sql_recovery`; events: :mod:`mfa.storage.sql_events`;
    webhooks: :mod:`mfa.storage.sql_webhooks`.
    """

    # ------------------------------------------------------------------ tenants

    @_bounded
    async def create_tenant(self, tenant: Tenant) -> Tenant:
        created = dataclasses.replace(tenant, created_at=tenant.created_at or _now())
        async with self._write("create_tenant") as conn:
            try:
                await conn.execute(
                    tenants.insert().values(
                        tenant_id=created.tenant_id,
                        name=created.name,
                        factors=dict(created.factors),
                        features=dict(created.features),
                        quotas=_quotas_json(created.quotas),
                        sms_otp_length=created.sms_otp_length,
                        created_at=created.created_at,
                        hosted_pages=_hosted_pages_json(created.hosted_pages),
                        sandbox=created.sandbox,
                    )
                )
            except sa_exc.IntegrityError as exc:
                raise Conflict(f"tenant {tenant.tenant_id!r} already exists") from exc
        return created

    @_bounded
    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        async with self._read("get_tenant") as conn:
            query = sa.select(tenants).where(tenants.c.tenant_id == tenant_id)
            row = (await conn.execute(query)).first()
        return None if row is None else _tenant(row)

    @_bounded
    async def list_tenants(self) -> list[Tenant]:
        async with self._read("list_tenants") as conn:
            rows = await conn.execute(sa.select(tenants).order_by(tenants.c.tenant_id))
            return [_tenant(row) for row in rows]

    @_bounded
    async def update_tenant(
        self,
        tenant_id: str,
        *,
        factors: dict[str, bool] | None = None,
        features: dict[str, bool] | None = None,
        quotas: dict[str, Quota] | None = None,
        sms_otp_length: int | None = None,
        hosted_pages: HostedPages | None = None,
    ) -> Tenant | None:
        async with self._write("update_tenant") as conn:
            # Read-modify-write: the row lock (PostgreSQL) or BEGIN IMMEDIATE (SQLite)
            # keeps two concurrent merges from losing each other's changes.
            query = sa.select(tenants).where(tenants.c.tenant_id == tenant_id).with_for_update()
            row = (await conn.execute(query)).first()
            if row is None:
                return None
            current = _tenant(row)
            merged = dataclasses.replace(
                current,
                factors={**current.factors, **(factors or {})},
                features={**current.features, **(features or {})},
                quotas={**current.quotas, **(quotas or {})},
                sms_otp_length=current.sms_otp_length if sms_otp_length is None else sms_otp_length,
                hosted_pages=current.hosted_pages if hosted_pages is None else hosted_pages,
            )
            await conn.execute(
                tenants.update()
                .where(tenants.c.tenant_id == tenant_id)
                .values(
                    factors=merged.factors,
                    features=merged.features,
                    quotas=_quotas_json(merged.quotas),
                    sms_otp_length=merged.sms_otp_length,
                    hosted_pages=_hosted_pages_json(merged.hosted_pages),
                )
            )
        return merged

    @_bounded
    async def delete_tenant(self, tenant_id: str) -> bool:
        async with self._write("delete_tenant") as conn:
            # Explicit as well as ON DELETE CASCADE: a database whose foreign keys
            # are off (an SQLite file opened elsewhere) must not keep orphans.
            await conn.execute(enrollments.delete().where(enrollments.c.tenant_id == tenant_id))
            await conn.execute(api_keys.delete().where(api_keys.c.tenant_id == tenant_id))
            result = await conn.execute(tenants.delete().where(tenants.c.tenant_id == tenant_id))
        return result.rowcount > 0

    # ------------------------------------------------------------------ API keys

    @_bounded
    async def create_api_key(self, key: ApiKey) -> None:
        async with self._write("create_api_key") as conn:
            try:
                await conn.execute(
                    api_keys.insert().values(
                        key_id=key.key_id,
                        tenant_id=key.tenant_id,
                        name=key.name,
                        scopes=sorted(key.scopes),
                        key_hash=key.key_hash,
                        created_at=key.created_at or _now(),
                    )
                )
            except sa_exc.IntegrityError as exc:
                raise Conflict(
                    f"API key {key.key_id!r} exists, or tenant {key.tenant_id!r} does not"
                ) from exc

    @_bounded
    async def find_api_key(self, key_hash: bytes) -> ApiKey | None:
        async with self._read("find_api_key") as conn:
            query = sa.select(api_keys).where(api_keys.c.key_hash == key_hash)
            row = (await conn.execute(query)).first()
        return None if row is None else _api_key(row)

    @_bounded
    async def list_api_keys(self, tenant_id: str | None) -> list[ApiKey]:
        query = (
            sa.select(api_keys)
            .where(_tenant_is(api_keys, tenant_id))
            .order_by(api_keys.c.created_at, api_keys.c.key_id)
        )
        async with self._read("list_api_keys") as conn:
            return [_api_key(row) for row in await conn.execute(query)]

    @_bounded
    async def delete_api_key(self, tenant_id: str | None, key_id: str) -> bool:
        """Delete the key if it belongs to ``tenant_id`` (None: an operator-wide key)."""
        query = api_keys.delete().where(
            api_keys.c.key_id == key_id, _tenant_is(api_keys, tenant_id)
        )
        async with self._write("delete_api_key") as conn:
            result = await conn.execute(query)
        return result.rowcount > 0
