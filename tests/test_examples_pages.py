"""The hosted-pages examples start with the command written at their top, and work.

Each test reads that command from the example's docstring and runs it in a shell
(plus ``--port`` for a free port, and a scratch database), so a stale command in
the docs fails here. The FastAPI example is also driven through a browser by
``tests/ui/test_browser.py``; here it is driven with plain HTTP, as a browser
without a screen: password, form POST to the hosted page, the factor protocol,
the form POST back, with ``state`` checked.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pyotp
import pytest

from tests.ui.pages import parse

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.slow


def documented_command(example: str) -> str:
    """The ``python examples/<name>.py`` line of the example's docstring."""
    text = (ROOT / "examples" / f"{example}.py").read_text()
    found = re.findall(rf"^\s+(.*python examples/{example}\.py.*)$", text, re.M)
    assert len(found) == 1, found
    return str(found[0]).strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        MFA_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'mfa.db'}",
        MFA_DEV_KEYS_PATH=str(tmp_path / "keys.json"),
        MFA_ARGON2_PROFILE="cheapest",
        **extra,
    )
    return env


@contextmanager
def running(command: str, port: int, env: dict[str, str]) -> Iterator[str]:
    # `exec env …`: the documented `VAR=value cmd` form, as the shell's own process
    # (so terminate() reaches the server); output to a file, which cannot fill up.
    log = Path(env["MFA_DEV_KEYS_PATH"]).with_name(f"server-{port}.log")
    out = log.open("w")
    proc = subprocess.Popen(
        ["bash", "-c", f"exec env {command} --port {port}"],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    proc.wait()
                    raise AssertionError(f"{command!r} did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.close()


def hidden_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r"name='(\w+)' value='([^']*)'", html))


def test_fastapi_example(tmp_path: Path) -> None:
    command = documented_command("fastapi_app")
    assert command == "python examples/fastapi_app.py"
    with (
        running(command, free_port(), environment(tmp_path)) as base,
        httpx.Client(base_url=base, timeout=10, follow_redirects=True) as browser,
    ):
        assert "Sign in" in browser.get("/").text
        wrong = browser.post("/login", data={"username": "alice", "password": "nope"})
        assert "Wrong user name or password" in wrong.text
        hop = browser.post("/login", data={"username": "alice", "password": "wonderland"})
        fields = hidden_fields(hop.text)
        assert "action='/mfa/ui/'" in hop.text and fields["return_to"] == base + "/mfa-return"
        page = browser.post("/mfa/ui/", data=fields)
        assert page.status_code == 200, page.text
        data = parse(page).data()
        assert data["mode"] == "enroll"  # first login: enrollment
        secret = parse(page).by_id("otp-secret").attrs["data-secret"]
        tx = {"Authorization": f"Bearer {data['token']}"}
        code = pyotp.TOTP(secret).now()
        r = browser.post("/mfa/api/verify-otp", json={"code": code}, headers=tx)
        assert r.status_code == 204, r.text
        result = browser.post("/mfa/api/transaction-state", headers=tx).json()["token"]

        # The answer must carry this browser's state: a forged post is refused.
        forged = browser.post("/mfa-return", data={"result": result, "state": "guess"})
        assert "not for this browser" in forged.text
        assert "Signed in as" not in browser.get("/").text

        # A fresh attempt, returned with the right state, signs alice in.
        fields = hidden_fields(
            browser.post("/login", data={"username": "alice", "password": "wonderland"}).text
        )
        page = browser.post("/mfa/ui/", data=fields)
        data = parse(page).data()
        assert data["mode"] == "login"
        tx = {"Authorization": f"Bearer {data['token']}"}
        code = pyotp.TOTP(secret).at(time.time() + 30)  # the enrollment used this step
        assert browser.post("/mfa/api/verify-otp", json={"code": code}, headers=tx).is_success
        result = browser.post("/mfa/api/transaction-state", headers=tx).json()["token"]
        done = browser.post("/mfa-return", data={"result": result, "state": fields["state"]})
        assert "Signed in as alice (second factor: otp)" in done.text

        # Cancelling on the hosted page comes back as error=cancelled.
        browser.post("/logout")
        fields = hidden_fields(
            browser.post("/login", data={"username": "bob", "password": "wonderland"}).text
        )
        back = browser.post("/mfa-return", data={"error": "cancelled", "state": fields["state"]})
        assert "MFA not completed (cancelled)" in back.text


def test_client_script(tmp_path: Path) -> None:
    command = documented_command("client_script")
    key = re.match(r"MFA_ADMIN_KEY=(\S+) python", command)
    assert key is not None, command
    text = (ROOT / "examples" / "client_script.py").read_text()
    serve = f"MFA_ADMIN_KEY={key.group(1)} mfa serve"
    assert serve in text  # the service command the docstring names
    port = free_port()
    env = environment(tmp_path)
    with running(serve, port, env) as base:
        for _ in range(2):  # twice: the script is idempotent about its tenant
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=ROOT,
                env={**env, "MFA_URL": base},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            assert (
                "hosted pages may return to: ['https://app.example.com/mfa-return']" in done.stdout
            )
            assert re.search(r"signed in user-\w+ with otp", done.stdout), done.stdout
            assert "a result for another user is refused: invalid_token" in done.stdout
