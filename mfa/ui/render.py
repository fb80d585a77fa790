"""Rendering of the hosted pages and the headers that keep them safe.

Each response gets its own Content-Security-Policy: scripts and styles only from
the service itself (the one inline ``<style>``, the tenant's colour, allowed by
its hash), fetches only to the service, images from the service and the
tenant's logo origin, and forms only to the checked ``return_to`` origin. The
page's data travels as a JSON data block, which the CSP does not execute.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from starlette.responses import HTMLResponse

from mfa.errors import MFAError
from mfa.factors import totp
from mfa.flows.records import PendingEnrollment, StartedTransaction
from mfa.storage.base import Tenant
from mfa.ui import i18n, policy

OFFERED = ("otp", "sms", "push")
LOGIN_OFFERED = (*OFFERED, "recovery-code")

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("mfa.ui", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Return:
    """Where and with what the page hands the browser back to the host."""

    url: str
    state: str


@dataclass(frozen=True)
class Flow:
    """What start-flow answered, shaped for the page."""

    mode: str  # "enroll" or "login"
    token: str
    methods: list[str]
    enrollment_id: str
    otp_length: int
    phone: str | None = None
    secret: str | None = None
    recovery_code: str | None = None
    otpauth_uri: str | None = None
    push_uri: str | None = None  # what the phone app scans (guardian-wire §3.6)

    @classmethod
    def from_start(
        cls, started: StartedTransaction, tenant: Tenant, user_id: str, service_url: str
    ) -> Flow:
        """``service_url``: the sub-app's URL as the phone must reach it (mount included)."""
        account = started.enrollment
        if isinstance(account, PendingEnrollment):
            secret = account.otp_secret
            methods = [m for m in started.enrollable if m in OFFERED]
            push = (
                push_enrollment_uri(
                    secret=secret,
                    ticket=account.ticket,
                    enrollment_id=account.enrollment_id,
                    account=user_id,
                    issuer=tenant.name,
                    service_url=service_url,
                )
                if "push" in methods
                else None
            )
            return cls(
                mode="enroll",
                token=started.token,
                methods=methods,
                enrollment_id=account.enrollment_id,
                otp_length=started.sms_otp_length,
                secret=secret,
                recovery_code=account.recovery_code,
                otpauth_uri=totp.provisioning_uri(secret, user_id, tenant.name),
                push_uri=push,
            )
        return cls(
            mode="login",
            token=started.token,
            methods=[m for m in account.authenticator_types if m in LOGIN_OFFERED],
            enrollment_id=account.enrollment_id,
            otp_length=started.sms_otp_length,
            phone=account.phone_masked,
        )


def push_enrollment_uri(
    *, secret: str, ticket: str, enrollment_id: str, account: str, issuer: str, service_url: str
) -> str:
    """The push enrollment URI the Guardian apps scan, as auth0-guardian-js builds it
    (guardian-wire §3.6): the TOTP seed plus the ticket, the enrollment id and the
    base URL the phone calls back. Every part is percent-encoded like JavaScript's
    ``encodeURIComponent`` (so a space is ``%20`` and the URL's slashes are escaped)."""
    label = quote(issuer, safe="") + ":" + quote(account, safe="")
    query = urlencode(
        {
            "secret": secret,
            "enrollment_tx_id": ticket,
            "issuer": issuer,
            "id": enrollment_id,
            "base_url": service_url,
            "algorithm": "sha1",
            "digits": totp.DIGITS,
            "counter": 0,
            "period": totp.PERIOD,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


def _script_json(data: dict[str, Any]) -> str:
    # Inside <script type="application/json"> nothing is decoded, so the JSON must
    # not be able to close the element: <, > and & travel as \u escapes.
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _theme(tenant: Tenant | None) -> str:
    color = tenant.hosted_pages.primary_color if tenant else None
    return f":root{{--mfa-primary:{color}}}" if color else ""


def _csp(theme: str, logo: str | None, back: Return | None) -> str:
    styles = ["'self'"]
    if theme:
        digest = base64.b64encode(hashlib.sha256(theme.encode()).digest()).decode()
        styles.append(f"'sha256-{digest}'")
    images = ["'self'"]
    if logo and not logo.startswith("/"):
        images.append(policy.origin_of(logo))
    forms = policy.origin_of(back.url) if back else "'none'"
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            f"style-src {' '.join(styles)}",
            f"img-src {' '.join(images)}",
            "connect-src 'self'",
            f"form-action {forms}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


def _respond(
    template: str, status: int, lang: str, tenant: Tenant | None, back: Return | None, **kw: Any
) -> HTMLResponse:
    messages = i18n.Messages(lang, tenant.name if tenant else "")
    if tenant is None:
        messages = i18n.Messages(lang, messages.ui("unknown_tenant"))
    theme = _theme(tenant)
    logo = tenant.hosted_pages.logo_url if tenant else None
    html = _ENV.get_template(template).render(
        lang=lang,
        t=messages,
        tenant_name=tenant.name if tenant else "",
        logo_url=logo,
        theme_css=theme,
        back=back,
        **kw,
    )
    headers = {
        "Content-Security-Policy": _csp(theme, logo, back),
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Content-Language": lang,
        "Cache-Control": "no-store",  # secrets show: the seed, the recovery code
    }
    return HTMLResponse(html, status_code=status, headers=headers)


def render_flow(flow: Flow, lang: str, tenant: Tenant, back: Return) -> HTMLResponse:
    messages = i18n.Messages(lang, tenant.name)
    data = {
        "mode": flow.mode,
        "token": flow.token,
        "methods": flow.methods,
        "enrollmentId": flow.enrollment_id,
        "otpLength": flow.otp_length,
        "recoveryCode": flow.recovery_code,
        "pushUri": flow.push_uri,
        "messages": messages.for_script(),
    }
    qr = totp.qr_svg(flow.otpauth_uri) if flow.otpauth_uri else ""
    push_qr = totp.qr_svg(flow.push_uri) if flow.push_uri else ""
    return _respond(
        "flow.html",
        200,
        lang,
        tenant,
        back,
        flow=flow,
        qr_svg=qr,
        push_qr_svg=push_qr,
        secret_groups=_groups(flow.secret or ""),
        data_json=_script_json(data),
    )


def render_error(
    error: MFAError, lang: str, tenant: Tenant | None, back: Return | None
) -> HTMLResponse:
    name = tenant.name if tenant else i18n.Messages(lang, "").ui("unknown_tenant")
    messages = i18n.Messages(lang, name)
    text = messages.error(
        error.code,
        method=messages.method(error.method or ""),
        field=messages.field(error.field or ""),
        retry_after=str(error.retry_after or 60),
        length="6",
    )
    return _respond("error.html", error.status, lang, tenant, back, code=error.code, message=text)


def _groups(secret: str) -> str:
    # Groups of four are easier to type into an app by hand; apps ignore spaces.
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
