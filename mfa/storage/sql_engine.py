"""The durable store's plumbing: engines, deadlines, error mapping, schema checks.

Every operation runs in one short transaction, bounded by ``timeout`` seconds, and
any sign that the database cannot be reached comes out as
:class:`~mfa.storage.base.BackendUnavailable` (translated in one place,
:func:`map_db_errors`). The pool checks connections before use, so the store
resumes by itself once the database is back. :class:`SqlConnections` is the
connection lifecycle the store's record modules build on (:mod:`mfa.storage.sql`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from mfa.storage._deadline import Deadlines
from mfa.storage.base import BackendUnavailable, InvalidValue, SchemaOutdated
from mfa.storage.schema import head_revision, is_known_revision, read_revision, run_upgrade

log = logging.getLogger("mfa.storage.sql")

# Execution option marking a transaction that writes (SQLite: BEGIN IMMEDIATE).
_WRITE = "mfa_write"

try:
    import asyncpg  # type: ignore[import-untyped]
except ImportError:  # no postgres extra: SQLite needs no asyncpg
    _ASYNCPG_UNAVAILABLE: tuple[type[BaseException], ...] = ()
else:
    _ASYNCPG_UNAVAILABLE = (
        asyncpg.PostgresConnectionError,
        asyncpg.InterfaceError,
        asyncpg.exceptions.OperatorInterventionError,
        asyncpg.exceptions.TooManyConnectionsError,
    )

# Errors that mean "the database is not there", whichever layer raises them: the
# SQLAlchemy wrappers, or the drivers' own errors when they escape unwrapped
# (asyncpg's connect raises OSError and its own classes directly).
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    sqlite3.OperationalError,
    *_ASYNCPG_UNAVAILABLE,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,  # pool checkout timed out
)


@contextlib.asynccontextmanager
async def map_db_errors(seconds: float | None, what: str) -> AsyncIterator[None]:
    """Bound the block by ``seconds`` and turn connection failures into BackendUnavailable,
    and values the database refuses as data into InvalidValue."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except sa_exc.DBAPIError as exc:
        if _is_data_error(exc):
            raise InvalidValue(f"the database refused a value during {what}: {exc.orig!r}") from exc
        if isinstance(exc, _UNAVAILABLE) or exc.connection_invalidated:
            raise BackendUnavailable(f"database unavailable during {what}: {exc.orig!r}") from exc
        raise
    except _UNAVAILABLE as exc:
        raise BackendUnavailable(f"database unavailable during {what}: {exc!r}") from exc
    except (asyncpg.DataError, UnicodeEncodeError) as exc:
        # The same, raised by the driver unwrapped (a lone surrogate fails to encode
        # before anything is sent).
        raise InvalidValue(f"the database refused a value during {what}: {exc!r}") from exc


def _is_data_error(exc: sa_exc.DBAPIError) -> bool:
    # SQLSTATE class 22, "data exception": CharacterNotInRepertoireError (a NUL),
    # UntranslatableCharacterError, StringDataRightTruncationError... SQLAlchemy's
    # asyncpg adapter wraps some of them as its generic Error, so the SQLSTATE
    # decides, not the wrapper's class.
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return isinstance(exc, sa_exc.DataError) or (
        isinstance(sqlstate, str) and sqlstate.startswith("22")
    )


# --------------------------------------------------------------------------- engine


def make_engine(url: str, *, timeout: float, bound_statements: bool = True) -> AsyncEngine:
    """An async engine whose every wait (connect, pool, statement) is bounded by ``timeout``.

    ``bound_statements=False`` leaves statements unbounded (PostgreSQL), for
    migrations, which may rightly take long on big tables.
    """
    sa_url = sa.make_url(url)
    # hide_parameters: bound values (key hashes, sealed secrets) stay out of error
    # messages, and so out of logs.
    kw: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}
    if sa_url.get_backend_name() == "sqlite":
        if sa_url.database not in (None, "", ":memory:"):
            kw["pool_timeout"] = timeout
        # sqlite's busy timeout: give up on a locked database before our own deadline.
        kw["connect_args"] = {"timeout": timeout / 2}
        # No pre-ping: a file has no server to drop an idle connection, and with
        # aiosqlite the ping is four hops to the driver's thread and back on every
        # checkout (a third of a write-behind batch's cost).
        kw["pool_pre_ping"] = False
        engine = create_async_engine(sa_url, **kw)
        sa.event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        sa.event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
        return engine
    kw["pool_timeout"] = timeout
    if sa_url.get_driver_name() == "asyncpg":
        kw["connect_args"] = {"timeout": timeout}
        if bound_statements:
            kw["connect_args"]["command_timeout"] = timeout
    return create_async_engine(sa_url, **kw)


SQLITE_CACHE_KIB = 16 * 1024


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite, per connection. And the driver's
    # own transaction handling is switched off: it begins lazily (not before a
    # SELECT), so a read-modify-write would not be isolated. _sqlite_on_begin
    # emits BEGIN instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL: readers never block the writer. The mode sticks to the file; switching
        # fails at once while another connection writes (workers opening a fresh
        # file together), and then a later connection switches it.
        with contextlib.suppress(sqlite3.OperationalError):
            cursor.execute("PRAGMA journal_mode=WAL")
        # A page cache of SQLITE_CACHE_KIB per connection instead of SQLite's 2 MiB:
        # the write-behind and the event mover touch enrollment rows and index
        # pages all over the file, and each page read past the cache is a system
        # call (about 4 % of a verify's CPU at 9,000 enrollments). Pages are taken
        # as they are read, so a small database costs no more.
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: sa.Connection) -> None:
    # Writers take the write lock up front: two read-modify-writes cannot interleave,
    # and no deadlock arises from upgrading a read lock.
    write = connection.get_execution_options().get(_WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


async def upgrade(url: str, *, connect_timeout: float = 30.0) -> None:
    """Migrate the database at ``url`` to the code's revision (``mfa db upgrade``)."""
    engine = make_engine(url, timeout=connect_timeout, bound_statements=False)
    writer = engine.execution_options(**{_WRITE: True})
    try:
        # No overall deadline: a migration takes as long as it takes.
        async with map_db_errors(None, "upgrade"), writer.begin() as conn:
            await conn.run_sync(run_upgrade)
    finally:
        await engine.dispose()


async def current_revision(url: str, *, connect_timeout: float = 30.0) -> str | None:
    """The database's schema revision; None for a database never migrated."""
    engine = make_engine(url, timeout=connect_timeout)
    try:
        return await _read_revision(engine, connect_timeout)
    finally:
        await engine.dispose()


async def _read_revision(engine: AsyncEngine, seconds: float) -> str | None:
    async with map_db_errors(seconds, "schema check"), engine.connect() as conn:
        return await conn.run_sync(read_revision)


def _now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- driver rows


def driver_sql(dialect: sa.Dialect, sql: str) -> str:
    """``sql`` written with ``?`` placeholders, in the driver's own style.

    For the write-behind batches (events, TOTP steps, last use), whose rows go to
    the driver's ``executemany`` as plain tuples: SQLAlchemy's per-row parameter
    processing cost three to four times the statement itself on SQLite (about
    11 µs a row against 3.4 for a primary-key UPDATE). The two dialects of
    :func:`make_engine`: SQLite takes ``?``, asyncpg ``$1, $2, …``.
    """
    if dialect.name == "sqlite":
        return sql
    parts = sql.split("?")
    return "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], 1)) + parts[-1]


def bind_datetime(column: sa.Column[Any], dialect: sa.Dialect) -> Callable[[datetime], Any]:
    """What ``column``'s type binds for a datetime in ``dialect`` (a UTC string on
    SQLite, the datetime itself on PostgreSQL), for driver rows."""
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    return processor if processor is not None else _same


def _same(value: datetime) -> datetime:
    return value


# --------------------------------------------------------------------------- connections

S = TypeVar("S", bound="SqlConnections")
P = ParamSpec("P")
R = TypeVar("R")


def _bounded(
    method: Callable[Concatenate[S, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
    """Bound the whole call, cleanup included, by the store's one deadline."""

    @functools.wraps(method)
    async def call(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await self._deadlines.run(
            method(self, *args, **kwargs), self.timeout, method.__name__
        )

    return call


class SqlConnections:
    """The connection lifecycle of :class:`~mfa.storage.sql.SqlDurableStore`.

    ``url`` is a SQLAlchemy async URL (``sqlite+aiosqlite:///mfa.db``,
    ``postgresql+asyncpg://user@host/db``). :meth:`open` refuses a database whose
    schema is behind the code (:class:`SchemaOutdated`) unless ``migrate`` is set,
    in which case it upgrades it. Every call is bounded by ``timeout`` seconds.
    """

    def __init__(self, url: str, *, migrate: bool = False, timeout: float = 2.0) -> None:
        self.url = url
        self.migrate = migrate
        self.timeout = timeout
        self._engine: AsyncEngine | None = None
        self._writer: AsyncEngine | None = None
        self._deadlines = Deadlines()
        # SQLite has one writer at a time: queue this process's writers here, where
        # waiting is cheap and fair, rather than in SQLite's busy loop.
        self._write_lock: contextlib.AbstractAsyncContextManager[Any] = (
            asyncio.Lock()
            if sa.make_url(url).get_backend_name() == "sqlite"
            else contextlib.nullcontext()
        )

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        if self._engine is not None:
            return
        engine = make_engine(self.url, timeout=self.timeout)
        try:
            await self._check_schema(engine)
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine
        self._writer = engine.execution_options(**{_WRITE: True})

    async def _check_schema(self, engine: AsyncEngine) -> None:
        current = await _read_revision(engine, self.timeout)
        head = head_revision()
        if current == head:
            return
        if current is not None and not is_known_revision(current):
            # Newer code migrated this database (a rolling deploy): migrations are
            # written to be backward compatible, so carry on, but say so.
            log.warning("database schema %s is newer than this code's %s", current, head)
            return
        if not self.migrate:
            at = current or "no revision (empty database)"
            raise SchemaOutdated(
                f"database schema is at {at}, code needs {head}: run `mfa db upgrade`"
            )
        log.info("upgrading database schema from %s to %s", current, head)
        await upgrade(self.url)  # its own engine: no per-statement deadline

    async def close(self) -> None:
        # Calls abandoned at their deadline may still be cleaning up their connection.
        await self._deadlines.drain(self.timeout + 3)
        engine, self._engine, self._writer = self._engine, None, None
        if engine is not None:
            await engine.dispose()

    @contextlib.asynccontextmanager
    async def _read(self, what: str) -> AsyncIterator[AsyncConnection]:
        if self._engine is None:
            raise RuntimeError("the durable store is not open; call open() first")
        async with map_db_errors(self.timeout, what), self._engine.connect() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def _write(self, what: str) -> AsyncIterator[AsyncConnection]:
        if self._writer is None:
            raise RuntimeError("the durable store is not open; call open() first")
        async with (
            map_db_errors(self.timeout, what),
            self._write_lock,
            self._writer.begin() as conn,
        ):
            yield conn

    @_bounded
    async def ping(self) -> None:
        async with self._read("ping") as conn:
            await conn.execute(sa.text("SELECT 1"))
