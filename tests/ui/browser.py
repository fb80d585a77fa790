"""Real headless Chromium for the hosted-pages tests, and the host app it visits.

Chromium is Debian's (``.ci/run`` installs it with apt-get); Playwright only
drives it (``executable_path``), it never downloads a browser. Where neither is
available the browser tests skip with a reason that ``-ra`` prints in the summary.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

ARTIFACTS = Path(os.environ.get("MFA_TEST_ARTIFACTS", "test-artifacts")) / "browser"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    found = os.environ.get("MFA_TEST_CHROMIUM") or shutil.which("chromium")
    return found if found and os.access(found, os.X_OK) else None


class LiveServer:
    """uvicorn in a thread, lifespan on (the example sets its tenant up there)."""

    def __init__(self) -> None:
        # Bound first: the app needs its own address (the return URL) to be built.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]

    def start(self, app: Any) -> None:
        config = uvicorn.Config(
            app,
            lifespan="on",
            ws="none",
            http="h11",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the example app did not start")
            time.sleep(0.01)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


@dataclass
class Watch:
    """What the browser did that the pages must never do: log errors, fetch elsewhere."""

    origin: str
    console_errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    shots: list[tuple[str, bytes]] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        page.on(
            "request",
            lambda r: (
                None if r.url.startswith(self.origin + "/") else self.foreign_requests.append(r.url)
            ),
        )

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        url = str(message.location.get("url", ""))
        # Chromium logs every non-2xx fetch. The factor protocol answers a wrong code
        # with 403, a refused send with 429, an ended transaction with 404 — by design,
        # and the page shows each in words (asserted by the journey). Those 4xx of the
        # API are the only console lines not counted as errors; a 5xx still is.
        expected = url.startswith(self.origin + "/mfa/api/") and re.search(
            r"status of 4\d\d ", message.text
        )
        if not expected:
            self.console_errors.append(f"{message.text} [{url}]")

    def shot(self, page: Any, name: str) -> None:
        self.shots.append((name, page.screenshot(full_page=True)))

    def save(self) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for i, (name, png) in enumerate(self.shots):
            (ARTIFACTS / f"{i:02d}-{name}.png").write_bytes(png)
        return ARTIFACTS


# Run in the page: every form control a person can reach has an accessible name.
UNLABELLED = """() => Array.from(document.querySelectorAll('input, select, textarea, button'))
  .filter(e => e.type !== 'hidden' && e.offsetParent !== null)
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
               && !(e.tagName === 'BUTTON' && e.textContent.trim()))
  .map(e => e.outerHTML)"""


def load_example(name: str) -> Any:
    """``examples/<name>.py`` as a module (the examples are scripts, not a package)."""
    import importlib.util

    path = Path(__file__).parents[2] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
