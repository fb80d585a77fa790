"""The push screens, server side: offered only when available, the QR the phone
scans (guardian-wire §3.6), the login screens after a push enrollment, French.

What the screens do in a browser (polling, approve, deny, the quota's hold) is
the journey of ``tests/ui/test_browser.py``.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.routing import Mount

from mfa import create_app
from mfa.factors import totp
from mfa.testing import FrozenClock
from mfa.testing_phone import Phone
from tests.conftest import Api
from tests.ui.conftest import RETURN_TO
from tests.ui.pages import Page, parse
from tests.ui.test_pages import enter

pytestmark = pytest.mark.anyio

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # one keygen per run


def push_uri(page: Page) -> str:
    uri = page.by_id("push-qr").attrs["data-uri"]
    assert page.data()["pushUri"] == uri
    return uri


async def test_push_is_offered_only_when_the_tenant_allows_it(api: Api, tenant: str) -> None:
    r = await enter(api, await api.request_token(tenant, "bob"))
    page = parse(r)
    assert "push" in page.data()["methods"]
    buttons = {b.attrs.get("data-method"): b.text for b in page.all("button")}
    assert buttons["push"] == "Push notification"
    assert page.by_id("push-qr").attrs["role"] == "img"

    r = await api.http.put(
        f"/api/tenants/{tenant}/factors/push", json={"enabled": False}, headers=api.admin
    )
    assert r.status_code == 200, r.text
    r = await enter(api, await api.request_token(tenant, "carol"))
    page = parse(r)
    assert page.data()["methods"] == ["otp", "sms"]
    assert page.data()["pushUri"] is None
    assert "push" not in {b.attrs.get("data-method") for b in page.all("button")}
    for ident in ("push-qr", "screen-push", "push-send"):
        assert f'id="{ident}"' not in r.text, ident


async def test_the_qr_carries_the_enrollment_uri_the_phone_enrolls_with(
    api: Api, tenant: str, clock: FrozenClock
) -> None:
    r = await enter(api, await api.request_token(tenant, "bob@example.com"))
    page = parse(r)
    uri = push_uri(page)
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert parts.path == "/Acme%20%26%20Co:bob%40example.com"  # encodeURIComponent, as JS
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    secret = page.by_id("otp-secret").attrs["data-secret"]
    assert query == {
        "secret": secret,  # the same seed as the TOTP screen: push enrolls TOTP too
        "enrollment_tx_id": query["enrollment_tx_id"],
        "issuer": "Acme & Co",
        "id": page.data()["enrollmentId"],
        "base_url": "http://mfa.test",  # where the phone reaches the service
        "algorithm": "sha1",
        "digits": "6",
        "counter": "0",
        "period": "30",
    }
    assert query["enrollment_tx_id"].startswith("etx_")
    # The QR is that URI (segno is deterministic: the same text, the same code).
    qr = page.by_id("push-qr")
    assert totp.qr_svg(uri) in r.text and qr.attrs["aria-label"]
    # A phone that scans it enrolls, and the page's transaction shows the enrollment.
    phone = Phone("http://wrong.example", key=KEY, clock=clock)
    answer = await api.http.send(phone.enroll_request(uri))
    assert answer.status_code == 200, answer.text
    assert phone.base_url == "http://mfa.test"  # taken from the URI
    assert phone.enrolled(answer).totp_secret == secret
    state = await api.state(page.data()["token"])
    assert state["state"] == "pending" and state["enrollment"]["name"] == "Sim Phone"


async def test_under_a_host_mount_the_phone_is_sent_to_the_mount(api: Api, tenant: str) -> None:
    host = Starlette(routes=[Mount("/mfa", app=create_app(service=api.service))])
    transport = httpx.ASGITransport(app=host)
    token = await api.request_token(tenant, "bob")
    async with httpx.AsyncClient(transport=transport, base_url="https://app.example.com") as http:
        r = await http.post("/mfa/ui/", data={"token": token, "return_to": RETURN_TO})
    assert r.status_code == 200, r.text
    query = parse_qs(urlsplit(push_uri(parse(r))).query)
    assert query["base_url"] == ["https://app.example.com/mfa"]


async def test_login_after_a_push_enrollment_offers_push_then_totp(
    api: Api, tenant: str, clock: FrozenClock
) -> None:
    start = await api.start(tenant, "dora")
    phone = Phone("http://mfa.test", key=KEY, clock=clock)
    phone.enrolled(await api.http.send(phone.enroll_request(start["enrollment_tx_id"])))
    r = await enter(api, await api.request_token(tenant, "dora"))
    assert r.status_code == 200, r.text
    page = parse(r)
    data = page.data()
    assert data["mode"] == "login"
    assert data["methods"] == ["push", "otp", "recovery-code"]
    assert data["pushUri"] is None and 'id="push-qr"' not in r.text
    assert page.by_id("push-send").text == "Send a push"
    assert page.by_id("push-number").attrs["aria-live"] == "assertive"
    assert page.by_id("push-denied-title").text == "Denied on your phone"
    assert page.by_id("push-denied-back").text == "Return to the site"


async def test_push_screens_in_french(api: Api, tenant: str) -> None:
    token = await api.request_token(tenant, "bob")
    r = await api.http.post(
        "/ui/",
        data={"token": token, "return_to": RETURN_TO},
        headers={"Accept-Language": "fr"},
    )
    page = parse(r)
    assert page.by_id("push-enroll-wait").text.startswith("En attente de votre téléphone")
    assert page.by_id("push-title").text == "Approuvez sur votre téléphone"
    assert page.by_id("push-qr").attrs["aria-label"].startswith("Code QR pour l'application")
    messages = page.data()["messages"]
    assert messages["ui"]["push_wait"].startswith("Vous pourrez envoyer une nouvelle notification")
    assert messages["errors"]["too_many_pn"].endswith("{retry_after} secondes.")
    assert messages["errors"]["pn_endpoint_disabled"] != (
        "We cannot reach your phone any more. Remove the account from the app and add it again."
    )
