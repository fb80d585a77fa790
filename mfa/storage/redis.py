"""The ephemeral store on Redis (redis-py asyncio), one Lua script per atomic decision.

The keys, all of one tenant in one Redis Cluster slot, are laid out in
:mod:`mfa.storage.redis_keys`; the scripts are run by :mod:`mfa.storage.redis_scripts`
over the connections of :mod:`mfa.storage.redis_lanes`; the tenants' event streams
are read by :mod:`mfa.storage.redis_events`.

A transaction is a hash: ``meta`` (JSON of the immutable parts), ``state``,
``enrollment`` (JSON), ``token``, ``attempts``, and one ``d:<key>`` field per
entry of ``data`` (JSON), so that scripts merge ``data`` with a plain HSET and
never decode JSON themselves (Lua's cjson mangles empty arrays and big numbers).
"""

from __future__ import annotations

import json
import math
from collections.abc import Coroutine, Sequence
from typing import Any, cast

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
from mfa.storage.redis_events import RedisEventStreams, attempt_event_args, quota_event_args
from mfa.storage.redis_keys import RedisKeys
from mfa.storage.redis_lanes import CLUSTER_SCHEME, cluster_nodes, make_lanes, map_redis_errors
from mfa.storage.redis_scripts import Script, load_script, run_script

__all__ = ["CLUSTER_SCHEME", "RedisEphemeralStore", "cluster_nodes", "map_redis_errors"]


def _tx_fields(changes: dict[str, Any]) -> list[str]:
    """The hash fields for the given changes (None: leave alone), as a flat list."""
    flat: list[str] = []
    if changes.get("state") is not None:
        flat += ["state", changes["state"]]
    if changes.get("enrollment") is not None:
        flat += ["enrollment", json.dumps(changes["enrollment"])]
    if changes.get("token") is not None:
        flat += ["token", changes["token"]]
    for key, value in (changes.get("data") or {}).items():
        flat += ["d:" + key, json.dumps(value)]
    return flat


def _transaction(tenant_id: str, txid: str, fields: dict[str, str]) -> Transaction:
    # Every JSON field is parsed in one json.loads, as the elements of one array: each
    # is a single JSON value written by json.dumps (_tx_fields, create_transaction),
    # so joined by commas they are exactly that many elements. One call instead of
    # one per field (a dozen on a verify-otp).
    names = [k for k in fields if k.startswith("d:")]
    texts = [fields["meta"], fields.get("enrollment") or "null", *(fields[k] for k in names)]
    meta, enrollment, *values = json.loads("[" + ",".join(texts) + "]")
    return Transaction(
        txid=txid,
        tenant_id=tenant_id,
        user_id=meta["user_id"],
        kind=meta["kind"],
        expires_at=meta["expires_at"],
        state=cast(TxState, fields["state"]),
        enrollment=enrollment,
        token=fields.get("token"),
        data={k[2:]: v for k, v in zip(names, values, strict=True)},
        attempts=int(fields.get("attempts", "0")),
    )


class RedisEphemeralStore:
    """:class:`~mfa.storage.protocols.EphemeralStore` on Redis.

    ``url`` is ``redis://…``, ``rediss://…`` or ``unix://…`` for one server, or
    ``redis+cluster://host:port[,host:port…]`` for Redis Cluster. Every call is one
    round trip and bounded by ``timeout`` seconds, waiting for a free connection
    included; commands are never retried (a retried script could count a send
    twice), and a lost Redis comes out as
    :class:`~mfa.storage.base.BackendUnavailable`. Connections (at most
    ``max_connections``) reconnect by themselves once Redis is back. ``prefix``
    namespaces every key, so several deployments (or test runs) can share one server.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "mfa",
        timeout: float = 2.0,
        max_connections: int = 50,
        event_claim_idle_seconds: float = 30.0,
    ) -> None:
        self.prefix = prefix
        self._keys = RedisKeys(prefix)
        self.timeout = timeout
        self._lanes = make_lanes(url, timeout, max_connections, None)
        # The event relay's reads, on its own connections (mfa.storage.redis_events).
        self._streams = RedisEventStreams(url, timeout, event_claim_idle_seconds)
        self._create = load_script("create_transaction.lua")
        self._update = load_script("update_transaction.lua")
        self._attempt = load_script("record_attempt.lua")
        self._consume = load_script("consume_quota.lua")
        self._refund = load_script("refund_quota.lua")

    async def _run(self, what: str, *args: str | int) -> Any:
        """One command, one round trip, under one deadline (connection wait included)."""
        async with map_redis_errors(self._lanes, self.timeout, what):
            return await self._lanes.execute(*args)

    def _eval(
        self, what: str, script: Script, keys: list[str], args: Sequence[str | int]
    ) -> Coroutine[Any, Any, Any]:
        # Returns the call's coroutine, to be awaited by the caller: no extra frame.
        return run_script(self._lanes, self.timeout, what, script, keys, args)

    async def open(self) -> None:
        return None  # connections are made on first use

    async def close(self) -> None:
        await self._lanes.close()
        await self._streams.close()

    async def ping(self) -> None:
        await self._run("ping", "PING")

    # ------------------------------------------------------------------ transactions

    async def create_transaction(self, tx: Transaction) -> None:
        key = self._keys.tenant(tx.tenant_id, "tx", tx.txid)
        meta = {"user_id": tx.user_id, "kind": tx.kind, "expires_at": tx.expires_at}
        fields = [
            "meta",
            json.dumps(meta),
            "attempts",
            str(tx.attempts),
            *_tx_fields(
                {"state": tx.state, "enrollment": tx.enrollment, "token": tx.token, "data": tx.data}
            ),
        ]
        expiry = math.ceil(tx.expires_at * 1000)
        await self._eval("create_transaction", self._create, [key], [expiry, *fields])

    async def get_transaction(self, tenant_id: str, txid: str) -> Transaction | None:
        raw = await self._run(
            "get_transaction", "HGETALL", self._keys.tenant(tenant_id, "tx", txid)
        )
        if not raw:
            return None
        # RESP2 answers a flat list of field, value; RESP3 (protocol=3 in the URL) a map.
        fields = raw if isinstance(raw, dict) else dict(zip(raw[::2], raw[1::2], strict=True))
        return _transaction(tenant_id, txid, fields)

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
        changes = {"state": state, "enrollment": enrollment, "token": token, "data": data}
        args = ["1" if only_if_pending else "0", *_tx_fields(changes)]
        done = await self._eval(
            "update_transaction", self._update, [self._keys.tenant(tenant_id, "tx", txid)], args
        )
        return bool(done)

    async def delete_transaction(self, tenant_id: str, txid: str) -> None:
        await self._run("delete_transaction", "DEL", self._keys.tenant(tenant_id, "tx", txid))

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
        tx_key = self._keys.tenant(tenant_id, "tx", txid)
        keys = [
            tx_key,
            self._keys.tenant(tenant_id, "fail", user_id),
            self._keys.tenant(tenant_id, "lock", user_id),
            tx_key if replay_key is None else self._keys.tenant(tenant_id, "replay", replay_key),
            self._keys.events(tenant_id),
        ]
        event_args = attempt_event_args(event)
        args = [
            "1" if ok else "0",
            str(limits.per_transaction),
            str(limits.per_user),
            str(limits.lockout_seconds),
            "0" if replay_key is None else "1",
            str(replay_step or 0),
            str(replay_mark_seconds(limits.lockout_seconds)),
            str(len(event_args)),
            *event_args,
            *_tx_fields(on_success or {}),
        ]
        outcome = await self._eval("record_attempt", self._attempt, keys, args)
        return AttemptOutcome(outcome)

    # ------------------------------------------------------------------ tickets

    async def put_ticket(self, ticket_id: str, value: dict[str, Any], ttl_seconds: int) -> None:
        key = self._keys.ticket(ticket_id)
        await self._run("put_ticket", "SET", key, json.dumps(value), "EX", ttl_seconds)

    async def take_ticket(self, ticket_id: str) -> dict[str, Any] | None:
        raw = await self._run("take_ticket", "GETDEL", self._keys.ticket(ticket_id))
        return None if raw is None else _loads(cast(str, raw))

    async def peek_ticket(self, ticket_id: str) -> dict[str, Any] | None:
        raw = await self._run("peek_ticket", "GET", self._keys.ticket(ticket_id))
        return None if raw is None else _loads(cast(str, raw))

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
        event_args = quota_event_args(event)
        args: list[str | int] = [
            per_user.limit,
            per_user.window_seconds,
            per_tenant.limit,
            per_tenant.window_seconds,
            len(event_args),
            *event_args,
        ]
        keys = [*self._keys.quotas(tenant_id, user_id, channel), self._keys.events(tenant_id)]
        granted, refused, retry_after = await self._eval("consume_quota", self._consume, keys, args)
        if granted:
            return QuotaDecision(True)
        return QuotaDecision(False, "user" if refused == "user" else "tenant", int(retry_after))

    async def refund_quota(self, tenant_id: str, user_id: str, channel: Channel) -> None:
        keys = self._keys.quotas(tenant_id, user_id, channel)
        await self._eval("refund_quota", self._refund, keys, [])

    # ------------------------------------------------------------------ leases

    async def acquire_lease(self, tenant_id: str, name: str, ttl_seconds: float) -> bool:
        key = self._keys.tenant(tenant_id, "lease", name)
        ms = max(1, int(ttl_seconds * 1000))
        return bool(await self._run("acquire_lease", "SET", key, "1", "NX", "PX", ms))

    async def release_lease(self, tenant_id: str, name: str) -> None:
        await self._run("release_lease", "DEL", self._keys.tenant(tenant_id, "lease", name))

    async def delete_tenant_data(self, tenant_id: str) -> None:
        # SCAN, not KEYS: never block a server. A tenant's keys share one slot, so
        # they are unlinked in batches of one command each; each round trip has its
        # own deadline, since a big tenant takes many. Glob characters are escaped.
        pattern = self._keys.tenant_glob(tenant_id)
        async with map_redis_errors(self._lanes, self.timeout, "delete_tenant_data"):
            keys = await self._lanes.scan(pattern)
        for start in range(0, len(keys), 500):
            await self._run("delete_tenant_data", "UNLINK", *keys[start : start + 500])

    # ------------------------------------------------------------------ events
    # P:{T}:events, the tenant's stream (mfa.storage.redis_events): the request path
    # appends; the relay reads and acknowledges on its own connections.

    async def append_event(self, tenant_id: str, fields: dict[str, str]) -> None:
        flat = [item for pair in fields.items() for item in pair]
        await self._run("append_event", "XADD", self._keys.events(tenant_id), "*", *flat)

    async def read_events(
        self, tenant_id: str, consumer: str, count: int
    ) -> list[tuple[str, dict[str, str]]]:
        return await self._streams.read(self._keys.events(tenant_id), consumer, count)

    async def ack_events(self, tenant_id: str, entry_ids: list[str]) -> None:
        await self._streams.ack(self._keys.events(tenant_id), entry_ids)

    async def lockout_remaining(self, tenant_id: str, user_id: str) -> float | None:
        millis = await self._run(
            "lockout_remaining", "PTTL", self._keys.tenant(tenant_id, "lock", user_id)
        )
        # Negative: no key (or one without expiry, which record_attempt never writes).
        return None if int(millis) < 0 else int(millis) / 1000


def _loads(raw: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(raw)
    return value
