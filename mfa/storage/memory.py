"""The in-process ephemeral store: the embedded default, for one process only.

Every method does its work without awaiting anything in between, so on one event
loop each call is atomic, just like one Lua script in Redis. Expiry follows the
injected clock (:mod:`mfa.storage.memory_expiry`); the tenants' event entries are
kept by :mod:`mfa.storage.memory_events`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import time
from collections.abc import Callable
from typing import Any

from mfa.names import Channel, Quota
from mfa.storage._shared import check_attempt_args, replay_mark_seconds
from mfa.storage.base import (
    AttemptEvent,
    AttemptLimits,
    AttemptOutcome,
    QuotaDecision,
    QuotaEvent,
    Transaction,
    TxState,
)
from mfa.storage.memory_events import EventLog
from mfa.storage.memory_expiry import ExpiringData, Key

__all__ = ["MemoryEphemeralStore"]


class MemoryEphemeralStore(ExpiringData):
    """:class:`~mfa.storage.protocols.EphemeralStore` held in a dict, TTLs on ``clock``.

    Same semantics as :class:`~mfa.storage.redis.RedisEphemeralStore`, which the
    shared contract tests check. State is lost with the process, and two worker
    processes would each have their own: use Redis for anything but one process.
    """

    # Events are written to the durable store in the request that made them
    # (mfa.events.sink), not later by a relay: nothing outlives this process anyway.
    in_process = True

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock)
        self._events = EventLog()

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        self._data.clear()

    async def ping(self) -> None:
        return None

    # ------------------------------------------------------------------ transactions

    async def create_transaction(self, tx: Transaction) -> None:
        # JSON round trips, here and in _apply: the store keeps its own copy, and a
        # value Redis could not hold (bytes, say) fails here too, not in production.
        stored = dataclasses.replace(
            tx, enrollment=_json_copy(tx.enrollment), data=_json_copy(tx.data)
        )
        self._set((tx.tenant_id, "tx", tx.txid), stored, tx.expires_at)

    async def get_transaction(self, tenant_id: str, txid: str) -> Transaction | None:
        tx = self._get((tenant_id, "tx", txid))
        return None if tx is None else copy.deepcopy(tx)

    async def update_transaction(
        self,
        tenant_id: str,
        txid: str,
        *,
        state: TxState | None = None,
        enrollment: dict[str, Any] | None = None,
        token: str | None = None,
        data: dict[str, Any] | None = None,
        only_if_pending: bool = True,
    ) -> bool:
        tx = self._get((tenant_id, "tx", txid))
        if tx is None or (only_if_pending and tx.state != "pending"):
            return False
        _apply(tx, {"state": state, "enrollment": enrollment, "token": token, "data": data})
        return True

    async def delete_transaction(self, tenant_id: str, txid: str) -> None:
        self._data.pop((tenant_id, "tx", txid), None)

    async def record_attempt(
        self,
        tenant_id: str,
        txid: str,
        user_id: str,
        *,
        ok: bool,
        limits: AttemptLimits,
        replay_key: str | None = None,
        replay_step: int | None = None,
        on_success: dict[str, Any] | None = None,
        event: AttemptEvent | None = None,
    ) -> AttemptOutcome:
        check_attempt_args(replay_key, replay_step, on_success)
        tx_key = (tenant_id, "tx", txid)
        tx: Transaction | None = self._get(tx_key)
        if tx is None or tx.state != "pending":
            return AttemptOutcome.GONE
        if self._get((tenant_id, "lock", user_id)) is not None:
            self._events.decided(tenant_id, event, AttemptOutcome.LOCKED)
            return AttemptOutcome.LOCKED
        now = self._clock()
        replay = (tenant_id, "replay", replay_key)
        replayed = False
        if ok and replay_key is not None:
            last = self._get(replay)
            replayed = last is not None and last >= replay_step
        if ok and not replayed:
            if replay_key is not None:
                self._set(replay, replay_step, now + replay_mark_seconds(limits.lockout_seconds))
            _apply(tx, on_success or {})
            self._data.pop((tenant_id, "fail", user_id), None)
            self._events.decided(tenant_id, event, AttemptOutcome.ACCEPTED)
            return AttemptOutcome.ACCEPTED
        # A wrong code, or a replayed one: both count.
        tx.attempts += 1
        fail = (tenant_id, "fail", user_id)
        fails = (self._get(fail) or 0) + 1
        if fails == 1:
            self._set(fail, fails, now + limits.lockout_seconds)
        else:
            self._data[fail].value = fails  # keeps the window that the first failure opened
        outcome = AttemptOutcome.REPLAY if replayed else AttemptOutcome.INVALID
        if tx.attempts >= limits.per_transaction:
            outcome = AttemptOutcome.KILLED
        self._events.decided(tenant_id, event, outcome)
        if fails >= limits.per_user:
            self._set((tenant_id, "lock", user_id), True, now + limits.lockout_seconds)
            self._data.pop(fail, None)
            self._events.locked(tenant_id, event, limits.lockout_seconds)
        if outcome is AttemptOutcome.KILLED:
            self._data.pop(tx_key, None)
        return outcome

    # ------------------------------------------------------------------ tickets

    async def put_ticket(self, ticket_id: str, value: dict[str, Any], ttl_seconds: int) -> None:
        # Kept as JSON, like Redis: the caller's dict is not shared, and a value that
        # Redis could not hold fails here too.
        self._set((None, "ticket", ticket_id), json.dumps(value), self._clock() + ttl_seconds)

    async def take_ticket(self, ticket_id: str) -> dict[str, Any] | None:
        raw = self._get((None, "ticket", ticket_id))
        self._data.pop((None, "ticket", ticket_id), None)
        return None if raw is None else _loads(raw)

    async def peek_ticket(self, ticket_id: str) -> dict[str, Any] | None:
        raw = self._get((None, "ticket", ticket_id))
        return None if raw is None else _loads(raw)

    # ------------------------------------------------------------------ quotas

    async def consume_quota(
        self,
        tenant_id: str,
        user_id: str,
        channel: Channel,
        per_user: Quota,
        per_tenant: Quota,
        *,
        event: QuotaEvent | None = None,
    ) -> QuotaDecision:
        user_key = (tenant_id, "quota", channel, "user", user_id)
        tenant_key = (tenant_id, "quota", channel, "tenant")
        # The user first: when both are exhausted, the user quota is named. A
        # refusal's event is written in the same step (like consume_quota.lua).
        if (self._get(user_key) or 0) >= per_user.limit:
            self._events.refused(tenant_id, event, "user")
            return QuotaDecision(False, "user", self._retry_after(user_key, per_user))
        if (self._get(tenant_key) or 0) >= per_tenant.limit:
            self._events.refused(tenant_id, event, "tenant")
            return QuotaDecision(False, "tenant", self._retry_after(tenant_key, per_tenant))
        now = self._clock()
        for key, quota in ((user_key, per_user), (tenant_key, per_tenant)):
            count = self._get(key)
            if count is None:
                self._set(key, 1, now + quota.window_seconds)
            else:
                self._data[key].value = count + 1
        return QuotaDecision(True)

    def _retry_after(self, key: Key, quota: Quota) -> int:
        ttl = self._ttl(key)
        return quota.window_seconds if ttl is None else max(1, math.ceil(ttl))

    async def refund_quota(self, tenant_id: str, user_id: str, channel: Channel) -> None:
        for key in (
            (tenant_id, "quota", channel, "user", user_id),
            (tenant_id, "quota", channel, "tenant"),
        ):
            count = self._get(key)
            if count:  # never below zero, never a counter created by a refund
                self._data[key].value = count - 1

    async def acquire_lease(self, tenant_id: str, name: str, ttl_seconds: float) -> bool:
        key = (tenant_id, "lease", name)
        if self._get(key) is not None:
            return False
        self._set(key, True, self._clock() + ttl_seconds)
        return True

    async def release_lease(self, tenant_id: str, name: str) -> None:
        self._data.pop((tenant_id, "lease", name), None)

    async def delete_tenant_data(self, tenant_id: str) -> None:
        for key in [k for k in self._data if k[0] == tenant_id]:
            del self._data[key]
        self._events.drop(tenant_id)

    # ------------------------------------------------------------------ events

    async def append_event(self, tenant_id: str, fields: dict[str, str]) -> None:
        self._events.append(tenant_id, fields)

    async def read_events(
        self, tenant_id: str, consumer: str, count: int
    ) -> list[tuple[str, dict[str, str]]]:
        return self._events.read(tenant_id, count)

    async def ack_events(self, tenant_id: str, entry_ids: list[str]) -> None:
        self._events.ack(tenant_id, entry_ids)

    async def lockout_remaining(self, tenant_id: str, user_id: str) -> float | None:
        key = (tenant_id, "lock", user_id)
        return None if self._get(key) is None else self._ttl(key)


def _apply(tx: Transaction, changes: dict[str, Any]) -> None:
    """Set the given fields of ``tx``; ``data`` merges key by key; None leaves alone."""
    enrollment = _json_copy(changes.get("enrollment"))  # may raise: before any change
    data = _json_copy(changes.get("data"))
    if changes.get("state") is not None:
        tx.state = changes["state"]
    if enrollment is not None:
        tx.enrollment = enrollment
    if changes.get("token") is not None:
        tx.token = changes["token"]
    if data is not None:
        tx.data.update(data)


def _json_copy(value: Any) -> Any:
    return None if value is None else json.loads(json.dumps(value))


def _loads(raw: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(raw)
    return value
