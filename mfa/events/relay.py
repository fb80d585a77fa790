"""The mover: event streams → the durable audit table, and the retention sweep.

Every worker runs one relay (started in :meth:`MFAService.open`, drained in
``close``). Each round it reads every tenant's stream through the consumer group
``mover`` (so the workers share the entries, one reader each), inserts what it
read (idempotent by event id, with the webhook deliveries each event owes) and
acknowledges it. An entry whose reader died before acknowledging is claimed by
another relay after a while (``XAUTOCLAIM``): at least once into the table, and
exactly once in it.

Each round also records the lockouts that have run out (``user.unlocked``): a
lockout ends by time, and no request is there to see it.

Which streams exist: one per tenant (``P:{T}:events``, in the tenant's slot on
Redis Cluster), and the tenants are the durable store's, read again every
:data:`TENANTS_REFRESH_SECONDS`. So no key scan is needed, on one server or on
a cluster.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable

from mfa.events.sink import EventSink
from mfa.periodic import Periodic
from mfa.storage.base import BackendUnavailable
from mfa.storage.protocols import DurableStore

log = logging.getLogger("mfa.events.relay")

TENANTS_REFRESH_SECONDS = 5.0
PRUNE_EVERY_SECONDS = 3600.0
# Lockouts that ran out are looked for this often (by the service clock): their
# events carry the time the lockout ended, so this only bounds how late they come.
LOCKOUT_ENDS_EVERY_SECONDS = 1.0


class EventRelay(Periodic):
    def __init__(
        self,
        sink: EventSink,
        durable: DurableStore,
        clock: Callable[[], float],
        *,
        retention_days: int,
        interval: float = 0.2,
    ) -> None:
        self._sink = sink
        self._durable = durable
        self._clock = clock
        self._retention_seconds = retention_days * 86400
        super().__init__(interval, log, "move events")
        # Unique per process: the group's pending list is kept per consumer name.
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"
        self._tenants: list[str] = []
        self._tenants_at = float("-inf")
        self._pruned_at = float("-inf")
        self._lockouts_at = float("-inf")

    async def _tenant_ids(self) -> list[str]:
        now = asyncio.get_running_loop().time()
        if now - self._tenants_at >= TENANTS_REFRESH_SECONDS:
            self._tenants = [t.tenant_id for t in await self._durable.list_tenants()]
            self._tenants_at = now
        return self._tenants

    def forget_tenants(self) -> None:
        """Read the tenant list again on the next round (a tenant was created)."""
        self._tenants_at = float("-inf")

    async def run_once(self) -> int:
        """One round over every tenant's stream; how many entries moved."""
        moved = 0
        for tenant_id in await self._tenant_ids():
            try:
                while count := await self._sink.move(tenant_id, self.consumer):
                    moved += count
            except BackendUnavailable:
                # One tenant's shard (or the database) is down: the others go on,
                # and this tenant's entries wait in its stream.
                log.warning("could not move the events of tenant %r yet", tenant_id)
        # After the move: a lockout that began and ended within this round has its
        # end scheduled by now.
        now = self._clock()
        if now - self._lockouts_at >= LOCKOUT_ENDS_EVERY_SECONDS:
            self._lockouts_at = now
            await self._sink.end_lockouts()
        await self._prune()
        return moved

    async def _prune(self) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._pruned_at < PRUNE_EVERY_SECONDS:
            return
        self._pruned_at = now
        dropped = await self._durable.prune_events(self._clock() - self._retention_seconds)
        if dropped:
            log.info("retention: dropped %d events", dropped)

    async def tick(self) -> None:
        await self.run_once()
