"""A setting that needs an extra which is not installed stops start-up, naming it.

A ``None`` entry in ``sys.modules`` makes importing that module fail as if it
were not installed; that is only safe in a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _without(driver: str, code: str) -> subprocess.CompletedProcess[str]:
    prelude = (
        f"import sys\nsys.modules[{driver!r}] = None\n"
        "from mfa.settings import Settings, SettingsError\n"
        "from mfa.storage import durable_store_from_settings, ephemeral_store_from_settings\n"
    )
    return subprocess.run(
        [sys.executable, "-c", prelude + code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("driver", "build", "message"),
    [
        (
            "redis",
            "ephemeral_store_from_settings(Settings(redis_url='redis://127.0.0.1:6379/0'))",
            "MFA_REDIS_URL needs the redis extra: pip install 'mfa[redis]'",
        ),
        (
            "asyncpg",
            "durable_store_from_settings("
            "Settings(database_url='postgresql+asyncpg://127.0.0.1/test'))",
            "MFA_DATABASE_URL needs the postgres extra: pip install 'mfa[postgres]'",
        ),
    ],
)
def test_missing_driver_names_the_extra(driver: str, build: str, message: str) -> None:
    done = _without(
        driver,
        f"try:\n    {build}\nexcept SettingsError as exc:\n    print(exc)\n"
        "else:\n    print('built')\n",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == message


def test_embedded_defaults_need_no_extra() -> None:
    """SQLite and the in-process store run without redis and asyncpg installed."""
    code = (
        "import sys\nsys.modules['asyncpg'] = None\n"
        "settings = Settings(database_url='sqlite+aiosqlite:///:memory:')\n"
        "print(type(durable_store_from_settings(settings)).__name__,"
        " type(ephemeral_store_from_settings(settings)).__name__)\n"
    )
    done = _without("redis", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["SqlDurableStore", "MemoryEphemeralStore"]


def test_installed_drivers_build_their_stores() -> None:
    # The other side of the check: with the extras installed (as in CI) the same
    # settings build the stores, so the message above is not raised regardless.
    from mfa.settings import Settings
    from mfa.storage import (
        RedisEphemeralStore,
        SqlDurableStore,
        durable_store_from_settings,
        ephemeral_store_from_settings,
    )

    redis_store = ephemeral_store_from_settings(Settings(redis_url="redis://127.0.0.1:6379/0"))
    sql_store = durable_store_from_settings(
        Settings(database_url="postgresql+asyncpg://127.0.0.1/test")
    )
    assert isinstance(redis_store, RedisEphemeralStore)
    assert isinstance(sql_store, SqlDurableStore)
