"""The phone example (examples/phone.py) against a real server: enroll, receive, approve."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import httpx


def test_phone_example_enrolls_receives_and_approves(tmp_path: Path) -> None:
    """examples/phone.py against a real server whose webhook push transport calls it."""
    import asyncio
    import threading
    from urllib.parse import quote

    from mfa import MFAService, Settings, create_app
    from tests.conftest import ADMIN_KEY
    from tests.stubs.server import ServerThread

    phone_py = importlib.import_module("examples.phone")
    state = tmp_path / "phone.json"
    listener = phone_py.make_listener(state, 0, "s3cret")
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'mfa.db'}",
        dev_keys_path=str(tmp_path / "keys.json"),
        admin_key=ADMIN_KEY,
        push_transport="webhook",
        push_webhook_url=f"http://127.0.0.1:{listener.server_address[1]}/",
        webhook_secret="s3cret",
        argon2_profile="cheapest",
        auto_migrate=True,
    )
    service = MFAService(settings)
    loops: list[asyncio.AbstractEventLoop] = []
    app = create_app(service=service)

    async def remember_loop(scope: Any, receive: Any, send: Any) -> None:
        if not loops:
            loops.append(asyncio.get_running_loop())
        await app(scope, receive, send)

    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    try:
        with ServerThread(remember_loop) as server, httpx.Client(base_url=server.base_url) as http:
            http.post("/api/tenants", json={"tenant_id": "acme", "name": "Acme"}, headers=admin)

            def start(user: str) -> dict[str, Any]:
                r = http.post(
                    "/api/tenants/acme/request-tokens", json={"user_id": user}, headers=admin
                )
                auth = {"Authorization": f"Bearer {r.json()['request_token']}"}
                body: dict[str, Any] = http.post("/api/start-flow", headers=auth).json()
                return body

            pending = start("bob")
            # The URI auth0-guardian-js shows as a QR code (guardian-wire §3.6).
            uri = (
                f"otpauth://totp/acme:bob?secret={pending['device_account']['otp_secret']}"
                f"&enrollment_tx_id={pending['enrollment_tx_id']}&issuer=acme"
                f"&id={pending['device_account']['id']}&base_url={quote(server.base_url)}"
            )
            run = phone_py.run
            enrolled = run(["--state", str(state), "enroll", uri], http=http)
            assert enrolled == {"enrolled": pending["device_account"]["id"], "user_id": "bob"}

            login = start("bob")
            tx = {"Authorization": f"Bearer {login['transaction_token']}"}
            assert http.post("/api/send-push-notification", headers=tx).status_code == 204
            (waiting,) = run(["--state", str(state), "pending"], http=http)["pending"]
            assert waiting["index"] == 0
            assert run(["--state", str(state), "approve"], http=http) == {"ok": True}
            assert http.post("/api/transaction-state", headers=tx).json()["state"] == "accepted"
            assert run(["--state", str(state), "pending"], http=http) == {"pending": []}

            renamed = run(["--state", str(state), "rename", "Work phone"], http=http)
            assert renamed["name"] == "Work phone"
            assert run(["--state", str(state), "remove"], http=http) == {"ok": True}
            assert "enrollment_tx_id" in start("bob")  # not enrolled any more
            # Closed in the server's loop, where the stores were opened, before it stops.
            asyncio.run_coroutine_threadsafe(service.close(), loops[0]).result(timeout=10)
    finally:
        listener.shutdown()
        listener.server_close()
