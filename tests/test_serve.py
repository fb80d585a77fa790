"""``mfa serve`` as a real process: it runs on its embedded defaults, and every
misconfiguration ends with status 2 and a few lines naming the problem, never a
traceback."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

# The same servers as the storage tests (tests/storage/conftest.py).
PG_HOST = os.environ.get("MFA_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("MFA_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("MFA_TEST_PG_USER", "postgres")
PG_ADMIN_DB = os.environ.get("MFA_TEST_PG_ADMIN_DB", "test")
PG = f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFA_")}
    return {**env, **extra}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve_fails(tmp_path: Path, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mfa.cli", "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=clean_env(MFA_DEV_KEYS_PATH=str(tmp_path / "keys.json"), **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert 1 <= len(done.stderr.strip().splitlines()) <= 6, done.stderr
    return done.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"MFA_REDIS_URL": "notaurl"}, "MFA_REDIS_URL='notaurl': not a Redis URL"),
        ({"MFA_DATABASE_URL": "garbage"}, "MFA_DATABASE_URL='garbage': not a database URL"),
        ({"MFA_DATABASE_URL": "mysql://u:pw@h/db"}, "unsupported scheme 'mysql'"),
        ({"MFA_TOTP_VALID_WINDOW": "-5"}, "MFA_TOTP_VALID_WINDOW='-5': Input should be greater"),
        ({"MFA_SMS_TRANSPORT": "carrier-pigeon"}, "names no installed transport"),
        ({"MFA_PUSH_TRANSPORT": "nope"}, "MFA_PUSH_TRANSPORT='nope'"),
        ({"MFA_SMS_TRANSPORT": "twilio"}, "needs MFA_TWILIO_ACCOUNT_SID"),
        ({"MFA_SIGNING_KEYS": "[]", "MFA_ENCRYPTION_KEYS": "x"}, "MFA_SIGNING_KEYS"),
        # A driverless postgresql:// is read as asyncpg, then found unreachable.
        (
            {"MFA_DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/mfa"},
            "127.0.0.1:1/mfa is not usable",
        ),
        (
            {"MFA_REDIS_URL": "redis://127.0.0.1:1/0"},
            "Redis redis://127.0.0.1:1/0 is not reachable",
        ),
        # MFA_WORKERS is read like --workers, and refused on the embedded stores.
        ({"MFA_WORKERS": "2"}, "--workers above 1 needs MFA_REDIS_URL"),
        ({"MFA_WORKERS": "0"}, "MFA_WORKERS='0'"),
    ],
)
def test_misconfiguration_exits_2_in_a_few_lines(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    assert expected in serve_fails(tmp_path, **env)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    err = serve_fails(
        tmp_path, MFA_REDIS_URL="notaurl", MFA_TOTP_VALID_WINDOW="-5", MFA_MAX_BODY_BYTES="lots"
    )
    assert "3 problems" in err
    for name in ("MFA_REDIS_URL", "MFA_TOTP_VALID_WINDOW", "MFA_MAX_BODY_BYTES"):
        assert name in err


def test_passwords_stay_out_of_messages(tmp_path: Path) -> None:
    err = serve_fails(tmp_path, MFA_DATABASE_URL="postgresql://u:hunter2@127.0.0.1:1/mfa")
    assert "hunter2" not in err and "u:***@" in err


def test_unmigrated_sqlite_is_named(tmp_path: Path) -> None:
    (tmp_path / "empty.db").touch()
    err = serve_fails(
        tmp_path,
        MFA_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}",
        MFA_AUTO_MIGRATE="false",
    )
    assert "no revision (empty database)" in err and "mfa db upgrade" in err


@pytest.fixture
def empty_pg_database() -> Iterator[str]:
    asyncpg = pytest.importorskip("asyncpg")
    name = f"mfa_test_serve_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=PG_ADMIN_DB)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.postgres
def test_unmigrated_postgres_is_named(tmp_path: Path, empty_pg_database: str) -> None:
    err = serve_fails(tmp_path, MFA_DATABASE_URL=empty_pg_database)
    assert "schema is at no revision" in err and "mfa db upgrade" in err


@pytest.mark.postgres
def test_missing_postgres_database_is_named(tmp_path: Path) -> None:
    err = serve_fails(tmp_path, MFA_DATABASE_URL=f"{PG}/mfa_no_such_db_{uuid.uuid4().hex[:6]}")
    assert "is not usable: database" in err and "does not exist" in err


def test_misspelt_variables_are_named_with_a_suggestion(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mfa.cli", "settings", "--json"],
        cwd=tmp_path,
        env=clean_env(MFA_REDIS_URI="redis://x", MFA_TEST_ANYTHING="ignored"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert "MFA_REDIS_URI is not an mfa setting and is ignored; did you mean MFA_REDIS_URL?" in (
        done.stderr
    )
    assert "MFA_TEST_ANYTHING" not in done.stderr


@pytest.mark.slow
def test_serve_on_embedded_defaults(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mfa.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "mfa serve did not come up"
                time.sleep(0.1)
        assert r.json() == {"status": "ok"}
        assert "server" not in r.headers  # server_header=False
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
        assert (tmp_path / "mfa.db").exists() and (tmp_path / "mfa-dev-keys.json").exists()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert "Single process only" in err
    assert f"database {tmp_path / 'mfa.db'}" in err
    assert "development operator API key: mfa_" in err
