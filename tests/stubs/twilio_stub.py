"""A local server that speaks Twilio's REST wire format for sending SMS.

It implements the one call mfa makes, ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``
(form-encoded ``To``, ``From`` or ``MessagingServiceSid``, ``Body``), the way Twilio
answers it: HTTP Basic auth with the account SID and auth token (401 and error 20003
otherwise), 404 and error 20404 for another account's path, a ``201`` Message
resource on success, and Twilio's JSON error body ``{"code", "message", "more_info",
"status"}`` on failure. The real ``twilio`` SDK is pointed at it through
``MFA_TWILIO_BASE_URL``; nothing in the SDK is patched.

Failures are scripted by the ``To`` number (:data:`SCRIPTED`). The first five are
Twilio's own magic test numbers (they answer the same with Twilio's test
credentials); the others are ours. Tests may add entries to
:attr:`TwilioStub.scripted` for one test; :meth:`TwilioStub.reset` restores the table.
Error messages echo the number, as Twilio's do, so tests can check that none of
the vendor's text reaches our errors or logs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.stubs.server import StubServer

API_VERSION = "2010-04-01"
DEFAULT_FROM = "+15005550006"  # Twilio's magic "valid From" test number

# Twilio's magic test numbers (https://www.twilio.com/docs/iam/test-credentials).
INVALID_NUMBER = "+15005550001"  # 21211
CANNOT_ROUTE = "+15005550002"  # 21612
NO_GEO_PERMISSION = "+15005550003"  # 21408
BLOCKED = "+15005550004"  # 21610
NOT_MOBILE = "+15005550009"  # 21614
# Ours.
LANDLINE = "+15005550010"  # 21635
RATE_LIMITED = "+15005550020"  # HTTP 429, 20429
SERVER_ERROR = "+15005550030"  # HTTP 500, 20500
UNAVAILABLE_HTML = "+15005550031"  # HTTP 503 with an HTML page, as a load balancer sends
SLOW = "+15005550040"  # answers 201, but only after 30 s
PUMPING_BLOCKED = "+15005550050"  # 30450, SMS pumping protection
FROM_NOT_CAPABLE = "+15005550060"  # 21606, the configured sender is wrong


@dataclass(frozen=True, slots=True)
class Scripted:
    """How the stub answers a send to one number.

    ``code=None`` answers with a non-JSON body (``message`` as HTML). ``delay``
    seconds pass before the answer; ``status`` 201 then sends the message normally.
    ``problem=True`` answers in the RFC 9457 form of Twilio's newer APIs
    (``type``, ``title``, ``status``, ``code``, ``detail``).
    """

    status: int
    code: int | None = None
    message: str = ""
    delay: float = 0.0
    retry_after: int | None = None
    problem: bool = False


SCRIPTED: dict[str, Scripted] = {
    INVALID_NUMBER: Scripted(400, 21211, "The 'To' number {to} is not a valid phone number."),
    CANNOT_ROUTE: Scripted(
        400,
        21612,
        "The 'To' phone number: {to}, is not currently reachable using the 'From' phone "
        "number: {from_} via SMS.",
    ),
    NO_GEO_PERMISSION: Scripted(
        400,
        21408,
        "Permission to send an SMS has not been enabled for the region indicated by the "
        "'To' number: {to}.",
    ),
    BLOCKED: Scripted(400, 21610, "Attempt to send to unsubscribed recipient"),
    NOT_MOBILE: Scripted(400, 21614, "'To' number {to} is not a valid mobile number"),
    LANDLINE: Scripted(400, 21635, "'To' number {to} cannot be a landline"),
    RATE_LIMITED: Scripted(429, 20429, "Too Many Requests", retry_after=1),
    SERVER_ERROR: Scripted(500, 20500, "An internal server error has occurred"),
    UNAVAILABLE_HTML: Scripted(
        503, None, "<html><body><h1>503 Service Unavailable</h1></body></html>"
    ),
    SLOW: Scripted(201, delay=30.0),
    PUMPING_BLOCKED: Scripted(400, 30450, "Message delivery blocked to {to}"),
    FROM_NOT_CAPABLE: Scripted(
        400,
        21606,
        "The 'From' phone number provided ({from_}) is not a valid message-capable Twilio "
        "phone number for this destination.",
    ),
}


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message the stub accepted (answered 201)."""

    sid: str
    account_sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    form: dict[str, str]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """Any request the stub received, accepted or not."""

    method: str
    path: str
    authorized: bool
    form: dict[str, str]
    headers: dict[str, str] = field(repr=False)


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
        headers=headers,
    )


def _problem(
    status: int, code: int, detail: str, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(
        {
            "type": f"https://www.twilio.com/docs/errors/{code}",
            "title": "Unable to create record",
            "status": status,
            "code": code,
            "detail": detail,
        },
        status_code=status,
        headers=headers,
        media_type="application/problem+json",
    )


class TwilioStub(StubServer):
    """The stub server; use as a context manager or through the ``twilio_stub`` fixture."""

    def __init__(self, *, account_sid: str | None = None, auth_token: str | None = None) -> None:
        self.account_sid = account_sid or _sid("AC")
        self.auth_token = auth_token or secrets.token_hex(16)
        self.from_ = DEFAULT_FROM
        self.scripted: dict[str, Scripted] = dict(SCRIPTED)
        self.sent: list[SentMessage] = []
        self.requests: list[RecordedRequest] = []
        # Set on stop and reset so that a scripted slow answer never outlives its test.
        self.app = Starlette(
            routes=[
                Route(
                    f"/{API_VERSION}/Accounts/{{account_sid}}/Messages.json",
                    self._create_message,
                    methods=["POST"],
                ),
                Route("/{path:path}", self._not_found, methods=["GET", "POST", "DELETE"]),
            ]
        )
        super().__init__(self.app)

    @property
    def base_url(self) -> str:
        return self._server.base_url

    def settings_overrides(self) -> dict[str, Any]:
        """Keyword arguments for :class:`mfa.settings.Settings` that send SMS here."""
        return {
            "sms_transport": "twilio",
            "twilio_account_sid": self.account_sid,
            "twilio_auth_token": self.auth_token,
            "twilio_from": self.from_,
            "twilio_base_url": self.base_url,
        }

    def env(self) -> dict[str, str]:
        """The same as ``MFA_*`` environment variables, for a service run as a process."""
        return {"MFA_" + k.upper(): str(v) for k, v in self.settings_overrides().items()}

    def sent_to(self, to: str) -> list[SentMessage]:
        return [m for m in self.sent if m.to == to]

    def reset(self) -> None:
        self._release_sleepers()
        self.scripted = dict(SCRIPTED)
        self.sent.clear()
        self.requests.clear()

    # --- the API ------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, _, password = decoded.partition(":")
        return secrets.compare_digest(user, self.account_sid) and secrets.compare_digest(
            password, self.auth_token
        )

    async def _create_message(self, request: Request) -> Response:
        raw = (await request.body()).decode()
        form = dict(parse_qsl(raw, keep_blank_values=True))
        authorized = self._authorized(request)
        self.requests.append(
            RecordedRequest(
                request.method, request.url.path, authorized, form, dict(request.headers)
            )
        )
        if not authorized:
            return _error(
                401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'}
            )
        account_sid = request.path_params["account_sid"]
        if account_sid != self.account_sid:
            return _error(404, 20404, f"The requested resource {request.url.path} was not found")
        to, from_ = form.get("To", ""), form.get("From")
        service_sid, body = form.get("MessagingServiceSid"), form.get("Body", "")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not from_ and not service_sid:
            return _error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return _error(400, 21602, "Message body is required.")

        scripted = self.scripted.get(to)
        if scripted is not None:
            # Cut short by stop() or reset(): the client has long gone, record nothing.
            if scripted.delay and await self._sleep(scripted.delay):
                return _error(503, 20503, "Service unavailable")
            if scripted.status >= 300:
                text = scripted.message.format(to=to, from_=from_)
                headers = (
                    {"Retry-After": str(scripted.retry_after)} if scripted.retry_after else None
                )
                if scripted.code is None:
                    return Response(text, scripted.status, headers, media_type="text/html")
                if scripted.problem:
                    return _problem(scripted.status, scripted.code, text, headers)
                return _error(scripted.status, scripted.code, text, headers)

        sid = _sid("SM")
        self.sent.append(SentMessage(sid, account_sid, to, from_, service_sid, body, form))
        now = format_datetime(datetime.now(UTC))
        uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}"
        return JSONResponse(
            {
                "account_sid": account_sid,
                "api_version": API_VERSION,
                "body": body,
                "date_created": now,
                "date_sent": None,
                "date_updated": now,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": from_,
                "messaging_service_sid": service_sid,
                "num_media": "0",
                "num_segments": "1",
                "price": None,
                "price_unit": "USD",
                "sid": sid,
                "status": "queued" if from_ else "accepted",
                "subresource_uris": {"media": f"{uri}/Media.json"},
                "to": to,
                "uri": f"{uri}.json",
            },
            status_code=201,
        )

    async def _sleep(self, seconds: float) -> bool:
        """Sleep; True when stop() or reset() (from other threads) cut it short."""
        return await asyncio.to_thread(self._release.wait, seconds)

    async def _not_found(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        self.requests.append(
            RecordedRequest(
                request.method,
                request.url.path,
                self._authorized(request),
                form,
                dict(request.headers),
            )
        )
        return _error(404, 20404, f"The requested resource {request.url.path} was not found")
