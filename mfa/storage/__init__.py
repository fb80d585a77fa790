"""Storage: the durable and ephemeral store Protocols and their implementations."""

from __future__ import annotations

import time
from collections.abc import Callable

from mfa.names import DEFAULT_FACTORS, DEFAULT_FEATURES, DEFAULT_QUOTAS, Quota
from mfa.settings import Settings
from mfa.storage.base import (
    ApiKey,
    AttemptLimits,
    AttemptOutcome,
    BackendUnavailable,
    Conflict,
    DurableStore,
    Enrollment,
    EphemeralStore,
    QuotaDecision,
    SchemaOutdated,
    Tenant,
    Transaction,
)
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


def durable_store_from_settings(settings: Settings) -> DurableStore:
    """The SQL store of ``settings.database_url``; it migrates on open if the settings say so."""
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
        return MemoryEphemeralStore(clock=clock)
    return RedisEphemeralStore(settings.redis_url, timeout=settings.backend_timeout_seconds)
