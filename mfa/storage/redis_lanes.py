"""Connections to Redis for the ephemeral store: one server or a cluster.

Each call of :class:`~mfa.storage.redis.RedisEphemeralStore` is one command sent
through a *lane* — :class:`Lanes` (one server: connections used directly, the
fastest path) or :class:`ClusterLanes` (Redis Cluster, through redis-py's cluster
client) — under one deadline, with failures translated once by
:class:`map_redis_errors`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Any
from urllib.parse import unquote

import hiredis
import redis.asyncio as aioredis
import redis.exceptions as redis_exc
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.maint_notifications import MaintNotificationsConfig

from mfa.storage._deadline import Watchdog, deadline
from mfa.storage.base import BackendUnavailable

__all__ = [
    "CLUSTER_SCHEME",
    "ClusterLanes",
    "Lanes",
    "cluster_nodes",
    "make_lanes",
    "map_redis_errors",
]

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
    """Bound the block by ``seconds`` (a :class:`~mfa.storage._deadline.deadline`
    on the lanes' watchdog); connection failures become BackendUnavailable.

    A class rather than ``@asynccontextmanager``: it wraps every Redis call, twice per
    verify-otp, and the generator machinery cost more than the rest of it.
    """

    __slots__ = ("_deadline", "_what")

    def __init__(self, lanes: Lanes | ClusterLanes, seconds: float, what: str) -> None:
        self._deadline = deadline(seconds, lanes.watchdog)
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


class Lanes:
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

    __slots__ = ("_free", "_idle", "_make", "watchdog")

    def __init__(self, make: Callable[[], AbstractConnection], limit: int) -> None:
        self._make = make
        self._idle: list[AbstractConnection] = []
        self._free = asyncio.Semaphore(limit)
        self.watchdog = Watchdog()  # the deadlines of calls on these connections

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


class ClusterLanes:
    """Redis Cluster: redis-py's cluster client sends each command to the node that
    owns its keys' slot, and follows MOVED/ASK and topology changes by itself.

    Every key of a tenant carries the tenant in a hash tag, so each script touches
    one slot. Commands are not retried on a connection error (a script that ran
    but whose answer was lost must not run twice); a node that is down makes its
    tenants' calls fail within the deadline, and only theirs.
    """

    __slots__ = ("_client", "_free", "_ready", "_seeds", "watchdog")

    def __init__(
        self, url: str, *, timeout: float, limit: int, client_name: str | None = None
    ) -> None:
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
            client_name=client_name,
        )
        # The cluster client refuses a command at once when a node's connections are
        # all busy; under a burst, calls wait here for a turn instead (within their
        # deadline), as on one server.
        self._free = asyncio.Semaphore(limit)
        self._ready = False
        self.watchdog = Watchdog()

    async def _initialize(self) -> None:
        """Learn the slots before the first command. redis-py's client asks a random
        node for its command table while it initializes; if that node is down, the
        whole first command fails even for a key on a live node. Initializing sends
        no command of ours, so it is safe to try again, a few times, here."""
        failure: BaseException | None = None
        for _ in range(3 * len(self._seeds) + 2):
            try:
                await self._client.initialize()
            except (redis_exc.ConnectionError, redis_exc.TimeoutError, OSError) as exc:
                failure = exc
                continue
            self._ready = True
            return
        assert failure is not None
        raise failure

    async def execute(self, *args: str | int) -> Any:
        async with self._free:
            if not self._ready:
                await self._initialize()
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


def make_lanes(
    url: str, timeout: float, limit: int, client_name: str | None = None
) -> Lanes | ClusterLanes:
    """Lanes for ``url``: a cluster for ``redis+cluster://``, else one server.
    ``client_name`` names the connections (CLIENT SETNAME), to tell uses apart."""
    if url.startswith(CLUSTER_SCHEME):
        return ClusterLanes(url, timeout=timeout, limit=limit, client_name=client_name)
    pool = aioredis.ConnectionPool.from_url(
        url,
        decode_responses=True,
        # No socket_timeout (redis-py 8 defaults to 5 s): every call already runs
        # under map_redis_errors' deadline, and redis-py would add an
        # asyncio.wait_for task to each send and an asyncio.timeout to each read.
        socket_timeout=None,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        # No periodic PING before a command (a round trip, and a check on every
        # command): a connection the server closed is noticed without it, before
        # use, and a dead one fails within the deadline anyway.
        health_check_interval=0,
        # With maintenance notifications on (a Redis Enterprise feature, "auto" by
        # default), a connection the server closed is not checked, and the first
        # call after a Redis restart would fail.
        maint_notifications_config=MaintNotificationsConfig(enabled=False),
        client_name=client_name,
    )
    # Only a factory: each call is one command on a lane, with these settings.
    return Lanes(pool.make_connection, limit)
