"""The README and the deployment files say what is true.

The walkthroughs are not restated here: their code blocks are cut out of the
README and run as they are, against a real ``mfa serve`` (and the example app)
in a fresh folder, so a change that breaks the README breaks this test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from mfa.cli import build_parser
from mfa.cli._scopes import SCOPES
from mfa.cli._scopes import markdown_table as scopes_table
from mfa.names import Scope
from mfa.settings_table import markdown_table as settings_table

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def between(start: str, end: str) -> str:
    return README.split(f"<!-- {start} -->\n", 1)[1].split(f"<!-- {end} -->", 1)[0]


def block_after(marker: str) -> str:
    after = README.split(f"<!-- {marker} -->\n", 1)[1]
    match = re.match(r"```\w+\n(.*?)\n```", after, re.S)
    assert match, marker
    return match.group(1)


def test_configuration_table_is_the_settings_model() -> None:
    assert between("settings-table:start", "settings-table:end") == settings_table()


def test_scopes_table_names_every_scope() -> None:
    assert list(SCOPES) == [s.value for s in Scope]
    assert between("scopes-table:start", "scopes-table:end") == scopes_table()


def test_every_test_variable_is_documented() -> None:
    used = set()
    for path in (ROOT / "tests").rglob("*.py"):
        used |= set(re.findall(r'environ\.get\("(MFA_TEST_\w+)"', path.read_text()))
    assert used and all(name in README for name in used), used - set(re.findall(r"MFA_\w+", README))


def test_the_readme_commands_are_the_ci_commands() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = (
        "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && "
        ".venv/bin/python -m pytest"
    )
    assert test_command in README and test_command in ci
    assert "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/mfa serve" in README


# --------------------------------------------------------------------------- deployment


def compose() -> dict[str, object]:
    import yaml

    loaded: dict[str, object] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def test_compose_file_follows_the_compose_specification() -> None:
    import jsonschema

    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
    # The schema names draft 7 by a URL jsonschema does not know: say it here.
    jsonschema.Draft7Validator(schema).validate(compose())


def test_compose_runs_migrations_first_and_checks_health() -> None:
    services = compose()["services"]
    assert isinstance(services, dict)
    assert set(services) == {"postgres", "redis", "migrate", "mfa"}
    assert services["migrate"]["command"] == ["db", "upgrade"]
    needs = services["mfa"]["depends_on"]
    assert needs["migrate"]["condition"] == "service_completed_successfully"
    for name in ("postgres", "redis", "mfa"):
        assert "healthcheck" in services[name], name
    # The commands the containers run are real mfa commands.
    parser = build_parser()
    for name in ("migrate", "mfa"):
        parser.parse_args(services[name]["command"])
    environment = services["mfa"]["environment"]
    assert "postgresql+asyncpg://" in environment["MFA_DATABASE_URL"]
    assert environment["MFA_REDIS_URL"].startswith("redis://")


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client")
def test_docker_compose_config_when_available() -> None:
    env = {
        **os.environ,
        "POSTGRES_PASSWORD": "x",
        "MFA_SIGNING_KEYS": "[]",
        "MFA_ENCRYPTION_KEYS": "x",
        "MFA_ADMIN_KEY": "mfa_x",
    }
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, env=env)
    if probe.returncode != 0:
        pytest.skip("docker compose is not installed (the schema test above still runs)")
    done = subprocess.run(
        ["docker", "compose", "config", "--quiet"], cwd=ROOT, capture_output=True, env=env
    )
    assert done.returncode == 0, done.stderr


def test_dockerfile_copies_what_exists_and_runs_mfa_serve() -> None:
    text = (ROOT / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (?!--from)(.+?) \S+$", text, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), path
    cmd = json.loads(re.search(r"^CMD (.+)$", text, re.M)[1])  # type: ignore[index]
    assert build_parser().parse_args(cmd).action == "serve"
    assert "USER mfa" in text and "HEALTHCHECK" in text and "/readyz" in text


# --------------------------------------------------------------------------- walkthroughs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def plain_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFA_")}
    # `python` in the README is the virtualenv's: the one running these tests.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


@contextmanager
def running(argv: list[str], cwd: Path, env: dict[str, str], url: str) -> Iterator[list[str]]:
    """A server process, up; yields a list that fills with its stderr lines at exit."""
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, f"{argv} did not come up"
                time.sleep(0.1)
        yield lines
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
        lines += err.splitlines()


@contextmanager
def mfa_serve(folder: Path) -> Iterator[tuple[str, str]]:
    """`mfa serve` on its embedded defaults in ``folder``: its URL and the
    development operator key, read from its key file as a person reads it from
    the terminal."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "mfa.cli", "serve", "--port", str(port)]
    with running(argv, folder, plain_env(), url + "/healthz"):
        key = json.loads((folder / "mfa-dev-keys.json").read_text())["admin_key"]
        yield url, key


def run_block(language: str, code: str, cwd: Path, env: dict[str, str]) -> str:
    argv = (
        ["bash", "-euo", "pipefail", "-c", code]
        if language == "sh"
        else [sys.executable, "-c", code]
    )
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_curl_walkthrough(tmp_path: Path) -> None:
    with mfa_serve(tmp_path) as (url, key):
        out = run_block(
            "sh", block_after("walkthrough:curl"), tmp_path, plain_env(MFA=url, KEY=key)
        )
    lines = out.splitlines()
    assert json.loads(lines[0])["tenant_id"] == "acme"
    assert lines[1] not in ("", "None")  # an enrollment_tx_id: alice is not enrolled yet
    assert "VerifiedResult(user_id='alice', tenant_id='acme'" in out
    assert lines[-2:] == ["None", "accepted"]  # enrolled: no enrollment_tx_id; login done


@pytest.mark.slow
def test_python_walkthrough(tmp_path: Path) -> None:
    with mfa_serve(tmp_path) as (url, key):
        code = block_after("walkthrough:python")
        out = run_block("python", code, tmp_path, plain_env(MFA_URL=url, MFA_KEY=key))
    assert out.strip() == "bob otp"


@pytest.mark.slow
def test_example_app_walkthrough(tmp_path: Path) -> None:
    command = re.search(r"\.venv/bin/(uvicorn examples\.starlette_app:app) --port 8001", README)
    assert command, "the README no longer says how to run the example"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", *command[1].split(), "--port", str(port)]
    env = plain_env(
        MFA_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'host.db'}",
        MFA_DEV_KEYS_PATH=str(tmp_path / "keys.json"),
    )
    with running(argv, ROOT, env, url + "/me"):
        out = run_block("sh", block_after("walkthrough:example"), tmp_path, {**env, "HOST": url})
    # The last two answers: the session opened, then who it is for.
    assert out.splitlines()[-2:] == ['{"session_for":"carol","method":"otp"}', '{"user":"carol"}']
