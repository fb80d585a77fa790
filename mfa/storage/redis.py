"""The ephemeral store on Redis (redis-py asyncio), one Lua script per atomic decision.

Key layout (``P`` is the prefix, ``T`` the tenant id)::

    P:{T}:tx:<txid>                    transaction hash (TTL: its expiry)
    P:{T}:fail:<user>                  wrong codes in the current window
    P:{T}:lock:<user>                  lockout flag
    P:{T}:replay:<replay key>          last accepted TOTP step
    P:{T}:quota:<channel>:user:<user>  fixed-window send counters
    P:{T}:quota:<channel>:tenant
    P:{T}:ticket:<id>                  one-time tickets whose id names T after a dot
    P:ticket:<id>                      other one-time tickets (global)

The tenant id sits in a hash tag, so on Redis Cluster all keys of one tenant live
in one slot and a script may touch the user's and the tenant's keys together.

A transaction is a hash: ``meta`` (JSON of the immutable parts), ``state``,
``enrollment`` (JSON), ``token``, ``attempts``, and one ``d:<key>`` field per
entry of ``data`` (JSON), so that scripts merge ``data`` with a plain HSET and
never decode JSON themselves (Lua's cjson mangles empty arrays and big numbers).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
from collections.abc import Callable, Sequence
from importlib import resources
from types import TracebackType
from typing import Any, cast
from urllib.parse import unquote

import hiredis
import redis.asyncio as aioredis
import redis.exceptions as redis_exc
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.maint_notifications import MaintNotificationsConfig

from mfa.names import Channel, Quota
from mfa.storage._shared import check_attempt_args, replay_mark_seconds
from mfa.storage.base import (
    AttemptLimits,
    AttemptOutcome,
    BackendUnavailable,
    QuotaDecision,
    Transaction,
    TxState,
)

__all__ = ["CLUSTER_SCHEME", "RedisEphemeralStore", "map_redis_errors"]

# MFA_REDIS_URL=redis+cluster://host:port[,host:port…] selects Redis Cluster.
CLUSTER_SCHEME = "redis+cluster://"

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    redis_exc.ConnectionError,  # BusyLoadingError is one
    redis_exc.TimeoutError,
    redis_exc.ReadOnlyError,  # a replica during failover
    OSError,
    TimeoutError,
)


class map_redis_errors:
    """Bound the block by ``seconds``; connection failures become BackendUnavailable.

    A class rather than ``@asynccontextmanager``: it wraps every Redis call, twice per
    verify-otp, and the generator machinery cost more than the rest of it.
    """

    __slots__ = ("_deadline", "_what")

    def __init__(self, seconds: float, what: str) -> None:
        self._deadline = asyncio.timeout(seconds)
        self._what = what

    async def __aenter__(self) -> None:
        await self._deadline.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            # Turns the cancellation of an expired deadline into TimeoutError.
            await self._deadline.__aexit__(exc_type, exc, tb)
        except _UNAVAILABLE as late:
            raise BackendUnavailable(f"redis unavailable during {self._what}: {late!r}") from late
        if isinstance(exc, _UNAVAILABLE):
            raise BackendUnavailable(f"redis unavailable during {self._what}: {exc!r}") from exc


class _Lanes:
    """Connections for single commands, used directly: send, read, give back.

    redis-py's client wraps each command in layers that cost more CPU than the
    command itself on the verify-otp path: the blocking pool's condition, lock and
    ``asyncio.timeout``, a deprecation shim that inspects the arguments, the retry
    wrapper, metrics hooks and the release event. Here a command takes an idle
    connection (or makes one, at most ``limit`` in all), runs under the caller's one
    deadline and goes back. A connection that failed or was cancelled mid-command
    is disconnected by redis-py itself (it never holds half an answer) and
    reconnects on its next use; one that the server closed while idle is noticed
    before use, like the pool does, so a Redis restart costs no failed call.
    """

    __slots__ = ("_free", "_idle", "_make")

    def __init__(self, make: Callable[[], AbstractConnection], limit: int) -> None:
        self._make = make
        self._idle: list[AbstractConnection] = []
        self._free = asyncio.Semaphore(limit)

    async def execute(self, *args: str | int) -> Any:
        async with self._free:
            conn = self._idle.pop() if self._idle else self._make()
            try:
                if conn.is_connected:
                    # Pending data or EOF on an idle connection: the server closed
                    # it. A flag check, no I/O.
                    try:
                        stale = await conn.can_read()
                    except redis_exc.ConnectionError:
                        stale = True  # can_read has disconnected it already
                    if stale:
                        await conn.disconnect()
                # hiredis packs in C, redis-py's pack_command in Python at eight
                # times the cost; the bytes are the same (str as UTF-8, int as digits).
                # (hiredis's stub types the argument as a 1-tuple; any length works.)
                packed = hiredis.pack_command(args)  # type: ignore[arg-type]
                await conn.send_packed_command(packed, check_health=False)  # connects if needed
                return await conn.read_response()
            finally:
                self._idle.append(conn)

    async def scan(self, pattern: str) -> list[str]:
        found: list[str] = []
        cursor = "0"
        while True:
            cursor, keys = await self.execute("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            found += keys
            if cursor == "0":
                return found

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.disconnect()


class _ClusterLanes:
    """Redis Cluster: redis-py's cluster client sends each command to the node that
    owns its keys' slot, and follows MOVED/ASK and topology changes by itself.

    Every key of a tenant carries the tenant in a hash tag, so each script touches
    one slot. Commands are not retried on a connection error (a script that ran
    but whose answer was lost must not run twice); a node that is down makes its
    tenants' calls fail within the deadline, and only theirs.
    """

    __slots__ = ("_client", "_free", "_seeds")

    def __init__(self, url: str, *, timeout: float, limit: int) -> None:
        nodes, username, password = cluster_nodes(url)
        self._seeds = [ClusterNode(host, port) for host, port in nodes]
        self._client = RedisCluster(
            startup_nodes=self._seeds,
            username=username,
            password=password,
            decode_responses=True,
            socket_timeout=None,  # the call's deadline bounds every read
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            # Slots of the nodes that answer keep serving while one node is down.
            require_full_coverage=False,
            max_connections=limit,
        )
        # The cluster client refuses a command at once when a node's connections are
        # all busy; under a burst, calls wait here for a turn instead (within their
        # deadline), as on one server.
        self._free = asyncio.Semaphore(limit)

    async def execute(self, *args: str | int) -> Any:
        async with self._free:
            return await self._client.execute_command(*args)

    async def scan(self, pattern: str) -> list[str]:
        return [key async for key in self._client.scan_iter(match=pattern, count=1000)]

    async def close(self) -> None:
        await self._client.aclose()
        # The client replaces the seeds with the nodes it discovers; close them too.
        for seed in self._seeds:
            await seed.disconnect()


def cluster_nodes(url: str) -> tuple[list[tuple[str, int]], str | None, str | None]:
    """``redis+cluster://[user:password@]host:port[,host:port…][/]`` → its seed nodes."""
    rest = url.removeprefix("redis+cluster://").rstrip("/")
    username = password = None
    if "@" in rest:
        auth, rest = rest.rsplit("@", 1)
        user, _, secret = auth.partition(":")
        username, password = unquote(user) or None, unquote(secret) or None
    nodes: list[tuple[str, int]] = []
    for item in rest.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"not a cluster node (host:port): {item!r}")
        nodes.append((host.strip("[]"), int(port)))
    return nodes, username, password


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
    """:class:`~mfa.storage.base.EphemeralStore` on Redis.

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
        self, url: str, *, prefix: str = "mfa", timeout: float = 2.0, max_connections: int = 50
    ) -> None:
        self.prefix = prefix
        self.timeout = timeout
        self._lanes: _Lanes | _ClusterLanes
        if url.startswith(CLUSTER_SCHEME):
            self._lanes = _ClusterLanes(url, timeout=timeout, limit=max_connections)
        else:
            pool = aioredis.ConnectionPool.from_url(
                url,
                decode_responses=True,
                # No socket_timeout (redis-py 8 defaults to 5 s): every call already
                # runs under map_redis_errors' deadline, and redis-py would add an
                # asyncio.wait_for task to each send and an asyncio.timeout to each read.
                socket_timeout=None,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
                # No periodic PING before a command (a round trip, and a check on every
                # command): a connection the server closed is noticed without it, before
                # use, and a dead one fails within the deadline anyway.
                health_check_interval=0,
                # With maintenance notifications on (a Redis Enterprise feature, "auto"
                # by default), a connection the server closed is not checked, and the
                # first call after a Redis restart would fail.
                maint_notifications_config=MaintNotificationsConfig(enabled=False),
            )
            # Only a factory: each call is one command on a lane, with these settings.
            self._lanes = _Lanes(pool.make_connection, max_connections)
        self._create = _script("create_transaction.lua")
        self._update = _script("update_transaction.lua")
        self._attempt = _script("record_attempt.lua")
        self._consume = _script("consume_quota.lua")
        self._refund = _script("refund_quota.lua")

    async def _run(self, what: str, *args: str | int) -> Any:
        """One command, one round trip, under one deadline (connection wait included)."""
        async with map_redis_errors(self.timeout, what):
            return await self._lanes.execute(*args)

    async def _eval(
        self, what: str, script: _Script, keys: list[str], args: Sequence[str | int]
    ) -> Any:
        async with map_redis_errors(self.timeout, what):
            try:
                return await self._lanes.execute("EVALSHA", script.sha, len(keys), *keys, *args)
            except redis_exc.NoScriptError:
                # A new or restarted server (or node): EVAL sends the source, runs it and
                # caches it there, in one round trip; never run twice (it did not run
                # the first time). On a cluster it goes to the node of the keys' slot.
                return await self._lanes.execute("EVAL", script.source, len(keys), *keys, *args)

    def _guard(self, what: str) -> contextlib.AbstractAsyncContextManager[None]:
        return map_redis_errors(self.timeout, what)

    def _key(self, tenant_id: str, *parts: str) -> str:
        return ":".join((self.prefix, "{" + tenant_id + "}", *parts))

    async def open(self) -> None:
        return None  # connections are made on first use

    async def close(self) -> None:
        await self._lanes.close()

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
    ) -> AttemptOutcome:
        check_attempt_args(replay_key, replay_step, on_success)
        tx_key = self._key(tenant_id, "tx", txid)
        keys = [
            tx_key,
            self._key(tenant_id, "fail", user_id),
            self._key(tenant_id, "lock", user_id),
            tx_key if replay_key is None else self._key(tenant_id, "replay", replay_key),
        ]
        args = [
            "1" if ok else "0",
            str(limits.per_transaction),
            str(limits.per_user),
            str(limits.lockout_seconds),
            "0" if replay_key is None else "1",
            str(replay_step or 0),
            str(replay_mark_seconds(limits.lockout_seconds)),
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

    async def lockout_remaining(self, tenant_id: str, user_id: str) -> float | None:
        millis = await self._run("lockout_remaining", "PTTL", self._key(tenant_id, "lock", user_id))
        # Negative: no key (or one without expiry, which record_attempt never writes).
        return None if int(millis) < 0 else int(millis) / 1000


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
