"""The host-app example runs: mount, request token, enrollment, signature check."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

import httpx
import pytest

from mfa.factors import totp

pytestmark = pytest.mark.anyio


async def test_host_app_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MFA_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'host.db'}")
    monkeypatch.setenv("MFA_DEV_KEYS_PATH", str(tmp_path / "keys.json"))
    monkeypatch.setenv("MFA_ARGON2_PROFILE", "cheapest")
    sys.modules.pop("examples.host_app", None)
    host = importlib.import_module("examples.host_app")
    async with (
        host.lifespan(host.app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=host.app), base_url="http://host.test"
        ) as http,
    ):
        login = (await http.get("/login", params={"user": "alice"})).json()
        assert login["service_url"] == "http://host.test/mfa"
        auth = {"Authorization": f"Bearer {login['request_token']}"}
        start = (await http.post("/mfa/api/start-flow", headers=auth)).json()
        tx = {"Authorization": f"Bearer {start['transaction_token']}"}
        code = totp.code_at(start["device_account"]["otp_secret"], time.time())
        r = await http.post("/mfa/api/verify-otp", json={"code": code}, headers=tx)
        assert r.status_code == 204
        token = (await http.post("/mfa/api/transaction-state", headers=tx)).json()["token"]
        done = await http.post("/mfa-done", json={"user": "alice", "signature": token})
        assert done.json() == {"session_for": "alice", "method": "otp"}
        forged = await http.post("/mfa-done", json={"user": "bob", "signature": token})
        assert forged.status_code == 401
        assert forged.json()["errorCode"] == "invalid_token"
