"""``mfa serve`` and ``mfa db``: checks first, then uvicorn.

Before uvicorn starts, :func:`preflight` builds the service once and opens every
backend, so a misconfiguration ends here in a few lines with status 2 instead
of in a traceback inside uvicorn's lifespan.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
from typing import Any

from mfa.cli._checks import Refusal, open_checked, reason, sqlite_path
from mfa.settings import Settings
from mfa.settings_report import redact_url


async def preflight(settings: Settings) -> str | None:
    """Open and close every backend once; the development operator key if one was
    generated (so it can be printed)."""
    from mfa.service import MFAService

    service = MFAService(settings)
    try:
        await open_checked(service)
    finally:
        await service.close()
        await service.durable.close()
    return service.keys.admin_key if not settings.admin_key else None


def serve(args: argparse.Namespace, settings: Settings) -> None:
    workers = args.workers if args.workers is not None else settings.workers
    if workers > 1 and (settings.redis_url is None or settings.database_url.startswith("sqlite")):
        raise Refusal(
            "--workers above 1 needs MFA_REDIS_URL and a PostgreSQL MFA_DATABASE_URL: the "
            "embedded stores belong to one process."
        )
    dev_key = asyncio.run(preflight(settings))
    say = _stderr
    if settings.embedded:
        say(
            "mfa: running on embedded defaults (SQLite file, in-process store, console "
            "transports, development keys). Single process only — not for production."
        )
    path = sqlite_path(settings)
    say(f"mfa: database {path if path else redact_url(settings.database_url)}")
    if dev_key:
        say(f"mfa: development operator API key: {dev_key}")
    say(f"mfa: API docs at http://{args.host}:{args.port}/api/docs")

    import uvicorn

    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_level": args.log_level,
        # uvloop and httptools come with uvicorn[standard]; plain asyncio otherwise.
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "http": "httptools" if importlib.util.find_spec("httptools") else "h11",
        "server_header": False,  # no software banner for scanners
        # One log line per request costs a third of a verify's CPU; off unless asked.
        "access_log": args.access_log,
        "proxy_headers": True,
    }
    if settings.log_format == "json":
        from mfa.logs import uvicorn_log_config

        options["log_config"] = uvicorn_log_config(args.log_level)
    if workers > 1:
        # Each worker builds its app from the same MFA_* variables.
        uvicorn.run("mfa.app:serving_app", factory=True, workers=workers, **options)
    else:
        from mfa.app import create_app

        uvicorn.run(create_app(settings, freeze_gc=True), **options)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def db(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from mfa.storage.sql import current_revision, head_revision, upgrade

    try:
        if args.action == "db.upgrade":
            await upgrade(settings.database_url)
        rev = await current_revision(settings.database_url)
    except Exception as exc:  # the driver's refusal, in one line
        raise Refusal(
            f"database {redact_url(settings.database_url)} is not usable: {reason(exc)}"
        ) from None
    return {"revision": rev, "head": head_revision(), "up_to_date": rev == head_revision()}
