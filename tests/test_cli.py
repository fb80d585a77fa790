"""The ``mfa`` command, run as a real process: operator commands and their guard rails."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mfa.cli import build_parser
from mfa.keys import EncryptionKeys, SigningKeys
from mfa.names import Scope

REDIS_URL = os.environ.get("MFA_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MFA_")}


def run(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {
        **clean_env(),
        "MFA_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "MFA_DEV_KEYS_PATH": str(tmp_path / "keys.json"),
        "MFA_ARGON2_PROFILE": "cheapest",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "mfa.cli", *args],
        cwd=cwd or tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def migrated(tmp_path: Path) -> Path:
    assert ok_json(run(tmp_path, "db", "upgrade", "--json"))["up_to_date"] is True
    ok_json(run(tmp_path, "--json", "tenants", "create", "acme", "--name", "Acme"))
    return tmp_path


def test_keys_generate_makes_loadable_keys(tmp_path: Path) -> None:
    keys = ok_json(run(tmp_path, "--json", "keys", "generate"))
    SigningKeys.from_json(keys["MFA_SIGNING_KEYS"])
    EncryptionKeys.from_text(keys["MFA_ENCRYPTION_KEYS"])


def test_operator_commands(migrated: Path) -> None:
    tmp_path = migrated
    assert [t["tenant_id"] for t in ok_json(run(tmp_path, "--json", "tenants", "list"))] == ["acme"]
    factors = ok_json(run(tmp_path, "factors", "disable", "acme", "sms", "--json"))
    assert {f["name"]: f["enabled"] for f in factors}["sms"] is False
    quotas = ok_json(
        run(tmp_path, "quotas", "set", "acme", "sms_per_user", "--limit", "3", "--window", "60",
            "--json")
    )  # fmt: skip
    assert {"quota": "sms_per_user", "limit": 3, "window_seconds": 60} in quotas
    features = ok_json(run(tmp_path, "features", "disable", "acme", "enrollment", "--json"))
    assert {"name": "enrollment", "enabled": False} in features
    assert ok_json(run(tmp_path, "enrollments", "list", "acme", "alice", "--json")) == []
    # Data survives: a new process sees it.
    shown = ok_json(run(tmp_path, "--json", "tenants", "show", "acme"))
    assert shown["factors"]["sms"] is False and shown["features"]["enrollment"] is False


def test_api_keys_take_comma_lists_and_can_be_listed_and_revoked(migrated: Path) -> None:
    key = ok_json(
        run(migrated, "api-keys", "create", "acme", "--name", "ci", "--json",
            "--scope", "factors:read, quotas:read", "--scope", "enrollments:read")
    )  # fmt: skip
    assert key["key"].startswith("mfa_")
    assert key["scopes"] == ["enrollments:read", "factors:read", "quotas:read"]
    listed = ok_json(run(migrated, "api-keys", "list", "acme", "--json"))
    assert [k["key_id"] for k in listed] == [key["key_id"]]
    assert "key" not in listed[0] and key["key"] not in json.dumps(listed)
    refused = run(migrated, "api-keys", "create", "acme", "--name", "x", "--scope", "root")
    assert refused.returncode == 1 and "invalid_body" in refused.stderr
    ok_json(run(migrated, "api-keys", "revoke", "acme", key["key_id"], "--yes", "--json"))
    assert ok_json(run(migrated, "api-keys", "list", "acme", "--json")) == []


def test_arguments_are_validated_by_the_api_schema(migrated: Path) -> None:
    bad = run(migrated, "quotas", "set", "acme", "sms_per_user", "--limit", "-3", "--window", "0")
    assert bad.returncode == 1
    assert "invalid_body" in bad.stderr and "sms_per_user.limit" in bad.stderr
    quotas = ok_json(run(migrated, "quotas", "show", "acme", "--json"))
    assert {"quota": "sms_per_user", "limit": 10, "window_seconds": 3600} in quotas  # unchanged
    bad_id = run(migrated, "tenants", "create", "Not A Slug", "--name", "x")
    assert bad_id.returncode == 1 and "invalid_body" in bad_id.stderr


def test_people_get_tables_and_no_log_noise(migrated: Path) -> None:
    shown = run(migrated, "quotas", "show", "acme")
    assert shown.returncode == 0 and shown.stderr == ""
    header, *rows = shown.stdout.splitlines()
    assert header.split() == ["QUOTA", "LIMIT", "WINDOW_SECONDS"]
    assert rows[0].split() == ["sms_per_user", "10", "3600"]


def test_destructive_commands_ask_first(migrated: Path) -> None:
    refused = run(migrated, "tenants", "delete", "acme")  # stdin is not a terminal
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert ok_json(run(migrated, "tenants", "show", "acme", "--json"))["tenant_id"] == "acme"
    assert ok_json(run(migrated, "tenants", "delete", "acme", "-y", "--json")) == {
        "deleted": "acme"
    }
    gone = run(migrated, "tenants", "show", "acme")
    assert gone.returncode == 1 and "tenant_not_found" in gone.stderr


def test_errors_name_the_catalogue_code(migrated: Path) -> None:
    result = run(migrated, "tenants", "show", "ghost")
    assert result.returncode == 1
    assert result.stderr.startswith("mfa: tenant_not_found:")
    as_json = run(migrated, "tenants", "show", "ghost", "--json")
    assert json.loads(as_json.stderr)["errorCode"] == "tenant_not_found"
    result = run(migrated, "--json", "factors", "disable", "acme", "email")
    assert result.returncode == 2  # argparse refuses unknown factors


def test_another_folder_creates_nothing(
    migrated: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    env = {"MFA_DATABASE_URL": "", "MFA_DEV_KEYS_PATH": ""}  # the relative defaults
    result = run(migrated, "tenants", "list", env=env, cwd=elsewhere)
    assert result.returncode == 2
    assert f"no database at {elsewhere / 'mfa.db'}" in result.stderr
    assert list(elsewhere.iterdir()) == []


def test_request_token_is_refused_on_the_embedded_store(migrated: Path) -> None:
    result = run(migrated, "request-token", "acme", "alice")
    assert result.returncode == 2
    assert "needs MFA_REDIS_URL" in result.stderr and "request-tokens" in result.stderr
    assert "Traceback" not in result.stderr
    ticket = run(migrated, "enrollment-ticket", "acme", "alice")
    assert ticket.returncode == 2 and "enrollment-tickets" in ticket.stderr


@pytest.mark.redis
def test_request_token_on_a_shared_store(migrated: Path) -> None:
    env = {"MFA_REDIS_URL": REDIS_URL}
    token = ok_json(run(migrated, "request-token", "acme", "alice", "--json", env=env))
    assert token["request_token"].count(".") == 2
    ticket = ok_json(run(migrated, "enrollment-ticket", "acme", "alice", "--json", env=env))
    assert ticket["ticket_id"].startswith("tkt_")


def test_outdated_schema_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / "cli.db").touch()
    result = run(tmp_path, "tenants", "list", env={"MFA_AUTO_MIGRATE": "false"})
    assert result.returncode == 2
    assert "mfa db upgrade" in result.stderr and "Traceback" not in result.stderr


def test_scopes_are_listed() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mfa.cli", "scopes", "--json"],
        capture_output=True, text=True, timeout=60, env=clean_env(),
    )  # fmt: skip
    assert [s["scope"] for s in json.loads(result.stdout)] == [s.value for s in Scope]


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _parsers(sub)
    return found


def test_every_command_and_option_has_help() -> None:
    for parser in _parsers(build_parser()):
        assert parser.description, parser.prog
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    assert choice.help, f"{parser.prog} {choice.dest}"
            else:
                assert action.help, f"{parser.prog} {action.dest}"


def test_json_is_accepted_anywhere() -> None:
    parser = build_parser()
    for argv in (["--json", "tenants", "list"], ["tenants", "--json", "list"],
                 ["tenants", "list", "--json"]):  # fmt: skip
        assert parser.parse_args(argv).json is True
    assert not hasattr(parser.parse_args(["tenants", "list"]), "json")


def test_help_loads_no_server_module() -> None:
    # What keeps `mfa --help` quick (well under 0.3 s): no pydantic, SQLAlchemy,
    # Starlette or uvicorn before a command needs them. Asserting modules, not
    # seconds: wall time on a shared machine flakes.
    code = (
        "import sys; from mfa.cli import main\n"
        "try: main(['--help'])\n"
        "except SystemExit: pass\n"
        "print(sorted({m.partition('.')[0] for m in sys.modules}), file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=clean_env()
    )
    loaded = set(json.loads(done.stderr.replace("'", '"')))
    assert not loaded & {"pydantic", "sqlalchemy", "starlette", "uvicorn", "alembic", "redis"}
    assert "usage: mfa" in done.stdout


def test_hosted_pages_setting(migrated: Path) -> None:
    shown = ok_json(
        run(
            migrated,
            "hosted-pages",
            "set",
            "acme",
            "--return-url",
            "https://app.example.com/back,https://app.example.com/other",
            "--primary-color",
            "#112233",
            "--json",
        )
    )
    assert shown["allowed_return_urls"] == [
        "https://app.example.com/back",
        "https://app.example.com/other",
    ]
    assert ok_json(run(migrated, "hosted-pages", "show", "acme", "--json")) == shown
    refused = run(migrated, "hosted-pages", "set", "acme", "--return-url", "javascript:x")
    assert refused.returncode == 1 and "invalid_body" in refused.stderr


def test_tenants_create_sandbox(migrated: Path) -> None:
    made = ok_json(run(migrated, "--json", "tenants", "create", "sbx", "--name", "S", "--sandbox"))
    assert made["sandbox"] is True
    assert ok_json(run(migrated, "--json", "tenants", "show", "acme"))["sandbox"] is False


def test_enrollments_status_names_a_user_without_enrollment(migrated: Path) -> None:
    result = run(migrated, "--json", "enrollments", "status", "acme", "nobody")
    assert result.returncode != 0
    assert "not_enrolled" in result.stdout + result.stderr
