"""The Starlette example runs: mount, session, enrollment, a result that counts once, its page."""

from __future__ import annotations

import importlib
import re
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import httpx
import pyotp
import pytest

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
async def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ModuleType]:
    monkeypatch.setenv("MFA_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'host.db'}")
    monkeypatch.setenv("MFA_DEV_KEYS_PATH", str(tmp_path / "keys.json"))
    monkeypatch.setenv("MFA_ARGON2_PROFILE", "cheapest")
    sys.modules.pop("examples.starlette_app", None)
    module = importlib.import_module("examples.starlette_app")
    async with module.lifespan(module.app):
        yield module


def browser(host: ModuleType) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=host.app), base_url="http://host.test"
    )


async def second_factor(http: httpx.AsyncClient, user: str) -> str:
    """What auth-guardian-js does in the browser: enroll with TOTP, get the signature."""
    login = (await http.get("/login", params={"user": user})).json()
    assert login["service_url"] == "http://host.test/mfa"
    auth = {"Authorization": f"Bearer {login['request_token']}"}
    start = (await http.post("/mfa/api/start-flow", headers=auth)).json()
    tx = {"Authorization": f"Bearer {start['transaction_token']}"}
    code = pyotp.TOTP(start["device_account"]["otp_secret"]).at(time.time())
    r = await http.post("/mfa/api/verify-otp", json={"code": code}, headers=tx)
    assert r.status_code == 204, r.text
    signature: str = (await http.post("/mfa/api/transaction-state", headers=tx)).json()["token"]
    return signature


def error_code(response: httpx.Response) -> Any:
    return response.json()["errorCode"]


async def test_a_login_opens_the_session_once(host: ModuleType) -> None:
    async with browser(host) as http:
        assert (await http.get("/me")).status_code == 401
        signature = await second_factor(http, "alice")
        done = await http.post("/mfa-done", json={"signature": signature})
        assert done.json() == {"session_for": "alice", "method": "otp"}
        assert (await http.get("/me")).json() == {"user": "alice"}
        # The same signature again, in the same session: refused.
        again = await http.post("/mfa-done", json={"signature": signature})
        assert again.status_code == 401 and error_code(again) == "invalid_token"
        # A new login in this session cannot reuse it either: single use per transaction.
        await http.get("/login", params={"user": "alice"})
        replay = await http.post("/mfa-done", json={"signature": signature})
        assert replay.status_code == 401 and "already used" in replay.json()["message"]


async def test_a_result_belongs_to_the_session_that_asked(host: ModuleType) -> None:
    async with browser(host) as alice, browser(host) as mallory:
        signature = await second_factor(alice, "alice")
        # Another session, with no login in progress, presents alice's result.
        stolen = await mallory.post("/mfa-done", json={"signature": signature})
        assert stolen.status_code == 401 and error_code(stolen) == "invalid_token"
        # Nor with a login of its own for another user: the user comes from the session.
        await mallory.get("/login", params={"user": "bob"})
        stolen = await mallory.post("/mfa-done", json={"signature": signature})
        assert stolen.status_code == 401 and error_code(stolen) == "invalid_token"
        # Nor with a fresh login for alice: the result is older than that login.
        await anyio.sleep(1.01)  # iat has one-second resolution
        await mallory.get("/login", params={"user": "alice"})
        stolen = await mallory.post("/mfa-done", json={"signature": signature})
        assert stolen.status_code == 401 and "older" in stolen.json()["message"]
        # alice's own session still completes.
        ok = await alice.post("/mfa-done", json={"signature": signature})
        assert ok.status_code == 200


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"{}", 400, "field_required"),
        (b"", 400, "field_required"),
        (b"not json", 400, "invalid_body"),
        (b"[]", 400, "invalid_body"),
        (b'{"signature": 7}', 400, "invalid_body"),
        (b'{"signature": "x", "user": "bob"}', 400, "invalid_body"),
        (b'{"signature": "not-a-jwt"}', 401, "invalid_token"),
    ],
)
async def test_bad_bodies_get_contract_errors(
    host: ModuleType, content: bytes, status: int, code: str
) -> None:
    async with browser(host) as http:
        await http.get("/login", params={"user": "alice"})
        r = await http.post(
            "/mfa-done", content=content, headers={"Content-Type": "application/json"}
        )
        assert (r.status_code, error_code(r)) == (status, code), r.text
        assert set(r.json()) >= {"statusCode", "error", "message", "errorCode"}


def test_the_example_needs_no_internal_import() -> None:
    source = (ROOT / "examples" / "starlette_app.py").read_text()
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    ours = [line.split()[1] for line in imports if line.split()[1].startswith("mfa")]
    assert set(ours) <= {"mfa", "mfa.errors", "mfa.client"}, ours


async def test_the_page_is_served_without_inline_script_or_cdn(host: ModuleType) -> None:
    async with browser(host) as http:
        r = await http.get("/")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        # The policy lets the page run only this origin's files: no inline script, no CDN.
        assert "default-src 'self'" in r.headers["content-security-policy"]
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", r.text, re.S)
        assert [src for src, _ in scripts] == [
            ' src="/static/auth0-guardian.js" defer',
            ' src="/static/app.js" defer',
        ]
        assert all(body.strip() == "" for _, body in scripts)
        assert re.findall(r"(?:src|href)=\"([^\"]*)\"", r.text) == [
            "/static/favicon.svg",
            "/static/app.css",
            "/static/auth0-guardian.js",
            "/static/app.js",
        ]
        for asset in ("/static/app.js", "/static/app.css", "/static/favicon.svg"):
            assert (await http.get(asset)).status_code == 200, asset


async def test_the_qr_code_is_drawn_only_for_a_login_in_progress(host: ModuleType) -> None:
    uri = "otpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXP&issuer=Example"
    async with browser(host) as http:
        r = await http.get("/qr.svg", params={"uri": uri})
        assert r.status_code == 401 and error_code(r) == "invalid_token"
        login = (await http.get("/login", params={"user": "alice"})).json()
        assert login["user"] == "alice"  # the page's label for the authenticator app
        for bad in ("https://example.com/", "otpauth://hotp/x?secret=A", uri + "x" * 512):
            r = await http.get("/qr.svg", params={"uri": bad})
            assert r.status_code == 400 and error_code(r) == "invalid_body", bad
        r = await http.get("/qr.svg", params={"uri": uri})
        assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
        # An <img> shows an SVG only with its namespace.
        assert r.text.startswith('<svg xmlns="http://www.w3.org/2000/svg" ')
