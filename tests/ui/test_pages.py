"""The hosted pages, server side: entry checks, rendering, security headers, language."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from mfa.factors import totp
from mfa.testing import FrozenClock
from tests.conftest import Api
from tests.ui.conftest import HOST, RETURN_TO
from tests.ui.pages import parse

pytestmark = pytest.mark.anyio


async def enter(
    api: Api, token: str | None, *, method: str = "POST", **extra: Any
) -> httpx.Response:
    """The browser arriving at /ui/ from the host (a field given as None is left out)."""
    fields = {"token": token, "return_to": RETURN_TO, "state": "st-1", **extra}
    fields = {k: v for k, v in fields.items() if v is not None}
    if method == "GET":
        return await api.http.get("/ui/", params=fields)
    return await api.http.post("/ui/", data=fields)


async def enrolled(api: Api, clock: FrozenClock, tenant: str, user: str) -> str:
    body = await api.start(tenant, user)
    secret = body["device_account"]["otp_secret"]
    r = await api.post(
        "/api/verify-otp", body["transaction_token"], {"code": totp.code_at(secret, clock())}
    )
    assert r.status_code == 204, r.text
    clock.advance(30)
    return str(secret)


async def test_enrollment_page_renders_the_flow(api: Api, tenant: str) -> None:
    r = await enter(api, await api.request_token(tenant, "bob@example.com"))
    assert r.status_code == 200, r.text
    page = parse(r)
    data = page.data()
    assert data["mode"] == "enroll"
    assert data["methods"] == ["otp", "sms", "push"]
    assert re.fullmatch(r"[A-Za-z0-9]{24}", data["recoveryCode"])
    secret = page.by_id("otp-secret").attrs["data-secret"]
    assert page.by_id("otp-secret").text.replace(" ", "") == secret
    assert "<svg" in r.text and 'class="segno"' in r.text
    assert page.return_fields() == {"state": "st-1"}
    assert page.by_id("mfa-return").attrs["action"] == RETURN_TO
    assert "Acme &amp; Co" in r.text  # the tenant's name, escaped
    # the transaction token opens the rest of the flow over the factor protocol
    state = await api.state(data["token"])
    assert state["state"] == "pending"


async def test_security_headers_of_a_page_with_secrets(api: Api, tenant: str) -> None:
    r = await enter(api, await api.request_token(tenant, "bob"))
    csp = r.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["form-action"] == HOST
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp
    assert re.fullmatch(r"'self' 'sha256-[A-Za-z0-9+/=]+'", directives["style-src"])
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"


async def test_no_inline_script_and_nothing_from_outside(api: Api, tenant: str) -> None:
    r = await enter(api, await api.request_token(tenant, "bob"))
    page = parse(r)
    for script in page.all("script"):
        # either a file of the service, or a JSON data block the browser never runs
        assert script.attrs.get("src") == "static/mfa.js" or (
            script.attrs.get("type") == "application/json" and "src" not in script.attrs
        ), script
    for tag in page.tags:
        for attr in ("src", "href"):
            if attr in tag.attrs:
                assert "//" not in tag.attrs[attr], tag
        assert not any(a.startswith("on") for a in tag.attrs), tag
        assert "style" not in tag.attrs, tag


async def test_every_input_has_a_label(api: Api, tenant: str, clock: FrozenClock) -> None:
    for user in ("new-user", "old-user"):
        if user == "old-user":
            await enrolled(api, clock, tenant, user)
        page = parse(await enter(api, await api.request_token(tenant, user)))
        labelled = {t.attrs["for"] for t in page.all("label")}
        for field in page.all("input"):
            if field.attrs.get("type") != "hidden":
                assert field.attrs["id"] in labelled, field


async def test_static_assets_are_served(api: Api) -> None:
    js = await api.http.get("/ui/static/mfa.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    css = await api.http.get("/ui/static/mfa.css")
    assert css.status_code == 200 and "css" in css.headers["content-type"]
    assert "//" not in re.sub(r"/\*.*?\*/", "", css.text, flags=re.S).replace("://", "")


async def test_login_page_offers_the_enrolled_factors(
    api: Api, tenant: str, clock: FrozenClock
) -> None:
    await enrolled(api, clock, tenant, "carol")
    r = await enter(api, await api.request_token(tenant, "carol"))
    assert r.status_code == 200, r.text
    data = parse(r).data()
    assert data["mode"] == "login"
    assert data["methods"] == ["otp", "recovery-code"]
    assert data["recoveryCode"] is None
    assert "otp-secret" not in r.text


async def test_get_entry_works_for_simple_setups(api: Api, tenant: str) -> None:
    r = await enter(api, await api.request_token(tenant, "bob"), method="GET")
    assert r.status_code == 200
    assert parse(r).data()["mode"] == "enroll"


@pytest.mark.parametrize(
    "return_to",
    [
        "https://evil.example/mfa/return",
        "https://app.example.com.evil.example/mfa/return",
        "https://app.example.com@evil.example/mfa/return",
        "https://app.example.com/mfa/return/../../evil",
        "//evil.example/",
        "javascript:alert(1)",
    ],
)
async def test_no_open_redirect(api: Api, tenant: str, return_to: str) -> None:
    token = await api.request_token(tenant, "bob")
    r = await enter(api, token, return_to=return_to)
    assert r.status_code == 400
    page = parse(r)
    assert page.by_id("mfa-error").attrs["data-code"] == "invalid_body"
    assert page.by_id("mfa-error").text == "Something went wrong. Please try again."
    assert "mfa-return" not in r.text and "evil" not in r.text
    assert "form-action 'none'" in r.headers["content-security-policy"]
    # the refusal did not consume the token: the host can send the user again
    assert (await enter(api, token)).status_code == 200


async def test_a_tenant_without_allowlist_returns_nowhere(api: Api) -> None:
    tid = await api.tenant("bare", "Bare")
    r = await enter(api, await api.request_token(tid, "bob"))
    assert r.status_code == 400
    assert "mfa-return" not in r.text


async def test_cross_site_post_from_an_unlisted_origin_is_refused(api: Api, tenant: str) -> None:
    token = await api.request_token(tenant, "bob")
    fields = {"token": token, "return_to": RETURN_TO}
    r = await api.http.post("/ui/", data=fields, headers={"Origin": "https://evil.example"})
    assert r.status_code == 400
    assert parse(r).by_id("mfa-error").attrs["data-code"] == "invalid_body"
    for origin in (HOST, "http://mfa.test"):  # the host on the allowlist, the service itself
        token = await api.request_token(tenant, "bob")
        r = await api.http.post("/ui/", data={**fields, "token": token}, headers={"Origin": origin})
        assert r.status_code == 200, (origin, r.text)


async def test_errors_after_the_check_return_with_the_code(api: Api, tenant: str) -> None:
    token = await api.request_token(tenant, "bob")
    assert (await enter(api, token)).status_code == 200
    r = await enter(api, token)  # a request token opens one transaction
    assert r.status_code == 401
    page = parse(r)
    assert (
        page.by_id("mfa-error").text == "This sign-in link is no longer valid. Please start again."
    )
    assert page.return_fields() == {"state": "st-1", "error": "invalid_token"}


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"token": None}, 400, "field_required"),
        ({"return_to": None}, 400, "field_required"),
        ({"ticket": "tkt_x"}, 400, "field_required"),  # token and ticket both
        ({"token": "not-a-jwt"}, 401, "invalid_token"),
        ({"extra": "1"}, 400, "invalid_body"),
        ({"state": "x" * 1025}, 400, "invalid_body"),
    ],
)
async def test_bad_entries_show_one_catalogue_error(
    api: Api, tenant: str, fields: dict[str, Any], status: int, code: str
) -> None:
    r = await enter(api, **{"token": await api.request_token(tenant, "bob"), **fields})
    assert r.status_code == status, r.text
    assert parse(r).by_id("mfa-error").attrs["data-code"] == code
    assert r.headers["content-type"].startswith("text/html")


async def test_bad_get_query_and_bad_form_type(api: Api, tenant: str) -> None:
    r = await api.http.get("/ui/", params={"token": "x", "return_to": RETURN_TO, "foo": "1"})
    assert r.status_code == 400
    assert parse(r).by_id("mfa-error").attrs["data-code"] == "invalid_query_string"
    r = await api.http.post("/ui/", json={"token": "x", "return_to": RETURN_TO})
    assert r.status_code == 400
    assert parse(r).by_id("mfa-error").attrs["data-code"] == "invalid_body"


async def test_enrollment_ticket_entry(api: Api, tenant: str) -> None:
    r = await api.http.post(
        f"/api/tenants/{tenant}/enrollment-tickets", json={"user_id": "dan"}, headers=api.admin
    )
    ticket = r.json()["ticket_id"]
    r = await api.http.post("/ui/", data={"ticket": ticket, "return_to": RETURN_TO})
    assert r.status_code == 200, r.text
    assert parse(r).data()["mode"] == "enroll"


async def test_language_from_accept_language(api: Api, tenant: str) -> None:
    token = await api.request_token(tenant, "bob")
    r = await api.http.post(
        "/ui/",
        data={"token": token, "return_to": RETURN_TO},
        headers={"Accept-Language": "de-DE, fr;q=0.8, en;q=0.5"},
    )
    assert r.headers["content-language"] == "fr"
    assert '<html lang="fr">' in r.text
    assert "Configurer la validation en deux étapes" in r.text
    messages = parse(r).data()["messages"]
    assert messages["errors"]["invalid_otp"].startswith("Ce code n'est pas correct")
    assert messages["errors"]["too_many_sms_per_tenant"].startswith("Acme & Co ne peut plus")
    # an error page in French, with the catalogue's message translated
    r = await api.http.post(
        "/ui/", data={"token": token, "return_to": RETURN_TO}, headers={"Accept-Language": "fr"}
    )
    assert (
        parse(r).by_id("mfa-error").text
        == "Ce lien de connexion n'est plus valide. Veuillez recommencer."
    )


async def test_tenant_branding(api: Api, tenant: str) -> None:
    r = await api.http.put(
        f"/api/tenants/{tenant}/hosted-pages",
        json={
            "allowed_return_urls": [RETURN_TO],
            "logo_url": "https://cdn.example.com/acme.svg",
            "primary_color": "#123abc",
        },
        headers=api.admin,
    )
    assert r.status_code == 200
    r = await enter(api, await api.request_token(tenant, "bob"))
    page = parse(r)
    logo = page.all("img")[0]
    assert logo.attrs["src"] == "https://cdn.example.com/acme.svg" and logo.attrs["alt"]
    assert "<style>:root{--mfa-primary:#123abc}</style>" in r.text
    assert "img-src 'self' https://cdn.example.com;" in r.headers["content-security-policy"]


async def test_hostile_tenant_name_and_state_stay_text(api: Api) -> None:
    name = '</script><script>alert(1)</script><img src=x onerror="alert(2)">'
    tid = await api.tenant("evil", name)
    r = await api.http.put(
        f"/api/tenants/{tid}/hosted-pages",
        json={"allowed_return_urls": [RETURN_TO]},
        headers=api.admin,
    )
    assert r.status_code == 200
    state = '"><script>alert(3)</script>'
    r = await enter(api, await api.request_token(tid, "bob"), state=state)
    assert r.status_code == 200, r.text
    assert "<script>alert" not in r.text and "<img src=x" not in r.text
    page = parse(r)
    assert [s.attrs.get("src") for s in page.all("script")] == [None, "static/mfa.js"]
    assert page.return_fields()["state"] == state  # handed back exactly as given
    # the data block still parses, with the name inside as plain text
    assert name in page.data()["messages"]["errors"]["too_many_sms_per_tenant"]
