"""The ephemeral store on Redis (redis-py asyncio), one Lua script per atomic decision.

Key layout (``P`` is the prefix, ``T`` the tenant id)::

    P:{T}:tx:<txid>                    transaction hash (TTL: its expiry)
    P:{T}:fail:<user>                  wrong codes in the current window
    P:{T}:lock:<user>                  lockout flag
    P:{T}:replay:<replay key>          last accepted TOTP step
    P:{T}:quota:<channel>:user:<user>  fixed-window send counters
    P:{T}:quota:<channel>:tenant
    P:{T}:ticket:<id>                  one-time tickets whose id names T after a dot
    P:{T}:events                       the tenant's event stream (mfa.events), group "mover"
    P:ticket:<id>                      other one-time tickets (global)

The tenant id sits in a hash tag, so on Redis Cluster all keys of one tenant live
in one slot and a script may touch the user's and the tenant's keys together.

A transaction is a hash: ``meta`` (JSON of the immutable parts), ``state``,
``enrollment`` (JSON), ``token``, ``attempts``, and one ``d:<key>`` field per
entry of ``data`` (JSON), so that scripts merge ``data`` with a plain HSET and
never decode JSON themselves (Lua's cjson mangles empty arrays and big numbers).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from collections.abc import Sequence
from importlib import resources
from typing import Any, cast

import redis.exceptions as redis_exc

from mfa.names import Channel, Quota
from mfa.storage._shared import check_attempt_args, replay_mark_seconds
from mfa.storage.base import (
    AttemptEvent,
    AttemptLimits,
    AttemptOutcome,
    BackendUnavailable,
    QuotaDecision,
    Transaction,
    TxState,
)
from mfa.storage.redis_lanes import (
    CLUSTER_SCHEME,
    ClusterLanes,
    Lanes,
    cluster_nodes,
    make_lanes,
    map_redis_errors,
)

__all__ = ["CLUSTER_SCHEME", "RedisEphemeralStore", "cluster_nodes", "map_redis_errors"]


# The CLIENT SETNAME of the event relay's connections.
RELAY_CLIENT_NAME = "mfa-events-relay"


class _Script:
    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # what EVALSHA names it by


def _script(name: str) -> _Script:
    return _Script(resources.files("mfa.storage").joinpath("lua", name).read_text(encoding="utf-8"))


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
    meta = json.loads(fields["meta"])
    enrollment = fields.get("enrollment")
    return Transaction(
        txid=txid,
        tenant_id=tenant_id,
        user_id=meta["user_id"],
        kind=meta["kind"],
        expires_at=meta["expires_at"],
        state=cast(TxState, fields["state"]),
        enrollment=None if enrollment is None else json.loads(enrollment),
        token=fields.get("token"),
        data={k[2:]: json.loads(v) for k, v in fields.items() if k.startswith("d:")},
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
        self.timeout = timeout
        # An event entry read this long ago and not acknowledged: its relay died.
        self.event_claim_idle_ms = max(1, int(event_claim_idle_seconds * 1000))
        self._lanes = make_lanes(url, timeout, max_connections, None)
        # The event relay's own connections (mfa.events.relay), named so: its reads
        # of whole streams never hold a lane a request waits for, and it is told
        # apart from the request path in CLIENT LIST (and by the round-trip counts).
        self._relay_lanes = make_lanes(url, timeout, 2, RELAY_CLIENT_NAME)
        self._create = _script("create_transaction.lua")
        self._update = _script("update_transaction.lua")
        self._attempt = _script("record_attempt.lua")
        self._consume = _script("consume_quota.lua")
        self._refund = _script("refund_quota.lua")
        self._ack_events = _script("ack_events.lua")

    async def _run(self, what: str, *args: str | int) -> Any:
        """One command, one round trip, under one deadline (connection wait included)."""
        async with map_redis_errors(self.timeout, what):
            return await self._lanes.execute(*args)

    async def _eval(
        self,
        what: str,
        script: _Script,
        keys: list[str],
        args: Sequence[str | int],
        lanes: Lanes | ClusterLanes | None = None,
    ) -> Any:
        on = self._lanes if lanes is None else lanes
        async with map_redis_errors(self.timeout, what):
            try:
                return await on.execute("EVALSHA", script.sha, len(keys), *keys, *args)
            except redis_exc.NoScriptError:
                # A new or restarted server (or node): EVAL sends the source, runs it and
                # caches it there, in one round trip; never run twice (it did not run
                # the first time). On a cluster it goes to the node of the keys' slot.
                return await on.execute("EVAL", script.source, len(keys), *keys, *args)

    async def _relay_run(self, what: str, *args: str | int) -> Any:
        async with map_redis_errors(self.timeout, what):
            return await self._relay_lanes.execute(*args)

    def _guard(self, what: str) -> contextlib.AbstractAsyncContextManager[None]:
        return map_redis_errors(self.timeout, what)

    def _key(self, tenant_id: str, *parts: str) -> str:
        return ":".join((self.prefix, "{" + tenant_id + "}", *parts))

    async def open(self) -> None:
        return None  # connections are made on first use

    async def close(self) -> None:
        await self._lanes.close()
        await self._relay_lanes.close()

    async def ping(self) -> None:
        await self._run("ping", "PING")

    # ------------------------------------------------------------------ transactions

    async def create_transaction(self, tx: Transaction) -> None:
        key = self._key(tx.tenant_id, "tx", tx.txid)
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
        raw = await self._run("get_transaction", "HGETALL", self._key(tenant_id, "tx", txid))
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
            "update_transaction", self._update, [self._key(tenant_id, "tx", txid)], args
        )
        return bool(done)

    async def delete_transaction(self, tenant_id: str, txid: str) -> None:
        await self._run("delete_transaction", "DEL", self._key(tenant_id, "tx", txid))

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
        tx_key = self._key(tenant_id, "tx", txid)
        keys = [
            tx_key,
            self._key(tenant_id, "fail", user_id),
            self._key(tenant_id, "lock", user_id),
            tx_key if replay_key is None else self._key(tenant_id, "replay", replay_key),
            self._key(tenant_id, "events"),
        ]
        event_args = _event_args(event)
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

    def _ticket_key(self, ticket_id: str) -> str:
        shard = ticket_shard(ticket_id)
        if shard is None:
            return f"{self.prefix}:ticket:{ticket_id}"
        return self._key(shard, "ticket", ticket_id)

    async def put_ticket(self, ticket_id: str, value: dict[str, Any], ttl_seconds: int) -> None:
        key = self._ticket_key(ticket_id)
        await self._run("put_ticket", "SET", key, json.dumps(value), "EX", ttl_seconds)

    async def take_ticket(self, ticket_id: str) -> dict[str, Any] | None:
        raw = await self._run("take_ticket", "GETDEL", self._ticket_key(ticket_id))
        return None if raw is None else _loads(cast(str, raw))

    async def peek_ticket(self, ticket_id: str) -> dict[str, Any] | None:
        raw = await self._run("peek_ticket", "GET", self._ticket_key(ticket_id))
        return None if raw is None else _loads(cast(str, raw))

    # ------------------------------------------------------------------ quotas

    def _quota_keys(self, tenant_id: str, user_id: str, channel: Channel) -> list[str]:
        return [
            self._key(tenant_id, "quota", channel, "user", user_id),
            self._key(tenant_id, "quota", channel, "tenant"),
        ]

    async def consume_quota(
        self, tenant_id: str, user_id: str, channel: Channel, per_user: Quota, per_tenant: Quota
    ) -> QuotaDecision:
        args = [
            per_user.limit,
            per_user.window_seconds,
            per_tenant.limit,
            per_tenant.window_seconds,
        ]
        keys = self._quota_keys(tenant_id, user_id, channel)
        granted, refused, retry_after = await self._eval("consume_quota", self._consume, keys, args)
        if granted:
            return QuotaDecision(True)
        return QuotaDecision(False, "user" if refused == "user" else "tenant", int(retry_after))

    async def refund_quota(self, tenant_id: str, user_id: str, channel: Channel) -> None:
        keys = self._quota_keys(tenant_id, user_id, channel)
        await self._eval("refund_quota", self._refund, keys, [])

    # ------------------------------------------------------------------ leases

    async def acquire_lease(self, tenant_id: str, name: str, ttl_seconds: float) -> bool:
        key = self._key(tenant_id, "lease", name)
        ms = max(1, int(ttl_seconds * 1000))
        return bool(await self._run("acquire_lease", "SET", key, "1", "NX", "PX", ms))

    async def release_lease(self, tenant_id: str, name: str) -> None:
        await self._run("release_lease", "DEL", self._key(tenant_id, "lease", name))

    async def delete_tenant_data(self, tenant_id: str) -> None:
        # SCAN, not KEYS: never block a server. A tenant's keys share one slot, so
        # they are unlinked in batches of one command each; each round trip has its
        # own deadline, since a big tenant takes many. Glob characters are escaped.
        pattern = _glob_escape(self._key(tenant_id, "")) + "*"
        async with self._guard("delete_tenant_data"):
            keys = await self._lanes.scan(pattern)
        for start in range(0, len(keys), 500):
            await self._run("delete_tenant_data", "UNLINK", *keys[start : start + 500])

    # ------------------------------------------------------------------ events
    # P:{T}:events is a Redis Stream per tenant (one slot with the tenant's other
    # keys, so record_attempt can append to it). The consumer group "mover" is the
    # set of relays (mfa.events.relay): each entry goes to one of them, stays
    # pending until acknowledged, and is claimed by another relay if its reader
    # died. Acknowledged entries are deleted: the stream holds only what is still
    # on its way to the durable store.

    async def append_event(self, tenant_id: str, fields: dict[str, str]) -> None:
        flat = [item for pair in fields.items() for item in pair]
        await self._run("append_event", "XADD", self._key(tenant_id, "events"), "*", *flat)

    async def read_events(
        self, tenant_id: str, consumer: str, count: int
    ) -> list[tuple[str, dict[str, str]]]:
        key = self._key(tenant_id, "events")
        try:
            return await self._read_events(key, consumer, count)
        except BackendUnavailable:
            raise
        except redis_exc.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
        # First read of this stream: the group starts at the stream's beginning, so
        # entries appended before it existed are moved too.
        with contextlib.suppress(redis_exc.ResponseError):  # BUSYGROUP: a racing relay
            await self._relay_run("read_events", "XGROUP", "CREATE", key, _GROUP, "0", "MKSTREAM")
        return await self._read_events(key, consumer, count)

    async def _read_events(
        self, key: str, consumer: str, count: int
    ) -> list[tuple[str, dict[str, str]]]:
        # Entries a dead relay read and never acknowledged, then new ones.
        claimed = await self._relay_run(
            "read_events",
            "XAUTOCLAIM",
            key,
            _GROUP,
            consumer,
            self.event_claim_idle_ms,
            "0-0",
            "COUNT",
            count,
        )
        entries = _entries(claimed[1])
        if len(entries) < count:
            fresh = await self._relay_run(
                "read_events",
                "XREADGROUP",
                "GROUP",
                _GROUP,
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

    async def ack_events(self, tenant_id: str, entry_ids: list[str]) -> None:
        if not entry_ids:
            return
        key = self._key(tenant_id, "events")
        await self._eval(
            "ack_events", self._ack_events, [key], [_GROUP, *entry_ids], self._relay_lanes
        )

    async def lockout_remaining(self, tenant_id: str, user_id: str) -> float | None:
        millis = await self._run("lockout_remaining", "PTTL", self._key(tenant_id, "lock", user_id))
        # Negative: no key (or one without expiry, which record_attempt never writes).
        return None if int(millis) < 0 else int(millis) / 1000


_GROUP = "mover"


def _event_args(event: AttemptEvent | None) -> list[str]:
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


def ticket_shard(ticket_id: str) -> str | None:
    """The tenant a ticket id names after its last dot (see Context.new_id), whose
    slot keeps the ticket; None for an id without one (kept in a global key)."""
    _, dot, tenant = ticket_id.rpartition(".")
    return tenant if dot and tenant else None


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _loads(raw: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(raw)
    return value
