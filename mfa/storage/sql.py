"""The durable store on SQLAlchemy Core (async): SQLite embedded, PostgreSQL in production.

Every operation runs in one short transaction, bounded by ``timeout`` seconds, and
any sign that the database cannot be reached comes out as
:class:`~mfa.storage.base.BackendUnavailable` (translated in one place,
:func:`map_db_errors`). The pool checks connections before use, so the store
resumes by itself once the database is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from mfa.names import DEFAULT_FACTORS, DEFAULT_FEATURES, DEFAULT_QUOTAS, Quota
from mfa.storage._deadline import Deadlines
from mfa.storage.base import (
    ApiKey,
    BackendUnavailable,
    Conflict,
    Enrollment,
    HostedPages,
    InvalidValue,
    RecoveryHandover,
    SchemaOutdated,
    Tenant,
)
from mfa.storage.schema import (
    api_keys,
    enrollments,
    head_revision,
    is_known_revision,
    read_revision,
    run_upgrade,
    tenants,
)

__all__ = [
    "SqlDurableStore",
    "current_revision",
    "head_revision",
    "make_engine",
    "map_db_errors",
    "upgrade",
]

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


# --------------------------------------------------------------------------- rows


def _now() -> datetime:
    return datetime.now(UTC)


def _tenant(row: sa.Row[Any]) -> Tenant:
    # Defaults under the stored values: a factor or quota added in a later release
    # shows up with its default for tenants created before.
    stored = {k: Quota(int(v["limit"]), int(v["window_seconds"])) for k, v in row.quotas.items()}
    return Tenant(
        tenant_id=row.tenant_id,
        name=row.name,
        factors={**DEFAULT_FACTORS, **row.factors},
        features={**DEFAULT_FEATURES, **row.features},
        quotas={**DEFAULT_QUOTAS, **stored},
        sms_otp_length=row.sms_otp_length,
        created_at=row.created_at,
        hosted_pages=_hosted_pages(row.hosted_pages),
    )


def _hosted_pages(stored: Mapping[str, Any] | None) -> HostedPages:
    if not stored:
        return HostedPages()
    return HostedPages(
        allowed_return_urls=tuple(stored.get("allowed_return_urls", ())),
        logo_url=stored.get("logo_url"),
        primary_color=stored.get("primary_color"),
    )


def _hosted_pages_json(pages: HostedPages) -> dict[str, Any]:
    return {
        "allowed_return_urls": list(pages.allowed_return_urls),
        "logo_url": pages.logo_url,
        "primary_color": pages.primary_color,
    }


def _quotas_json(quotas: Mapping[str, Quota]) -> dict[str, dict[str, int]]:
    return {k: {"limit": q.limit, "window_seconds": q.window_seconds} for k, q in quotas.items()}


def _api_key(row: sa.Row[Any]) -> ApiKey:
    return ApiKey(
        key_id=row.key_id,
        tenant_id=row.tenant_id,
        name=row.name,
        scopes=frozenset(row.scopes),
        key_hash=bytes(row.key_hash),
        created_at=row.created_at,
    )


_ENROLLMENT_FIELDS = frozenset(f.name for f in dataclasses.fields(Enrollment))
_ENROLLMENT_MUTABLE = _ENROLLMENT_FIELDS - {"enrollment_id", "tenant_id", "created_at"}
_BYTES_FIELDS = ("totp_secret", "phone_number", "push_token", "device_token_hash")


def _enrollment(row: sa.Row[Any]) -> Enrollment:
    # Only the record's own fields: the row also holds the recovery handover columns.
    values = {k: v for k, v in row._mapping.items() if k in _ENROLLMENT_FIELDS}
    values["methods"] = tuple(values["methods"])
    for name in _BYTES_FIELDS:  # asyncpg may hand back memoryview-like buffers
        if values[name] is not None:
            values[name] = bytes(values[name])
    return Enrollment(**values)


def _enrollment_values(changes: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(changes)
    if "methods" in values:
        values["methods"] = list(values["methods"])
    return values


def _tenant_is(table: sa.Table, tenant_id: str | None) -> sa.ColumnElement[bool]:
    column = table.c.tenant_id
    return column.is_(None) if tenant_id is None else column == tenant_id


# --------------------------------------------------------------------------- store

S = TypeVar("S", bound="SqlDurableStore")
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


class SqlDurableStore:
    """:class:`~mfa.storage.base.DurableStore` on SQLAlchemy Core, SQLite or PostgreSQL.

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

    async def __aenter__(self) -> SqlDurableStore:
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
            raise RuntimeError("SqlDurableStore is not open; call open() first")
        async with map_db_errors(self.timeout, what), self._engine.connect() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def _write(self, what: str) -> AsyncIterator[AsyncConnection]:
        if self._writer is None:
            raise RuntimeError("SqlDurableStore is not open; call open() first")
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

    # ------------------------------------------------------------------ tenants

    @_bounded
    async def create_tenant(self, tenant: Tenant) -> Tenant:
        created = dataclasses.replace(tenant, created_at=tenant.created_at or _now())
        async with self._write("create_tenant") as conn:
            try:
                await conn.execute(
                    tenants.insert().values(
                        tenant_id=created.tenant_id,
                        name=created.name,
                        factors=dict(created.factors),
                        features=dict(created.features),
                        quotas=_quotas_json(created.quotas),
                        sms_otp_length=created.sms_otp_length,
                        created_at=created.created_at,
                        hosted_pages=_hosted_pages_json(created.hosted_pages),
                    )
                )
            except sa_exc.IntegrityError as exc:
                raise Conflict(f"tenant {tenant.tenant_id!r} already exists") from exc
        return created

    @_bounded
    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        async with self._read("get_tenant") as conn:
            query = sa.select(tenants).where(tenants.c.tenant_id == tenant_id)
            row = (await conn.execute(query)).first()
        return None if row is None else _tenant(row)

    @_bounded
    async def list_tenants(self) -> list[Tenant]:
        async with self._read("list_tenants") as conn:
            rows = await conn.execute(sa.select(tenants).order_by(tenants.c.tenant_id))
            return [_tenant(row) for row in rows]

    @_bounded
    async def update_tenant(
        self,
        tenant_id: str,
        *,
        factors: dict[str, bool] | None = None,
        features: dict[str, bool] | None = None,
        quotas: dict[str, Quota] | None = None,
        sms_otp_length: int | None = None,
        hosted_pages: HostedPages | None = None,
    ) -> Tenant | None:
        async with self._write("update_tenant") as conn:
            # Read-modify-write: the row lock (PostgreSQL) or BEGIN IMMEDIATE (SQLite)
            # keeps two concurrent merges from losing each other's changes.
            query = sa.select(tenants).where(tenants.c.tenant_id == tenant_id).with_for_update()
            row = (await conn.execute(query)).first()
            if row is None:
                return None
            current = _tenant(row)
            merged = dataclasses.replace(
                current,
                factors={**current.factors, **(factors or {})},
                features={**current.features, **(features or {})},
                quotas={**current.quotas, **(quotas or {})},
                sms_otp_length=current.sms_otp_length if sms_otp_length is None else sms_otp_length,
                hosted_pages=current.hosted_pages if hosted_pages is None else hosted_pages,
            )
            await conn.execute(
                tenants.update()
                .where(tenants.c.tenant_id == tenant_id)
                .values(
                    factors=merged.factors,
                    features=merged.features,
                    quotas=_quotas_json(merged.quotas),
                    sms_otp_length=merged.sms_otp_length,
                    hosted_pages=_hosted_pages_json(merged.hosted_pages),
                )
            )
        return merged

    @_bounded
    async def delete_tenant(self, tenant_id: str) -> bool:
        async with self._write("delete_tenant") as conn:
            # Explicit as well as ON DELETE CASCADE: a database whose foreign keys
            # are off (an SQLite file opened elsewhere) must not keep orphans.
            await conn.execute(enrollments.delete().where(enrollments.c.tenant_id == tenant_id))
            await conn.execute(api_keys.delete().where(api_keys.c.tenant_id == tenant_id))
            result = await conn.execute(tenants.delete().where(tenants.c.tenant_id == tenant_id))
        return result.rowcount > 0

    # ------------------------------------------------------------------ API keys

    @_bounded
    async def create_api_key(self, key: ApiKey) -> None:
        async with self._write("create_api_key") as conn:
            try:
                await conn.execute(
                    api_keys.insert().values(
                        key_id=key.key_id,
                        tenant_id=key.tenant_id,
                        name=key.name,
                        scopes=sorted(key.scopes),
                        key_hash=key.key_hash,
                        created_at=key.created_at or _now(),
                    )
                )
            except sa_exc.IntegrityError as exc:
                raise Conflict(
                    f"API key {key.key_id!r} exists, or tenant {key.tenant_id!r} does not"
                ) from exc

    @_bounded
    async def find_api_key(self, key_hash: bytes) -> ApiKey | None:
        async with self._read("find_api_key") as conn:
            query = sa.select(api_keys).where(api_keys.c.key_hash == key_hash)
            row = (await conn.execute(query)).first()
        return None if row is None else _api_key(row)

    @_bounded
    async def list_api_keys(self, tenant_id: str | None) -> list[ApiKey]:
        query = (
            sa.select(api_keys)
            .where(_tenant_is(api_keys, tenant_id))
            .order_by(api_keys.c.created_at, api_keys.c.key_id)
        )
        async with self._read("list_api_keys") as conn:
            return [_api_key(row) for row in await conn.execute(query)]

    @_bounded
    async def delete_api_key(self, tenant_id: str | None, key_id: str) -> bool:
        """Delete the key if it belongs to ``tenant_id`` (None: an operator-wide key)."""
        query = api_keys.delete().where(
            api_keys.c.key_id == key_id, _tenant_is(api_keys, tenant_id)
        )
        async with self._write("delete_api_key") as conn:
            result = await conn.execute(query)
        return result.rowcount > 0

    # ------------------------------------------------------------------ enrollments

    @_bounded
    async def create_enrollment(self, enrollment: Enrollment) -> None:
        now = _now()
        values = _enrollment_values(dataclasses.asdict(enrollment))
        values["created_at"] = enrollment.created_at or now
        values["updated_at"] = enrollment.updated_at or values["created_at"]
        async with self._write("create_enrollment") as conn:
            try:
                await conn.execute(enrollments.insert().values(**values))
            except sa_exc.IntegrityError as exc:
                raise Conflict(
                    f"user {enrollment.user_id!r} of tenant {enrollment.tenant_id!r} is "
                    "already enrolled (or the tenant does not exist)"
                ) from exc

    def _enrollment_query(self, tenant_id: str) -> sa.Select[Any]:
        return sa.select(enrollments).where(enrollments.c.tenant_id == tenant_id)

    @_bounded
    async def get_enrollment(self, tenant_id: str, enrollment_id: str) -> Enrollment | None:
        query = self._enrollment_query(tenant_id).where(
            enrollments.c.enrollment_id == enrollment_id
        )
        async with self._read("get_enrollment") as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _enrollment(row)

    @_bounded
    async def get_user_enrollment(self, tenant_id: str, user_id: str) -> Enrollment | None:
        query = self._enrollment_query(tenant_id).where(enrollments.c.user_id == user_id)
        async with self._read("get_user_enrollment") as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _enrollment(row)

    @_bounded
    async def update_enrollment(
        self, tenant_id: str, enrollment_id: str, changes: dict[str, Any]
    ) -> Enrollment | None:
        unknown = set(changes) - _ENROLLMENT_MUTABLE
        if unknown:
            raise ValueError(f"cannot change enrollment fields {sorted(unknown)}")
        values = _enrollment_values(changes)
        values.setdefault("updated_at", _now())
        where = (
            enrollments.c.tenant_id == tenant_id,
            enrollments.c.enrollment_id == enrollment_id,
        )
        async with self._write("update_enrollment") as conn:
            try:
                result = await conn.execute(enrollments.update().where(*where).values(**values))
            except sa_exc.IntegrityError as exc:
                raise Conflict(f"user {changes.get('user_id')!r} is already enrolled") from exc
            if result.rowcount == 0:
                return None
            row = (await conn.execute(sa.select(enrollments).where(*where))).one()
        return _enrollment(row)

    # ------------------------------------------------------------------ recovery handover

    def _recovery_where(self, tenant_id: str, enrollment_id: str) -> tuple[Any, ...]:
        return (
            enrollments.c.tenant_id == tenant_id,
            enrollments.c.enrollment_id == enrollment_id,
        )

    @_bounded
    async def rotate_recovery_code(
        self,
        tenant_id: str,
        enrollment_id: str,
        old_hash: str,
        new_hash: str,
        sealed_new_code: bytes,
        now: datetime,
    ) -> bool:
        query = (
            enrollments.update()
            .where(
                *self._recovery_where(tenant_id, enrollment_id),
                enrollments.c.recovery_code_hash == old_hash,
            )
            .values(
                recovery_code_hash=new_hash,
                recovery_prev_hash=old_hash,
                recovery_handover=sealed_new_code,
                recovery_handover_at=now,
                updated_at=_now(),
            )
        )
        async with self._write("rotate_recovery_code") as conn:
            result = await conn.execute(query)
        return result.rowcount == 1

    @_bounded
    async def get_recovery_handover(
        self, tenant_id: str, enrollment_id: str
    ) -> RecoveryHandover | None:
        query = sa.select(
            enrollments.c.recovery_prev_hash,
            enrollments.c.recovery_handover,
            enrollments.c.recovery_handover_at,
        ).where(*self._recovery_where(tenant_id, enrollment_id))
        async with self._read("get_recovery_handover") as conn:
            row = (await conn.execute(query)).first()
        if row is None or row.recovery_handover is None or row.recovery_prev_hash is None:
            return None
        return RecoveryHandover(
            row.recovery_prev_hash, bytes(row.recovery_handover), row.recovery_handover_at
        )

    @_bounded
    async def claim_recovery_handover(
        self, tenant_id: str, enrollment_id: str, since: datetime, now: datetime
    ) -> bool:
        query = (
            enrollments.update()
            .where(
                *self._recovery_where(tenant_id, enrollment_id),
                enrollments.c.recovery_handover_at == since,
                enrollments.c.recovery_handover.is_not(None),
            )
            .values(recovery_handover_at=now)
        )
        async with self._write("claim_recovery_handover") as conn:
            result = await conn.execute(query)
        return result.rowcount == 1

    @_bounded
    async def end_recovery_handover(self, tenant_id: str, enrollment_id: str) -> None:
        query = (
            enrollments.update()
            .where(*self._recovery_where(tenant_id, enrollment_id))
            .values(recovery_prev_hash=None, recovery_handover=None, recovery_handover_at=None)
        )
        async with self._write("end_recovery_handover") as conn:
            await conn.execute(query)

    @_bounded
    async def reset_recovery_code(self, tenant_id: str, enrollment_id: str, new_hash: str) -> bool:
        query = (
            enrollments.update()
            .where(*self._recovery_where(tenant_id, enrollment_id))
            .values(
                recovery_code_hash=new_hash,
                recovery_prev_hash=None,
                recovery_handover=None,
                recovery_handover_at=None,
                updated_at=_now(),
            )
        )
        async with self._write("reset_recovery_code") as conn:
            result = await conn.execute(query)
        return result.rowcount == 1

    @_bounded
    async def undo_recovery_rotation(
        self, tenant_id: str, enrollment_id: str, new_hash: str, old_hash: str
    ) -> bool:
        query = (
            enrollments.update()
            .where(
                *self._recovery_where(tenant_id, enrollment_id),
                enrollments.c.recovery_code_hash == new_hash,
            )
            .values(
                recovery_code_hash=old_hash,
                recovery_prev_hash=None,
                recovery_handover=None,
                recovery_handover_at=None,
                updated_at=_now(),
            )
        )
        async with self._write("undo_recovery_rotation") as conn:
            result = await conn.execute(query)
        return result.rowcount == 1

    @_bounded
    async def record_totp_steps(self, steps: list[tuple[str, str, int]]) -> None:
        if not steps:
            return
        query = (
            enrollments.update()
            .where(
                enrollments.c.tenant_id == sa.bindparam("t"),
                enrollments.c.enrollment_id == sa.bindparam("e"),
                sa.or_(
                    enrollments.c.totp_last_step.is_(None),
                    enrollments.c.totp_last_step < sa.bindparam("s"),
                ),
            )
            .values(totp_last_step=sa.bindparam("s"))
        )
        rows = [{"t": t, "e": e, "s": step} for t, e, step in steps]
        async with self._write("record_totp_steps") as conn:
            await conn.execute(query, rows)

    @_bounded
    async def swap_recovery_hash(
        self, tenant_id: str, enrollment_id: str, old_hash: str, new_hash: str
    ) -> bool:
        # One conditional UPDATE: the database decides which of two racing uses wins.
        query = (
            enrollments.update()
            .where(
                enrollments.c.tenant_id == tenant_id,
                enrollments.c.enrollment_id == enrollment_id,
                enrollments.c.recovery_code_hash == old_hash,
            )
            .values(recovery_code_hash=new_hash, updated_at=_now())
        )
        async with self._write("swap_recovery_hash") as conn:
            result = await conn.execute(query)
        return result.rowcount == 1

    @_bounded
    async def delete_enrollment(self, tenant_id: str, enrollment_id: str) -> bool:
        query = enrollments.delete().where(
            enrollments.c.tenant_id == tenant_id, enrollments.c.enrollment_id == enrollment_id
        )
        async with self._write("delete_enrollment") as conn:
            result = await conn.execute(query)
        return result.rowcount > 0
