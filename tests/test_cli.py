"""The ``mfa`` command, run as a real process: operator commands and ``mfa serve``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from mfa.keys import EncryptionKeys, SigningKeys


def run(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "MFA_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "MFA_DEV_KEYS_PATH": str(tmp_path / "keys.json"),
        "MFA_ARGON2_PROFILE": "cheapest",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "mfa.cli", *args],
        cwd=tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_keys_generate_makes_loadable_keys(tmp_path: Path) -> None:
    keys = ok_json(run(tmp_path, "--json", "keys", "generate"))
    SigningKeys.from_json(keys["MFA_SIGNING_KEYS"])
    EncryptionKeys.from_text(keys["MFA_ENCRYPTION_KEYS"])


def test_operator_commands(tmp_path: Path) -> None:
    status = ok_json(run(tmp_path, "--json", "db", "upgrade"))
    assert status["up_to_date"] is True
    tenant = ok_json(run(tmp_path, "--json", "tenants", "create", "acme", "--name", "Acme"))
    assert tenant["tenant_id"] == "acme"
    assert [t["tenant_id"] for t in ok_json(run(tmp_path, "--json", "tenants", "list"))] == ["acme"]
    factors = ok_json(run(tmp_path, "--json", "factors", "disable", "acme", "sms"))
    assert {f["name"]: f["enabled"] for f in factors}["sms"] is False
    quotas = ok_json(
        run(
            tmp_path,
            "--json",
            "quotas",
            "set",
            "acme",
            "sms_per_user",
            "--limit",
            "3",
            "--window",
            "60",
        )
    )
    assert quotas["sms_per_user"] == {"limit": 3, "window_seconds": 60}
    key = ok_json(
        run(
            tmp_path,
            "--json",
            "api-keys",
            "create",
            "acme",
            "--name",
            "ci",
            "--scope",
            "factors:read",
        )
    )
    assert key["key"].startswith("mfa_") and key["scopes"] == ["factors:read"]
    token = ok_json(run(tmp_path, "--json", "request-token", "acme", "alice"))
    assert token["request_token"].count(".") == 2
    assert ok_json(run(tmp_path, "--json", "enrollments", "list", "acme", "alice")) == []
    features = ok_json(
        run(tmp_path, "--json", "features", "enable", "acme", "push_number_matching")
    )
    assert features["push_number_matching"] is True and features["device_management"] is True
    quotas = ok_json(
        run(
            tmp_path,
            "--json",
            "quotas",
            "set",
            "acme",
            "pn_unanswered_per_user",
            "--limit",
            "3",
            "--window",
            "600",
        )
    )
    assert quotas["pn_unanswered_per_user"] == {"limit": 3, "window_seconds": 600}
    # Data survives: a new process sees it.
    shown = ok_json(run(tmp_path, "--json", "tenants", "show", "acme"))
    assert shown["factors"]["sms"] is False


def test_errors_name_the_catalogue_code(tmp_path: Path) -> None:
    result = run(tmp_path, "tenants", "show", "ghost")
    assert result.returncode == 1
    assert "tenant_not_found" in result.stderr
    result = run(tmp_path, "--json", "factors", "disable", "acme", "email")
    assert result.returncode == 2  # argparse refuses unknown factors


def test_outdated_schema_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    result = run(tmp_path, "tenants", "list", env={"MFA_AUTO_MIGRATE": "false"})
    assert result.returncode == 2
    assert "mfa db upgrade" in result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.slow
def test_serve_on_embedded_defaults(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFA_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mfa.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
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
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
        assert (tmp_path / "mfa.db").exists() and (tmp_path / "mfa-dev-keys.json").exists()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert "Single process only" in err
    assert "development operator API key: mfa_" in err
