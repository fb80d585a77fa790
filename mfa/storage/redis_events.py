"""The tenants' event streams on Redis (mfa.events): what a script appends, and the relay's reads.

``P:{T}:events`` is a Redis Stream per tenant, in one slot with the tenant's other
keys, so the scripts that decide (``record_attempt.lua``, ``consume_quota.lua``)
append their decision's event in the same call. The consumer group ``mover`` is
the set of relays (:mod:`mfa.events.relay`): each entry goes to one of them,
stays pending until acknowledged, and is claimed by another relay if its reader
died. Acknowledged entries are deleted: the stream holds only what is still on
its way to the durable store.
"""

from __future__ import annotations

import contextlib
from typing import Any

import redis.exceptions as redis_exc

from mfa.storage.base import AttemptEvent, BackendUnavailable, QuotaEvent
from mfa.storage.redis_lanes import make_lanes, map_redis_errors
from mfa.storage.redis_scripts import load_script, run_script

__all__ = [
    "GROUP",
    "RELAY_CLIENT_NAME",
    "RedisEventStreams",
    "attempt_event_args",
    "quota_event_args",
]

# The CLIENT SETNAME of the event relay's connections.
RELAY_CLIENT_NAME = "mfa-events-relay"

GROUP = "mover"


def attempt_event_args(event: AttemptEvent | None) -> list[str]:
    """``record_attempt.lua``'s event arguments (none: append no event)."""
    if event is None:
        return []
    flat = [item for pair in event.fields.items() for item in pair]
    return [
        event.success_type,
        event.failure_type,
        event.failure_code,
        event.event_id,
        repr(event.time),
        *flat,
    ]


def quota_event_args(event: QuotaEvent | None) -> list[str]:
    """``consume_quota.lua``'s event arguments (none: append no event)."""
    if event is None:
        return []
    flat = [item for pair in event.fields.items() for item in pair]
    return [event.user_code, event.tenant_code, *flat]


class RedisEventStreams:
    """The relay's side of the streams: read through the group, acknowledge.

    On its own named connections (:data:`RELAY_CLIENT_NAME`): its reads of whole
    streams never hold a lane a request waits for, and it is told apart from the
    request path in CLIENT LIST (and by the round-trip counts). Callers pass the
    stream's key (the store's key layout).
    """

    def __init__(self, url: str, timeout: float, claim_idle_seconds: float) -> None:
        self.timeout = timeout
        # An entry read this long ago and not acknowledged: its relay died.
        self.claim_idle_ms = max(1, int(claim_idle_seconds * 1000))
        self._lanes = make_lanes(url, timeout, 2, RELAY_CLIENT_NAME)
        self._ack = load_script("ack_events.lua")

    async def close(self) -> None:
        await self._lanes.close()

    async def _run(self, *args: str | int) -> Any:
        async with map_redis_errors(self._lanes, self.timeout, "read_events"):
            return await self._lanes.execute(*args)

    async def read(self, key: str, consumer: str, count: int) -> list[tuple[str, dict[str, str]]]:
        try:
            return await self._read(key, consumer, count)
        except BackendUnavailable:
            raise
        except redis_exc.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
        # First read of this stream: the group starts at the stream's beginning, so
        # entries appended before it existed are moved too.
        with contextlib.suppress(redis_exc.ResponseError):  # BUSYGROUP: a racing relay
            await self._run("XGROUP", "CREATE", key, GROUP, "0", "MKSTREAM")
        return await self._read(key, consumer, count)

    async def _read(self, key: str, consumer: str, count: int) -> list[tuple[str, dict[str, str]]]:
        # Entries a dead relay read and never acknowledged, then new ones.
        claimed = await self._run(
            "XAUTOCLAIM", key, GROUP, consumer, self.claim_idle_ms, "0-0", "COUNT", count
        )
        entries = _entries(claimed[1])
        if len(entries) < count:
            fresh = await self._run(
                "XREADGROUP",
                "GROUP",
                GROUP,
                consumer,
                "COUNT",
                count - len(entries),
                "STREAMS",
                key,
                ">",
            )
            for _stream, items in _streams(fresh):
                entries += _entries(items)
        return entries

    async def ack(self, key: str, entry_ids: list[str]) -> None:
        if entry_ids:
            await run_script(
                self._lanes, self.timeout, "ack_events", self._ack, [key], [GROUP, *entry_ids]
            )


def _entries(items: Any) -> list[tuple[str, dict[str, str]]]:
    out: list[tuple[str, dict[str, str]]] = []
    for item in items or []:
        if item is None:
            continue
        entry_id, raw = item[0], item[1]
        if raw is None:  # deleted while pending
            continue
        fields = raw if isinstance(raw, dict) else dict(zip(raw[::2], raw[1::2], strict=True))
        out.append((str(entry_id), fields))
    return out


def _streams(reply: Any) -> list[tuple[str, Any]]:
    if not reply:
        return []
    if isinstance(reply, dict):  # RESP3
        return list(reply.items())
    return [(item[0], item[1]) for item in reply]
