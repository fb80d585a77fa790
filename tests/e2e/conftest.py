"""End-to-end fixtures: the real service on a real socket, driven by the npm client in Node.

* ``guardian_js_harness`` (session): ``tests/e2e/node/harness.js``, after ``npm ci`` when
  ``node_modules`` is missing.
* ``live`` (per test, parametrized over the in-process ephemeral store and real Redis): the
  service under uvicorn in a :class:`~tests.stubs.server.ServerThread` (SQLite in a tmp dir,
  SMS outbox, cheapest argon2), one tenant, and a sync backend-API client.
* ``guardian``: one ``node harness.js`` process per test, spoken to in JSON lines
  (protocol in the header of ``harness.js``). It answers the harness's questions itself:
  request tokens through the backend API, SMS codes from the outbox, and it plays the
  phone (:class:`mfa.testing_phone.Phone`): enrolls from the QR URI, answers the push found
  in the push outbox. The service has no test-only endpoint.

The service opens its stores lazily inside the server thread's event loop, so it is closed in
that same loop (captured on the first request) before the server stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from starlette.types import ASGIApp, Receive, Scope, Send

from mfa import MFAService, Settings, create_app
from mfa.storage.memory import MemoryEphemeralStore
from mfa.storage.redis import RedisEphemeralStore
from mfa.testing_phone import Phone
from tests.stubs.server import ServerThread
from transports.outbox import Outbox, PushOutbox

REDIS_URL = os.environ.get("MFA_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
ADMIN_KEY = "mfa_e2e-operator-key-0123456789abcdefghijklmnop"
NODE_DIR = Path(__file__).parent / "node"
HARNESS = NODE_DIR / "harness.js"
TENANT = "acme"
# Longer than the harness's own per-step timeout (10 s), so that it reports first.
READ_TIMEOUT = 20.0


# ---------------------------------------------------------------------------- node


@pytest.fixture(scope="session")
def guardian_js_harness() -> Path:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: the auth0-guardian-js end-to-end tests need Node.js")
    if not (NODE_DIR / "node_modules" / "auth0-guardian-js" / "package.json").is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("node is installed but npm is not: cannot install auth0-guardian-js")
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"npm ci failed in {NODE_DIR}:\n{done.stdout}\n{done.stderr}")
    return HARNESS


# ---------------------------------------------------------------------------- service


class _LoopCapture:
    """ASGI pass-through that remembers the server's event loop (where the stores live)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.loop = asyncio.get_running_loop()
        await self.app(scope, receive, send)


@dataclass
class LiveService:
    base_url: str
    service: MFAService
    http: httpx.Client
    tenant_id: str = TENANT
    redis_prefix: str | None = None  # the Redis variant's key prefix
    _sms_seen: int = 0
    phones: dict[str, Phone] = field(default_factory=dict)  # user -> the phone they enrolled
    _push_seen: int = 0

    def redis_keys(self) -> list[bytes]:
        """The keys the service wrote under its prefix (Redis variant only)."""
        assert self.redis_prefix is not None
        client = redis.Redis.from_url(REDIS_URL)
        try:
            return list(client.scan_iter(match=f"{self.redis_prefix}:*", count=500))
        finally:
            client.close()

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_KEY}"}

    @property
    def outbox(self) -> Outbox:
        assert isinstance(self.service.sms, Outbox)
        return self.service.sms

    def request_token(self, user_id: str) -> str:
        r = self.http.post(
            f"/api/tenants/{self.tenant_id}/request-tokens",
            json={"user_id": user_id},
            headers=self.admin,
        )
        assert r.status_code == 200, r.text
        return str(r.json()["request_token"])

    def new_sms_code(self, phone: str | None = None) -> str:
        """The code of the one SMS sent since the last call (the send already answered 204)."""
        messages = list(self.outbox.messages)
        fresh = messages[self._sms_seen :]
        self._sms_seen = len(messages)
        assert len(fresh) == 1, f"expected one new SMS, got {fresh!r}"
        if phone is not None:
            assert fresh[0].to == phone, fresh[0]
        assert fresh[0].tenant_id == self.tenant_id
        return fresh[0].code

    @property
    def push_outbox(self) -> PushOutbox:
        assert isinstance(self.service.push, PushOutbox)
        return self.service.push

    def phone_enroll(self, user: str, uri: str) -> None:
        """The user's phone scans the QR URI the browser shows and enrolls (guardian-wire §3.1)."""
        phone = Phone(self.base_url, name=f"{user}'s phone")
        r = self.http.send(phone.enroll_request(uri))
        assert r.status_code == 200, r.text
        assert phone.base_url == self.base_url  # taken from the URI's base_url
        phone.enrolled(r)
        self.phones[user] = phone

    def push_answer(self, user: str, answer: str) -> None:
        """The one push sent since the last call reaches the user's phone, which answers it."""
        messages = list(self.push_outbox.messages)
        fresh = messages[self._push_seen :]
        self._push_seen = len(messages)
        assert len(fresh) == 1, f"expected one new push, got {fresh!r}"
        phone = self.phones[user]
        assert fresh[0].device_token == phone.push_token
        payload = fresh[0].payload
        r = self.http.send(phone.resolve_request(payload, accept=answer == "accept"))
        assert r.status_code == 204, r.text


def _drop_prefix(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveService]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'mfa.db'}",
        dev_keys_path=str(tmp_path / "keys.json"),
        admin_key=ADMIN_KEY,
        sms_transport="outbox",
        push_transport="outbox",
        argon2_profile="cheapest",
        auto_migrate=True,
        redis_url=None,
    )
    prefix: str | None = None
    if request.param == "redis":
        prefix = f"mfatest-{uuid.uuid4().hex[:12]}"
        service = MFAService(settings, ephemeral=RedisEphemeralStore(REDIS_URL, prefix=prefix))
    else:
        service = MFAService(settings)  # redis_url=None: the in-process ephemeral store
        assert isinstance(service.ephemeral, MemoryEphemeralStore)
    app = _LoopCapture(create_app(service=service))
    server = ServerThread(app)
    server.start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            r = http.post(
                "/api/tenants",
                json={"tenant_id": TENANT, "name": "Acme"},
                headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            )
            assert r.status_code == 201, r.text
            yield LiveService(server.base_url, service, http, redis_prefix=prefix)
    finally:
        try:
            if app.loop is not None and not app.loop.is_closed():
                asyncio.run_coroutine_threadsafe(service.close(), app.loop).result(timeout=10)
        finally:
            server.stop()
            if prefix is not None:
                _drop_prefix(REDIS_URL, prefix)


# ---------------------------------------------------------------------------- harness


@dataclass
class Run:
    """What one harness command printed, up to its ``done`` / ``failed`` line."""

    cmd: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def end(self) -> dict[str, Any]:
        return self.events[-1]

    @property
    def ok(self) -> bool:
        return self.end.get("event") == "done"

    def names(self) -> list[str]:
        return [str(e.get("event", "need:" + str(e.get("need")))) for e in self.events]

    def all(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == name]

    def one(self, name: str) -> dict[str, Any]:
        found = self.all(name)
        assert len(found) == 1, f"expected one {name!r} event, got {self.names()}"
        return found[0]


class GuardianJs:
    """One ``node harness.js`` process, answering its questions from ``live``."""

    def __init__(self, script: Path, live: LiveService) -> None:
        self.live = live
        self.proc = subprocess.Popen(
            ["node", str(script)],
            cwd=script.parent,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env={**os.environ, "BASE": live.base_url},
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._pump_stdout, daemon=True),
            threading.Thread(target=self._pump_stderr, daemon=True),
        ]
        for t in self._readers:
            t.start()
        try:
            ready = self._read()
            assert ready.get("event") == "ready", self._explain(f"unexpected first line {ready}")
        except BaseException:
            self.close()
            raise

    def _pump_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _pump_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def _explain(self, what: str) -> str:
        return f"{what}\n--- node stderr ---\n{''.join(self.stderr)}"

    def _read(self) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=READ_TIMEOUT)
        except queue.Empty:
            raise AssertionError(self._explain(f"node said nothing for {READ_TIMEOUT} s")) from None
        if line is None:
            self.proc.wait(timeout=5)
            raise AssertionError(self._explain(f"node exited with {self.proc.returncode}"))
        try:
            message: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(self._explain(f"not a JSON line from node: {line!r}")) from None
        return message

    def _send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def run(self, cmd: str, **args: Any) -> Run:
        """Run one command; answer ``need`` lines; return every line up to ``done``/``failed``."""
        run = Run({"cmd": cmd, **args})
        t0 = time.monotonic()
        self._send(run.cmd)
        while True:
            message = self._read()
            run.events.append(message)
            need = message.get("need")
            if need == "request_token":
                self._send({"request_token": self.live.request_token(str(message["user"]))})
            elif need == "sms_code":
                self._send({"sms_code": self.live.new_sms_code(message.get("phoneNumber"))})
            elif need == "phone_enrolled":
                self.live.phone_enroll(str(message["user"]), str(message["uri"]))
                self._send({"phone_enrolled": "yes"})
            elif need == "push_answered":
                self.live.push_answer(str(message["user"]), str(message["answer"]))
                self._send({"push_answered": "yes"})
            elif need is not None:
                raise AssertionError(self._explain(f"unknown question from node: {message}"))
            elif message.get("event") == "fatal":
                raise AssertionError(self._explain(f"harness died: {message}"))
            elif message.get("event") in ("done", "failed"):
                run.seconds = time.monotonic() - t0
                return run

    def ok(self, cmd: str, **args: Any) -> Run:
        """:meth:`run`, asserting that the command finished as planned and the transaction
        reported no error."""
        run = self.run(cmd, **args)
        assert run.ok, self._explain(f"{cmd} {args} failed: {run.end}\nevents: {run.events}")
        assert not run.all("tx-error"), run.events
        return run

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                with contextlib.suppress(BrokenPipeError, OSError):
                    self._send({"cmd": "exit"})
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=5)
        finally:
            for t in self._readers:
                t.join(timeout=5)
            for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                if pipe is not None:
                    with contextlib.suppress(BrokenPipeError, OSError):
                        pipe.close()


@pytest.fixture
def guardian(guardian_js_harness: Path, live: LiveService) -> Iterator[GuardianJs]:
    harness = GuardianJs(guardian_js_harness, live)
    try:
        yield harness
    finally:
        harness.close()
    assert harness.proc.returncode == 0, harness._explain(f"node exited {harness.proc.returncode}")
