"""The per-process tenant cache: tenant settings read at most once a second.

Every factor call needs the tenant's toggles and quotas; reading them from the
database each time would put SQL on the hot path. Writes through this process
invalidate at once; other workers see a change within ``ttl`` seconds.
"""

from __future__ import annotations

import asyncio
import time

from mfa.errors import TenantNotFound
from mfa.storage.base import Tenant
from mfa.storage.protocols import DurableStore

# How long a tenant's settings are reused before being read again.
TENANT_CACHE_SECONDS = 1.0


class TenantCache:
    def __init__(self, durable: DurableStore, ttl: float = TENANT_CACHE_SECONDS) -> None:
        self._durable = durable
        self._ttl = ttl
        self._entries: dict[str, tuple[float, Tenant]] = {}
        self._loads: dict[str, asyncio.Future[Tenant]] = {}

    async def get(self, tenant_id: str) -> Tenant:
        """The tenant's settings, or ``tenant_not_found``.

        One read is in flight per tenant at a time: when the entry expires under
        load, requests that find a stale entry keep using it while one refresh
        runs, instead of all of them reading the database at once.
        """
        cached = self._entries.get(tenant_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        loading = self._loads.get(tenant_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load(tenant_id))
            self._loads[tenant_id] = loading
            loading.add_done_callback(lambda f: self._loaded(tenant_id, f))
        elif cached is not None:
            return cached[1]
        return await asyncio.shield(loading)

    async def _load(self, tenant_id: str) -> Tenant:
        tenant = await self._durable.get_tenant(tenant_id)
        if tenant is None:
            self._entries.pop(tenant_id, None)
            raise TenantNotFound()
        self._entries[tenant_id] = (time.monotonic() + self._ttl, tenant)
        return tenant

    def _loaded(self, tenant_id: str, future: asyncio.Future[Tenant]) -> None:
        if self._loads.get(tenant_id) is future:
            del self._loads[tenant_id]
        if not future.cancelled():
            future.exception()  # retrieved here, so a failure nobody awaited is not logged

    def forget(self, tenant_id: str) -> None:
        self._entries.pop(tenant_id, None)
        self._loads.pop(tenant_id, None)
