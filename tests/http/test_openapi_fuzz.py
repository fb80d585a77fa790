"""The OpenAPI document tells the truth: schemathesis fuzzes every operation against it.

The app runs in process (schemathesis' ASGI client, one event loop for the run)
over a throwaway PostgreSQL database (SQLite if the server cannot be reached) and
the in-process ephemeral store, with the operator API key, so the
backend routes get past authentication. For every generated request:

- no 5xx (``not_a_server_error``);
- the status is one the operation documents, and the body matches the documented
  schema, whose errorCode enum lists the codes of that status
  (``status_code_conformance``, ``response_schema_conformance``);
- every error body is a catalogue error with a consistent status (our check);
- a request the schema says is invalid is refused (``negative_data_rejection``).

Examples are bounded so the whole module stays well under a minute.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from mfa import CATALOGUE, MFAService, Settings, create_app
from mfa.storage.memory import MemoryEphemeralStore
from tests.conftest import ADMIN_KEY
from tests.storage.conftest import PG_ADMIN_DB, PG_HOST, PG_PORT, PG_USER, pg_url

pytestmark = pytest.mark.slow


def _pg_database() -> str | None:
    """A throwaway PostgreSQL database (PostgreSQL refuses what SQLite stores), or None."""

    async def create() -> str:
        admin = await asyncpg.connect(_ADMIN_DSN, timeout=3)
        try:
            name = f"mfa_test_{uuid.uuid4().hex[:12]}"
            await admin.execute(f'CREATE DATABASE "{name}"')
            return name
        finally:
            await admin.close()

    try:
        return asyncio.run(create())
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None


def _drop(name: str) -> None:
    async def drop() -> None:
        admin = await asyncpg.connect(_ADMIN_DSN, timeout=3)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    asyncio.run(drop())


_ADMIN_DSN = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_ADMIN_DB}"


def _fuzz_app() -> Any:
    # Built at import: schemathesis (4.x) parametrizes from a schema object, and its
    # from_fixture loader does not work with this pytest. The database is dropped at
    # exit, after schemathesis' own exit hook has closed the app (hooks run LIFO).
    tmp = Path(tempfile.mkdtemp(prefix="mfa-fuzz-"))
    database = _pg_database()
    if database:
        atexit.register(_drop, database)
    url = pg_url(database) if database else f"sqlite+aiosqlite:///{tmp / 'mfa.db'}"
    service = MFAService(
        Settings(
            database_url=url,
            dev_keys_path=str(tmp / "keys.json"),
            admin_key=ADMIN_KEY,
            sms_transport="outbox",
            push_transport="outbox",
            argon2_profile="cheapest",
            auto_migrate=True,
        ),
        ephemeral=MemoryEphemeralStore(),
    )
    return create_app(service=service)


schema = schemathesis.openapi.from_asgi("/api/openapi.json", _fuzz_app())


def catalogue_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx body is a catalogue error whose statusCode is the HTTP status."""
    if response.status_code < 400:
        return None
    body = json.loads(response.content)
    assert body["errorCode"] in CATALOGUE, body
    assert body["statusCode"] == response.status_code, body
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    catalogue_error,
]


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_keeps_its_contract(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN_KEY}"}, checks=CHECKS)
