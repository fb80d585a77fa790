"""Storage: the durable and ephemeral store Protocols and their implementations.

The implementations are imported on first use (PEP 562), so importing
:mod:`mfa.storage.base`, :mod:`mfa.storage.protocols` or this package loads neither
SQLAlchemy nor redis, and a deployment without the ``redis`` or ``postgres`` extra
still runs on the embedded defaults (SQLite and the in-process store).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mfa.names import DEFAULT_FACTORS, DEFAULT_FEATURES, DEFAULT_QUOTAS, Quota
from mfa.settings import Settings, SettingsError
from mfa.storage.base import (
    ApiKey,
    AttemptLimits,
    AttemptOutcome,
    BackendUnavailable,
    Conflict,
    Enrollment,
    QuotaDecision,
    SchemaOutdated,
    Tenant,
    Transaction,
)
from mfa.storage.protocols import DurableStore, EphemeralStore

if TYPE_CHECKING:
    from mfa.storage.memory import MemoryEphemeralStore
    from mfa.storage.redis import RedisEphemeralStore
    from mfa.storage.sql import SqlDurableStore, current_revision, head_revision, upgrade

__all__ = [
    "DEFAULT_FACTORS",
    "DEFAULT_FEATURES",
    "DEFAULT_QUOTAS",
    "ApiKey",
    "AttemptLimits",
    "AttemptOutcome",
    "BackendUnavailable",
    "Conflict",
    "DurableStore",
    "Enrollment",
    "EphemeralStore",
    "MemoryEphemeralStore",
    "Quota",
    "QuotaDecision",
    "RedisEphemeralStore",
    "SchemaOutdated",
    "SqlDurableStore",
    "Tenant",
    "Transaction",
    "current_revision",
    "durable_store_from_settings",
    "ephemeral_store_from_settings",
    "head_revision",
    "upgrade",
]

_LAZY = {
    "MemoryEphemeralStore": "mfa.storage.memory",
    "RedisEphemeralStore": "mfa.storage.redis",
    "SqlDurableStore": "mfa.storage.sql",
    "current_revision": "mfa.storage.sql",
    "head_revision": "mfa.storage.sql",
    "upgrade": "mfa.storage.sql",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mfa.storage' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def _require(driver: str, setting: str, extra: str) -> None:
    """Import ``driver`` now, so a missing extra is a start-up error naming it,
    not a ModuleNotFoundError from deep inside the first request."""
    try:
        importlib.import_module(driver)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] != driver:
            raise  # the driver is there but something it needs is broken: show that
        raise SettingsError(
            f"{setting} needs the {extra} extra: pip install 'mfa[{extra}]'"
        ) from exc


def durable_store_from_settings(settings: Settings) -> DurableStore:
    """The SQL store of ``settings.database_url``; it migrates on open if the settings say so."""
    if settings.database_url.partition("://")[0] in ("postgresql", "postgresql+asyncpg"):
        _require("asyncpg", "MFA_DATABASE_URL", "postgres")
    from mfa.storage.sql import SqlDurableStore

    return SqlDurableStore(
        settings.database_url,
        migrate=settings.migrate_on_start,
        timeout=settings.backend_timeout_seconds,
    )


def ephemeral_store_from_settings(
    settings: Settings, clock: Callable[[], float] = time.time
) -> EphemeralStore:
    """Redis when ``settings.redis_url`` is set, else the in-process store on ``clock``.

    ``clock`` only drives the in-process store: Redis keeps time by itself.
    """
    if settings.redis_url is None:
        from mfa.storage.memory import MemoryEphemeralStore

        return MemoryEphemeralStore(clock=clock)
    _require("redis", "MFA_REDIS_URL", "redis")
    from mfa.storage.redis import RedisEphemeralStore

    return RedisEphemeralStore(settings.redis_url, timeout=settings.backend_timeout_seconds)
