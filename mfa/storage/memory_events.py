"""The in-process store's event streams: per-tenant lists of event entries.

What :class:`~mfa.storage.memory.MemoryEphemeralStore` keeps in place of the Redis
store's streams (:mod:`mfa.storage.redis_events`), with the same entries: a
decision's event is appended in the same step as the decision, and stays until
acknowledged.
"""

from __future__ import annotations

import json
from typing import Literal

from mfa.storage.base import AttemptEvent, AttemptOutcome, QuotaEvent

__all__ = ["EventLog"]


class EventLog:
    """Per-tenant lists of event entries, like the Redis store's streams (one
    process: no consumer group needed; an entry stays until acknowledged)."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, dict[str, str]]] = {}
        self._next = 0

    def append(self, tenant_id: str, fields: dict[str, str]) -> None:
        self._next += 1
        self._entries.setdefault(tenant_id, {})[str(self._next)] = dict(fields)

    def decided(self, tenant_id: str, event: AttemptEvent | None, outcome: AttemptOutcome) -> None:
        if event is None:
            return
        accepted = outcome is AttemptOutcome.ACCEPTED
        self.append(
            tenant_id,
            {
                "id": event.event_id,
                "type": event.success_type if accepted else event.failure_type,
                "time": repr(event.time),
                "outcome": outcome.value,
                "error_code": "" if accepted else event.failure_code,
                "data": "",
                **event.fields,
            },
        )

    def locked(self, tenant_id: str, event: AttemptEvent | None, lockout_seconds: int) -> None:
        if event is None:
            return
        until = event.time + lockout_seconds
        self.append(
            tenant_id,
            {
                "id": event.event_id + ".lock",
                "type": "user.locked",
                "time": repr(event.time),
                "outcome": AttemptOutcome.LOCKED.value,
                "error_code": event.failure_code,
                "data": json.dumps({"locked_until": round(until, 3)}),
                **event.fields,
            },
        )

    def refused(
        self, tenant_id: str, event: QuotaEvent | None, by: Literal["user", "tenant"]
    ) -> None:
        if event is None:
            return
        code = event.user_code if by == "user" else event.tenant_code
        self.append(tenant_id, {"error_code": code, **event.fields})

    def read(self, tenant_id: str, count: int) -> list[tuple[str, dict[str, str]]]:
        entries = self._entries.get(tenant_id, {})
        return [(k, dict(v)) for k, v in list(entries.items())[:count]]

    def ack(self, tenant_id: str, entry_ids: list[str]) -> None:
        entries = self._entries.get(tenant_id, {})
        for entry_id in entry_ids:
            entries.pop(entry_id, None)

    def drop(self, tenant_id: str) -> None:
        self._entries.pop(tenant_id, None)
