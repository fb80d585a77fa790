"""Value types of settings that are more than their Python type.

A comma list, a database URL, a Redis URL and a set of factor names each arrive as
text (from an ``MFA_*`` variable) or as a value built in code; these types read and
check them where :class:`mfa.settings.Settings` declares its fields. A check that
fails raises ``ValueError`` with what to write instead: the settings report shows
that text as it is (:mod:`mfa.settings_report`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

from mfa.names import Factor

FACTORS: tuple[str, ...] = tuple(f.value for f in Factor)


def _comma_set(value: Any) -> Any:
    # Environment variables are text: "sms, push" is a set of two.
    if isinstance(value, str):
        return frozenset(p.strip() for p in value.split(",") if p.strip())
    return value


CommaSet = Annotated[frozenset[str], BeforeValidator(_comma_set)]


def _database_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or not rest:
        raise ValueError(
            "not a database URL; use sqlite+aiosqlite:///path/mfa.db or "
            "postgresql+asyncpg://user:password@host:5432/mfa"
        )
    # The driver is ours to choose: the one async driver per database we ship.
    scheme = {
        "sqlite": "sqlite+aiosqlite",
        "postgresql": "postgresql+asyncpg",
        "postgres": "postgresql+asyncpg",
    }.get(scheme, scheme)
    if scheme not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise ValueError(
            f"unsupported scheme {scheme!r}; use sqlite+aiosqlite:// or postgresql+asyncpg://"
        )
    return f"{scheme}://{rest}"


DatabaseUrl = Annotated[str, AfterValidator(_database_url)]


def _redis_url(url: str) -> str:
    if not url.startswith(("redis://", "rediss://", "unix://", "redis+cluster://")):
        raise ValueError(
            "not a Redis URL; use redis://host:6379/0, rediss://…, unix://… or "
            "redis+cluster://host:port,host:port for Redis Cluster"
        )
    return url


RedisUrl = Annotated[str, AfterValidator(_redis_url)]


def _factors(names: frozenset[str]) -> frozenset[str]:
    unknown = names - set(FACTORS)
    if unknown:
        raise ValueError(f"unknown factors {sorted(unknown)}; known: {', '.join(FACTORS)}")
    return names


FactorSet = Annotated[CommaSet, AfterValidator(_factors)]
