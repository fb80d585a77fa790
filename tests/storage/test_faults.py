"""Backends that die, hang or never were: a clean, bounded error, then recovery.

Only servers started here are ever stopped: a throwaway ``redis-server`` on a free
port, and a TCP proxy in front of the shared PostgreSQL (cutting the proxy is how
PostgreSQL "goes away" without touching the real server).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from mfa.storage import (
    BackendUnavailable,
    Quota,
    RedisEphemeralStore,
    SqlDurableStore,
    Tenant,
    Transaction,
    upgrade,
)
from tests.storage.conftest import PG_HOST, PG_PORT, PgDatabases, pg_url

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

TIMEOUT = 1.0
BOUND = 5.0  # "never a hang": every failure must surface well within this


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def fails_fast(call: Callable[[], Awaitable[Any]]) -> BackendUnavailable:
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as caught:
        await call()
    assert time.monotonic() - started < BOUND
    return caught.value


# --------------------------------------------------------------------------- Redis


class RedisServer:
    """A throwaway redis-server of our own, stopped and started at will."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        self._proc = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                await writer.wait_closed()
                return
            await asyncio.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    async def kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            await self._proc.wait()
            self._proc = None


@pytest.fixture
async def own_redis() -> AsyncIterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(free_port())
    await server.start()
    try:
        yield server
    finally:
        await server.kill()


def a_tx(txid: str) -> Transaction:
    return Transaction(txid, "acme", "alice", "auth", expires_at=time.time() + 60)


async def test_redis_dies_and_comes_back(own_redis: RedisServer) -> None:
    store = RedisEphemeralStore(own_redis.url, prefix="mfafault", timeout=TIMEOUT)
    quota = Quota(100, 60)
    try:
        await store.create_transaction(a_tx("tx1"))
        assert (await store.consume_quota("acme", "alice", "sms", quota, quota)).granted

        # Restarted between two calls: the pool's stale connections are replaced
        # and the scripts, gone with the old server, are loaded again.
        await own_redis.kill()
        await own_redis.start()
        assert (await store.consume_quota("acme", "alice", "sms", quota, quota)).granted
        assert await store.get_transaction("acme", "tx1") is None  # nothing was saved

        # Down: every kind of call fails cleanly and quickly.
        await own_redis.kill()
        for call in (
            store.ping,
            lambda: store.get_transaction("acme", "tx1"),
            lambda: store.create_transaction(a_tx("tx2")),
            lambda: store.consume_quota("acme", "alice", "sms", quota, quota),
            lambda: store.take_ticket("tk"),
            lambda: store.delete_tenant_data("acme"),
        ):
            error = await fails_fast(call)
            assert "redis" in str(error)

        # Back: the very next call succeeds.
        await own_redis.start()
        await store.create_transaction(a_tx("tx3"))
        assert await store.get_transaction("acme", "tx3") is not None
        assert (await store.consume_quota("acme", "alice", "sms", quota, quota)).granted
    finally:
        await store.close()


class BlackHole:
    """A TCP server that accepts connections and never answers."""

    def __init__(self) -> None:
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> BlackHole:
        async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._writers.append(writer)

        self._server = await asyncio.start_server(swallow, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        await self._server.wait_closed()


async def test_redis_that_never_answers() -> None:
    async with BlackHole() as hole:
        store = RedisEphemeralStore(f"redis://127.0.0.1:{hole.port}/0", timeout=TIMEOUT)
        try:
            await fails_fast(store.ping)
            await fails_fast(lambda: store.get_transaction("acme", "tx"))
        finally:
            await store.close()


async def test_redis_never_there() -> None:
    store = RedisEphemeralStore(f"redis://127.0.0.1:{free_port()}/0", timeout=TIMEOUT)
    try:
        await fails_fast(store.ping)
    finally:
        await store.close()


# --------------------------------------------------------------------------- SQL


async def test_postgres_never_there() -> None:
    store = SqlDurableStore(pg_url("mfa", port=free_port()), timeout=TIMEOUT)
    error = await fails_fast(store.open)
    assert "database" in str(error)


async def test_postgres_that_never_answers() -> None:
    async with BlackHole() as hole:
        store = SqlDurableStore(pg_url("mfa", port=hole.port), timeout=TIMEOUT)
        await fails_fast(store.open)


async def test_sqlite_file_that_cannot_be_opened(tmp_path: Any) -> None:
    store = SqlDurableStore(f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    await fails_fast(store.open)
    # aiosqlite stops the failed connection's thread by a call that reports back to
    # this loop: let it finish while the loop runs (against a closed loop it raises
    # in the thread, and pytest fails whichever test comes next).
    for _ in range(200):
        if not any("_connection_worker_thread" in t.name for t in threading.enumerate()):
            break
        await asyncio.sleep(0.01)


class TcpProxy:
    """Forwards a local port to PostgreSQL; ``cut`` drops it and every connection."""

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(PG_HOST, self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()


@contextlib.contextmanager
def no_hang() -> Iterator[None]:
    started = time.monotonic()
    yield
    assert time.monotonic() - started < BOUND


@pytest.mark.postgres
async def test_postgres_goes_away_and_comes_back(pg_databases: PgDatabases) -> None:
    database = await pg_databases.create()
    await upgrade(pg_url(database))
    proxy = TcpProxy(PG_PORT)
    await proxy.start()
    store = SqlDurableStore(pg_url(database, port=proxy.port), timeout=TIMEOUT)
    try:
        await store.open()
        await store.create_tenant(Tenant("fault-1", "Fault"))

        # Cut and restored between two calls: pre-ping replaces the dead connection.
        await proxy.cut()
        await proxy.start()
        assert await store.get_tenant("fault-1") is not None

        await proxy.cut()
        await fails_fast(store.ping)
        await fails_fast(lambda: store.get_tenant("fault-1"))
        await fails_fast(lambda: store.create_tenant(Tenant("fault-2", "Fault")))

        await proxy.start()
        with no_hang():
            await store.create_tenant(Tenant("fault-2", "Fault"))
            assert [t.tenant_id for t in await store.list_tenants()] == ["fault-1", "fault-2"]
    finally:
        await store.close()
        with contextlib.suppress(Exception):
            await proxy.cut()
