"""The hosted pages in real headless Chromium, through the FastAPI example app.

One journey, as a new user meets it: password sign-in, TOTP enrollment read off
the page, the recovery code saved, sign-out, sign-in with TOTP (a wrong code
first), with the recovery code (the new one shown); then a second user enrolls
SMS and signs in with it until the quota refuses a resend. Guardian enrollments
hold one factor each, hence the second user for SMS. A second journey, on a
fresh service, is push: the test's Python phone scans the URI the page shows and
approves the enrollment's push, then a sign-in with number matching, a dead push
token (and TOTP from the same seed instead), a resend the quota refuses and a
push denied on the phone. Along the way: no console
error, no request leaves the service, no control without a label, nothing wider
than a 360 px phone. Screenshots of every step land in ``test-artifacts/browser``
when it fails.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from mfa import MFAService, Settings
from mfa.catalogue import CATALOGUE
from mfa.errors import PnEndpointDisabled
from mfa.testing_phone import Phone
from tests.ui.browser import (
    CHROMIUM_ARGS,
    UNLABELLED,
    LiveServer,
    Watch,
    chromium_path,
    load_example,
)
from transports.outbox import Outbox, PushOutbox

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None

CHROMIUM = chromium_path()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        sync_playwright is None or CHROMIUM is None,
        reason="BROWSER TESTS SKIPPED: no Chromium (apt-get install chromium) or no "
        "playwright package; the hosted pages were NOT checked in a browser",
    ),
]
ADMIN_KEY = "mfa_browser-operator-key-0123456789abcdefghijklmn"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
README_SHOT = os.environ.get("MFA_UI_README_SHOT")  # docs/hosted-pages.png is made so


@pytest.fixture
def host(tmp_path: Path) -> Iterator[tuple[str, MFAService]]:
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
    service = MFAService(settings)
    server = LiveServer()
    server.start(load_example("fastapi_app").build_app(server.base_url, service=service))
    try:
        yield server.base_url, service
    finally:
        server.stop()


def test_new_user_journey(host: tuple[str, MFAService]) -> None:
    base, service = host
    outbox = service.sms
    assert isinstance(outbox, Outbox)
    with httpx.Client(base_url=base + "/mfa", timeout=10) as api:
        # Two texts per user per hour: enrollment, one login; the resend is refused.
        r = api.put(
            "/api/tenants/demo/quotas",
            json={"sms_per_user": {"limit": 2, "window_seconds": 3600}},
            headers=ADMIN,
        )
        assert r.status_code == 200, r.text
    in_chromium(base, lambda page, watch: journey(page, base, watch, outbox))


def test_push_journey(host: tuple[str, MFAService]) -> None:
    base, service = host
    outbox = service.push
    assert isinstance(outbox, PushOutbox)
    with httpx.Client(base_url=base + "/mfa", timeout=10) as api:
        # Three pushes per user per hour: enrollment, one login, one more; a resend
        # after those is refused (the push to a dead token is refunded).
        r = api.put(
            "/api/tenants/demo/quotas",
            json={"pn_per_user": {"limit": 3, "window_seconds": 3600}},
            headers=ADMIN,
        )
        assert r.status_code == 200, r.text
        in_chromium(base, lambda page, watch: push_journey(page, base, watch, outbox, api))


def in_chromium(base: str, walk: Callable[[Page, Watch], None]) -> None:
    """``walk`` in a fresh Chromium on a 360 px phone screen, with the watch on."""
    watch = Watch(origin=base)
    assert sync_playwright is not None and CHROMIUM is not None
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": 360, "height": 740}, locale="en-US", device_scale_factor=1
        )
        context.set_default_timeout(10_000)
        page = context.new_page()
        watch.attach(page)
        try:
            walk(page, watch)
        except BaseException:
            with contextlib.suppress(Exception):
                watch.shot(page, "failure")
                print(f"\nfailed at {page.url}:\n{page.content()[:3000]}")
            where = watch.save()
            print(f"\nscreenshots of each step: {where.resolve()}")
            raise
        finally:
            context.close()
            browser.close()
    assert watch.console_errors == []
    assert watch.foreign_requests == []


def check_page(page: Page, watch: Watch, name: str) -> None:
    watch.shot(page, name)
    assert page.evaluate(UNLABELLED) == [], name
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{name}: {width}px wide on a 360px screen"


def sign_in(page: Page, base: str, user: str) -> None:
    page.goto(base + "/")
    page.fill("#u", user)
    page.fill("#p", "wonderland")
    page.click("form[action='/login'] button")
    page.wait_for_url(re.compile(r".*/mfa/ui/$"))


def signed_in(page: Page, user: str, method: str) -> None:
    expect(page.locator("#signed-in")).to_contain_text(f"Signed in as {user}")
    expect(page.locator("#signed-in")).to_contain_text(method)
    page.click("text=Sign out")
    expect(page.locator("h1")).to_have_text("Sign in")


def save_recovery_code(page: Page, watch: Watch, name: str) -> str:
    expect(page.locator("#screen-recovery-show")).to_be_visible()
    code = page.locator("#recovery-code").inner_text().strip()
    assert re.fullmatch(r"[A-Za-z0-9]{24}", code), code
    expect(page.locator("#recovery-continue")).to_be_disabled()
    expect(page.locator("#cancel")).to_be_hidden()  # accepted: no cancelling now
    check_page(page, watch, name)
    page.check("#recovery-saved")
    page.click("#recovery-continue")
    return code


def journey(page: Page, base: str, watch: Watch, outbox: Outbox) -> None:
    # 1. alice's first sign-in: enrollment, TOTP read off the page
    sign_in(page, base, "alice")
    expect(page.locator("h1")).to_have_text("Set up two-step verification")
    check_page(page, watch, "choose-factor")
    page.click("button.method[data-method=otp]")
    expect(page.locator("#screen-otp-enroll")).to_be_visible()
    expect(page.locator("#screen-otp-enroll .qr svg")).to_be_visible()
    secret = page.locator("#otp-secret").inner_text().replace(" ", "")
    check_page(page, watch, "totp-enroll")
    if README_SHOT:
        page.screenshot(path=README_SHOT, full_page=True)
    totp = pyotp.TOTP(secret)
    page.fill("#otp-enroll-code", totp.now())
    page.click("#screen-otp-enroll button[type=submit]")
    recovery = save_recovery_code(page, watch, "recovery-code-shown")
    signed_in(page, "alice", "otp")

    # 2. TOTP sign-in: a wrong code is answered in words, then the right one
    sign_in(page, base, "alice")
    expect(page.locator("h1")).to_have_text("Verify it's you")
    expect(page.locator("#screen-otp")).to_be_visible()
    bad = "000000" if totp.now() != "000000" else "111111"
    page.fill("#otp-code", bad)
    page.click("#screen-otp button[type=submit]")
    expect(page.locator("#mfa-error")).to_have_text(
        "That code is not right. Check your authenticator app code and try again."
    )
    check_page(page, watch, "invalid-otp")
    # The enrollment used this time step; the next one is within the allowed drift.
    page.fill("#otp-code", totp.at(int(time.time()) + 30))
    page.click("#screen-otp button[type=submit]")
    signed_in(page, "alice", "otp")

    # 3. recovery-code sign-in: the used code is replaced and the new one shown
    sign_in(page, base, "alice")
    page.click("#other-method")
    check_page(page, watch, "choose-method")
    page.click("button.method[data-method=recovery-code]")
    page.fill("#recovery-input", recovery)
    page.click("#recovery-form button[type=submit]")
    expect(page.locator("#recovery-show-intro")).to_contain_text("used and replaced")
    fresh = save_recovery_code(page, watch, "recovery-code-rotated")
    assert fresh != recovery
    signed_in(page, "alice", "recovery-code")

    # 4. bob enrolls SMS (the outbox transport stands in for the phone)
    sign_in(page, base, "bob")
    page.click("button.method[data-method=sms]")
    page.fill("#sms-phone", "+447911123456")
    page.click("#sms-phone-form button[type=submit]")
    expect(page.locator("#sms-enroll-code")).to_be_visible()
    check_page(page, watch, "sms-enroll")
    page.fill("#sms-enroll-code", last_code(outbox, "+447911123456"))
    page.click("#sms-enroll-code-form button[type=submit]")
    save_recovery_code(page, watch, "sms-recovery-code")
    signed_in(page, "bob", "sms")

    # 5. bob signs in by SMS; a resend beyond the quota shows when to retry
    sign_in(page, base, "bob")
    expect(page.locator("#screen-sms")).to_be_visible()
    page.click("#sms-send")
    expect(page.locator("#sms-code")).to_be_visible()
    code = last_code(outbox, "+447911123456")
    page.click("#sms-resend")
    expect(page.locator("#mfa-error")).to_contain_text(
        "You have asked for too many text messages. Try again in"
    )
    expect(page.locator("#sms-wait")).to_contain_text("You can ask for a new code in")
    expect(page.locator("#sms-resend")).to_be_disabled()
    check_page(page, watch, "too-many-sms")
    page.fill("#sms-code", code)
    page.click("#sms-code-form button[type=submit]")
    signed_in(page, "bob", "sms")

    # 6. cancel, and a transaction ended by wrong codes: both go back with a code
    sign_in(page, base, "alice")
    page.click("#cancel")
    expect(page.locator("#mfa-failed")).to_contain_text("(cancelled)")
    sign_in(page, base, "alice")
    for _ in range(6):
        page.fill("#otp-code", bad)
        page.click("#screen-otp button[type=submit]")
        expect(page.locator("#mfa-status")).to_be_empty()
    expect(page.locator("#screen-final")).to_be_visible()
    expect(page.locator("#mfa-error")).to_have_text(
        "Your sign-in attempt has ended. Please start again."
    )
    check_page(page, watch, "final-error")
    page.click("#final-back")
    expect(page.locator("#mfa-failed")).to_contain_text("(login_transaction_not_found)")


def last_code(outbox: Outbox, phone: str) -> str:
    messages: list[Any] = [m for m in outbox.messages if m.to == phone]
    assert messages, "no SMS sent"
    return str(messages[-1].code)


def push_journey(
    page: Page, base: str, watch: Watch, outbox: PushOutbox, api: httpx.Client
) -> None:
    # 1. alice enrolls her phone: it scans the URI the page shows, then approves
    #    the push the page sends once it sees the enrollment
    sign_in(page, base, "alice")
    page.click("button.method[data-method=push]")
    expect(page.locator("#push-qr svg")).to_be_visible()
    check_page(page, watch, "push-enroll")
    uri = page.locator("#push-qr").get_attribute("data-uri")
    assert uri is not None
    phone = Phone("http://unused.example", name="Alice's phone")
    r = api.send(phone.enroll_request(uri))
    assert r.status_code == 200, r.text
    phone.enrolled(r)
    assert phone.base_url == base + "/mfa"  # the URI's base_url: the mounted service
    expect(page.locator("#push-waiting")).to_be_visible()
    expect(page.locator("#mfa-status")).to_have_text("Your phone is connected.")
    expect(page.locator("#other-method")).to_be_hidden()
    check_page(page, watch, "push-enroll-approve")
    phone_answers(api, phone, outbox, 1, accept=True)
    save_recovery_code(page, watch, "push-recovery-code")
    signed_in(page, "alice", "push")

    # 2. sign-in with number matching, by keyboard: the page shows the number and
    #    the phone signs back the one the user picks
    r = api.put(
        "/api/tenants/demo/features/push_number_matching", json={"enabled": True}, headers=ADMIN
    )
    assert r.status_code == 200, r.text
    sign_in(page, base, "alice")
    expect(page.locator("#screen-push")).to_be_visible()
    expect(page.locator("#push-title")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#push-send")).to_be_focused()
    page.keyboard.press("Enter")
    number = page.locator("#push-number")
    expect(number).to_have_text(re.compile(r"^[0-9]{2}$"))
    check_page(page, watch, "push-number")
    phone_answers(api, phone, outbox, 2, accept=True, number=number.inner_text())
    signed_in(page, "alice", "push")

    # 3. the provider says the phone's push token is dead (app reinstalled): the
    #    page says so in the catalogue's words, the authenticator app (the same
    #    seed) still signs in, and the phone re-registers a token for next time
    outbox.fail_with = PnEndpointDisabled
    sign_in(page, base, "alice")
    page.click("#push-send")
    expect(page.locator("#mfa-error")).to_have_text(CATALOGUE["pn_endpoint_disabled"].user_message)
    expect(page.locator("#push-waiting")).to_be_hidden()
    check_page(page, watch, "pn-endpoint-disabled")
    outbox.fail_with = None
    page.click("#other-method")
    page.click("button.method[data-method=otp]")
    assert phone.account is not None
    page.fill("#otp-code", pyotp.TOTP(phone.account.totp_secret).now())
    page.click("#screen-otp button[type=submit]")
    signed_in(page, "alice", "otp")
    r = api.send(phone.update_request(push_token="pt-reinstalled"))
    assert r.status_code == 200, r.text
    phone.push_token = "pt-reinstalled"

    # 4. a resend beyond the quota shows when to retry; the push still out is
    #    then denied on the phone, and the page says so
    sign_in(page, base, "alice")
    page.click("#push-send")
    expect(page.locator("#push-waiting")).to_be_visible()
    page.click("#push-resend")
    expect(page.locator("#mfa-error")).to_contain_text(
        "You have asked for too many notifications. Try again in"
    )
    expect(page.locator("#push-wait")).to_contain_text("You can send a new notification in")
    expect(page.locator("#push-resend")).to_be_disabled()
    check_page(page, watch, "too-many-pn")
    phone_answers(api, phone, outbox, 3, accept=False)
    expect(page.locator("#screen-push-denied")).to_be_visible()
    expect(page.locator("#push-denied-text")).to_contain_text(
        "This sign-in was denied on your phone."
    )
    expect(page.locator("#cancel")).to_be_hidden()
    check_page(page, watch, "push-denied")
    page.click("#push-denied-back")
    expect(page.locator("#mfa-failed")).to_contain_text("(rejected)")


def phone_answers(
    api: httpx.Client,
    phone: Phone,
    outbox: PushOutbox,
    sent: int,
    *,
    accept: bool,
    number: str | None = None,
) -> None:
    """The phone answers the newest push, which must be the ``sent``-th one."""
    assert len(outbox.messages) == sent, outbox.messages
    message = outbox.last(phone.push_token)
    assert message is not None
    r = api.send(phone.resolve_request(message.payload, accept=accept, number=number))
    assert r.status_code == 204, r.text
