"""examples/starlette_app.py's own page in real headless Chromium, with the unmodified
npm auth0-guardian-js bundled by the command the example's docstring gives.

alice signs in on the host's page, enrolls TOTP with the key read off the page, is
shown her recovery code and then "Signed in as alice" (what the host's ``/me``
says after ``/mfa-done``); she signs in again, gives a wrong code, is told so in
the words of the error catalogue, and signs in with the right one. No console
error, no request leaves the host's origin. The 5 s poll of the public
constructor makes each factor step take up to 5 s, hence about 15 s in all.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest

import mfa
from tests.ui.browser import (
    CHROMIUM_ARGS,
    UNLABELLED,
    LiveServer,
    Watch,
    chromium_path,
    load_example,
)

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "starlette_app.py"
CHROMIUM = chromium_path()
# The public constructor polls every 5 s: a result shows up to 5 s after its code.
POLL_WAIT = 10_000
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        sync_playwright is None or CHROMIUM is None,
        reason="BROWSER TESTS SKIPPED: no Chromium (apt-get install chromium) or no "
        "playwright package; examples/starlette_app.py's page was NOT checked in a browser",
    ),
]


def build_command() -> list[str]:
    """The build half of the one command at the top of the example, as written there."""
    found = re.search(r"^\s+(sh examples/build_guardian_js\.sh) && ", EXAMPLE.read_text(), re.M)
    assert found, "the example's docstring no longer says how to build auth0-guardian-js"
    return found[1].split()


@pytest.fixture(scope="session")
def guardian_bundle() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip(
            "BROWSER TEST SKIPPED: no node/npm, so auth0-guardian-js cannot be bundled; "
            "examples/starlette_app.py's page was NOT checked in a browser"
        )
    # npm ci runs only when node_modules is older than the lock file: after the
    # first run this is esbuild alone, well under a second.
    done = subprocess.run(
        build_command(), cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"the build failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture
def host(guardian_bundle: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("MFA_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'host.db'}")
    monkeypatch.setenv("MFA_DEV_KEYS_PATH", str(tmp_path / "keys.json"))
    monkeypatch.setenv("MFA_ARGON2_PROFILE", "cheapest")
    server = LiveServer()
    server.start(load_example("starlette_app").app)
    try:
        yield server.base_url
    finally:
        server.stop()


def test_enrollment_and_login_in_the_hosts_own_page(host: str) -> None:
    watch = Watch(origin=host)
    assert sync_playwright is not None and CHROMIUM is not None
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 360, "height": 740}, locale="en-US")
        context.set_default_timeout(POLL_WAIT)
        page = context.new_page()
        watch.attach(page)
        try:
            journey(page, host, watch)
        except BaseException:
            with contextlib.suppress(Exception):
                watch.shot(page, "starlette-failure")
                print(f"\nfailed at {page.url}:\n{page.content()[:3000]}")
            print(f"\nscreenshots of each step: {watch.save().resolve()}")
            raise
        finally:
            context.close()
            browser.close()
    assert watch.console_errors == []
    assert watch.foreign_requests == []


def sign_in(page: Page, user: str) -> None:
    page.fill("#user", user)
    page.click("#login button")
    expect(page.locator("#code-form")).to_be_visible()


def journey(page: Page, base: str, watch: Watch) -> None:
    page.goto(base + "/")
    # The library is the npm package, loaded from this origin (the watch sees the rest).
    assert page.evaluate("typeof window.auth0GuardianJS") == "function"

    # 1. alice enrolls: the key and its QR code on the page, then the recovery code.
    sign_in(page, "alice")
    expect(page.locator("#enroll")).to_be_visible()
    expect(page.locator("#qr")).to_be_visible()
    assert page.evaluate("document.getElementById('qr').naturalWidth") > 0  # the SVG loaded
    secret = page.locator("#otp-secret").inner_text().strip()
    totp = pyotp.TOTP(secret)
    watch.shot(page, "starlette-enroll")
    assert page.evaluate(UNLABELLED) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # a phone's screen
    page.fill("#code", totp.now())
    page.click("#code-form button")
    expect(page.locator("#signed-in")).to_have_text("Signed in as alice", timeout=POLL_WAIT)
    expect(page.locator("#recovery")).to_be_visible()
    assert re.fullmatch(r"[A-Za-z0-9]{24}", page.locator("#recovery-code").inner_text().strip())
    expect(page.locator("#enroll")).to_be_hidden()
    watch.shot(page, "starlette-enrolled")

    # 2. alice signs in again: a wrong code is answered in the catalogue's words.
    sign_in(page, "alice")
    expect(page.locator("#signed-in")).to_be_hidden()  # a new login closed the old one
    expect(page.locator("#enroll")).to_be_hidden()
    near = {totp.at(time.time() + 30 * k) for k in range(-2, 3)}
    wrong = next(c for c in ("000000", "111111", "222222") if c not in near)
    page.fill("#code", wrong)
    page.click("#code-form button")
    expected = mfa.CATALOGUE["invalid_otp"].user_message.replace("{method}", "authenticator app")
    expect(page.locator("#error")).to_have_text(expected)
    expect(page.locator("#error")).to_have_attribute("data-code", "invalid_otp")
    watch.shot(page, "starlette-wrong-code")

    # The enrollment's code was for this time step, which the service takes only
    # once; the next step is accepted (one step of drift either way).
    page.fill("#code", totp.at(time.time() + 30))
    page.click("#code-form button")
    expect(page.locator("#signed-in")).to_have_text("Signed in as alice", timeout=POLL_WAIT)
    expect(page.locator("#error")).to_be_hidden()
    expect(page.locator("#recovery")).to_be_hidden()  # shown once, at enrollment
    watch.shot(page, "starlette-signed-in")
