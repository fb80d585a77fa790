"""Start-up checks: each backend reachable and migrated, said in one line.

Both ``mfa serve`` and the operator commands open the stores through
:func:`open_checked`, so an unreachable PostgreSQL, an unmigrated database or a
Redis that does not answer ends in one line naming the backend and what to do,
with exit status 2, instead of a traceback from the first request.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mfa.service import MFAService
    from mfa.settings import Settings


class Refusal(Exception):
    """The command cannot work as configured; the message says why and what to do."""


def reason(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    # The driver's own words (`database "x" does not exist`); its class name only
    # when it says nothing.
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__


async def open_checked(service: MFAService) -> None:
    """Open ``service``'s stores and ping each; raise :class:`Refusal` naming the one
    that failed. The caller closes the service."""
    from mfa.settings_report import redact_url
    from mfa.storage.base import SchemaOutdated

    settings = service.settings
    where = redact_url(settings.database_url)
    try:
        await service.durable.open()
        await service.durable.ping()
    except SchemaOutdated as exc:
        raise Refusal(f"database {where}: {exc}") from None
    except Exception as exc:  # any driver's refusal: one line, not its traceback
        raise Refusal(f"database {where} is not usable: {reason(exc)}") from None
    if settings.redis_url is not None:
        try:
            await service.ephemeral.open()
            await service.ephemeral.ping()
        except Exception as exc:
            raise Refusal(
                f"Redis {redact_url(settings.redis_url)} is not reachable: {reason(exc)}"
            ) from None
    await service.open()  # the rest of the lifecycle: already-open stores stay open


def sqlite_path(settings: Settings) -> Path | None:
    """The SQLite file of ``settings``, or None for PostgreSQL and in-memory SQLite."""
    if not settings.database_url.startswith("sqlite"):
        return None
    path = settings.database_url.partition(":///")[2].partition("?")[0]
    if path in ("", ":memory:"):
        return None
    return Path(path).resolve()


def require_existing_database(settings: Settings) -> None:
    """Operator commands never create a database: a relative SQLite path read from
    another folder would otherwise silently start a second, empty service."""
    path = sqlite_path(settings)
    if path is not None and not path.exists():
        raise Refusal(
            f"no database at {path}. The default MFA_DATABASE_URL is relative to the "
            "working directory: run this command in the folder where `mfa serve` runs, "
            "set MFA_DATABASE_URL to the service's database, or create it with "
            "`mfa db upgrade`."
        )


def require_shared_store(settings: Settings, what: str, route: str) -> None:
    """Tokens and tickets live in the ephemeral store. Without MFA_REDIS_URL that is
    this command's own memory, gone when it exits: the server would refuse them."""
    if settings.redis_url is None:
        raise Refusal(
            f"{what} needs MFA_REDIS_URL: on the embedded in-process store it would live "
            "only in this command's memory, and the running server would refuse it. Ask "
            "the running server instead (see the README's walkthrough): curl -X POST "
            f"http://127.0.0.1:8000/api/tenants/TENANT/{route} "
            "-H \"Authorization: Bearer $MFA_KEY\" -H 'Content-Type: application/json' "
            '-d \'{"user_id": "USER"}\''
        )
