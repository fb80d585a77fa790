"""A network partition: PostgreSQL stops answering without closing anything.

A proxy that can *freeze* (keep every connection open, deliver nothing) stands
between the store and the shared server. The first call after the freeze must
fail within one deadline, not one per step (pool pre-ping, then the query).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from mfa.storage import BackendUnavailable, SqlDurableStore, Tenant, upgrade
from tests.storage.conftest import PG_HOST, PG_PORT, PgDatabases, pg_url

pytestmark = [pytest.mark.anyio, pytest.mark.postgres, pytest.mark.slow]

DEADLINE = 1.0


class FreezingProxy:
    """Forwards to PostgreSQL until frozen; then swallows every byte, both ways."""

    def __init__(self) -> None:
        self.frozen = False
        self._thawed = asyncio.Event()
        self._thawed.set()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def __aenter__(self) -> FreezingProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        await self._thawed.wait()  # a new connection during the partition: never answered
        try:
            up_reader, up_writer = await asyncio.open_connection(PG_HOST, PG_PORT)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))

    def freeze(self) -> None:
        self.frozen = True
        self._thawed.clear()

    def thaw(self) -> None:
        self.frozen = False
        self._thawed.set()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if not self.frozen:
                    writer.write(data)
                    await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()


async def timed(call: object) -> float:
    started = time.monotonic()
    with pytest.raises(BackendUnavailable):
        await call  # type: ignore[misc]
    return time.monotonic() - started


async def test_the_first_call_after_a_partition_takes_one_deadline(
    pg_databases: PgDatabases,
) -> None:
    database = await pg_databases.create()
    await upgrade(pg_url(database))
    async with FreezingProxy() as proxy:
        store = SqlDurableStore(pg_url(database, port=proxy.port), timeout=DEADLINE)
        try:
            await store.open()
            await store.create_tenant(Tenant("part-1", "Partition"))
            assert await store.get_tenant("part-1") is not None

            proxy.freeze()
            # A generous bound: one deadline plus slack, well under two.
            assert await timed(store.get_tenant("part-1")) < 1.5 * DEADLINE
            assert await timed(store.create_tenant(Tenant("part-2", "P"))) < 1.5 * DEADLINE
            assert await timed(store.ping()) < 1.5 * DEADLINE

            proxy.thaw()
            with contextlib.suppress(BackendUnavailable):
                await store.ping()  # stale connections may fail once while replaced
            assert await store.get_tenant("part-1") is not None
        finally:
            await store.close()
