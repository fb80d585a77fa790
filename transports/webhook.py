"""Delivery by webhook: mfa POSTs each SMS or push as signed JSON to a receiver you run.

Use it to send through any provider mfa has no adapter for: the receiver gets the
message and the code and hands them on. Configuration (see ``contract/API.md``)::

    MFA_SMS_TRANSPORT=webhook
    MFA_SMS_WEBHOOK_URL=https://sms-relay.internal/mfa
    MFA_PUSH_TRANSPORT=webhook
    MFA_PUSH_WEBHOOK_URL=https://push-relay.internal/mfa
    MFA_WEBHOOK_SECRET=<long random string, shared by both>

**The request.** ``POST`` with ``Content-Type: application/json`` and the body
(UTF-8, compact)::

    {"type": "sms", "id": "<uuid>", "to": "+14155550123", "body": "...",
     "code": "123456", "tenant_id": "acme", "locale": "en"}
    {"type": "push", "id": "<uuid>", "service": "APNS", "device_token": "...",
     "payload": {...}, "tenant_id": "acme", "extra": {...}}

with the headers ``X-MFA-Delivery-Id: <id>`` (the same on every attempt at one
message: deduplicate retries on it) and ``X-MFA-Signature: t=<unix
seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``. The timestamp is signed
with the body so a captured request cannot be replayed later: receivers check it
with :func:`verify_signature` on the raw bytes, before parsing, and answer 401 when
it fails. During a secret rotation, try the old and the new secret.

**The receiver's answers** (its side of the contract):

- ``2xx``: accepted; mfa considers the message sent.
- ``422`` with ``{"error": "invalid_phone_number"}`` (SMS): the number itself cannot
  receive SMS; mfa answers ``invalid_phone_number`` so the user can fix it.
- ``410``, or ``422`` with ``{"error": "pn_endpoint_disabled"}`` (push): the device
  token is dead (``pn_endpoint_disabled``); ``422`` with
  ``{"error": "push_notification_wrong_credentials"}``: the receiver's APNs/FCM
  credentials were refused.
- ``429``, ``5xx``, a timeout or a connection failure: retried, 3 attempts in all,
  0.25 s then 0.5 s apart (a ``Retry-After`` of up to 2 s is honoured); each attempt
  times out after 5 s and the whole send after 10 s.
- ``401``/``403``: the receiver refused our signature; not retried, and logged once
  at ERROR on ``mfa.transports.webhook`` for the operator (check the secrets match).
- anything else: not retried.

Every failure not listed gives ``error_sending_sms`` (push:
``error_sending_push_notification``). Nothing about the message (number, code, body,
token) is ever logged.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import httpx

from mfa.delivery import PushMessage, SmsMessage
from mfa.settings import Settings, SettingsError
from transports._webhook_poster import DELIVERY_ID_HEADER, Kind, Poster
from transports.webhook_signing import SIGNATURE_HEADER, sign, verify_signature

# The receiver's side (the two headers, sign and verify_signature) is exported here
# with the transports, as the contract above documents it.
__all__ = [
    "DELIVERY_ID_HEADER",
    "SIGNATURE_HEADER",
    "WebhookPushTransport",
    "WebhookSmsTransport",
    "sign",
    "verify_signature",
]


class _WebhookTransport:
    _kind: Kind

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float = 5.0,
        total_timeout: float = 10.0,
        attempts: int = 3,
        backoff: float = 0.25,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``transport`` and ``clock`` are for tests (``httpx.MockTransport``, a fixed time)."""
        self._poster = Poster(
            self._kind,
            url,
            secret,
            timeout=timeout,
            total_timeout=total_timeout,
            attempts=attempts,
            backoff=backoff,
            transport=transport,
            clock=clock,
        )

    async def aclose(self) -> None:
        await self._poster.aclose()

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def _settings_for(kind: Kind, settings: Settings) -> tuple[str, str]:
    url = settings.sms_webhook_url if kind == "sms" else settings.push_webhook_url
    if not (url and settings.webhook_secret):
        raise SettingsError(
            f"MFA_{kind.upper()}_TRANSPORT=webhook needs MFA_{kind.upper()}_WEBHOOK_URL "
            "and MFA_WEBHOOK_SECRET"
        )
    try:
        scheme = httpx.URL(url).scheme
    except httpx.InvalidURL:
        scheme = ""
    if scheme not in ("http", "https"):
        raise SettingsError(f"MFA_{kind.upper()}_WEBHOOK_URL must be an http or https URL")
    return url, settings.webhook_secret


class WebhookSmsTransport(_WebhookTransport):
    """POSTs each :class:`~mfa.delivery.SmsMessage` to ``MFA_SMS_WEBHOOK_URL``."""

    _kind = "sms"

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookSmsTransport:
        url, secret = _settings_for("sms", settings)
        return cls(url, secret)

    async def send(self, message: SmsMessage) -> None:
        await self._poster.post(
            {
                "type": "sms",
                "id": str(uuid.uuid4()),
                "to": message.to,
                "body": message.body,
                "code": message.code,
                "tenant_id": message.tenant_id,
                "locale": message.locale,
            }
        )


class WebhookPushTransport(_WebhookTransport):
    """POSTs each :class:`~mfa.delivery.PushMessage` to ``MFA_PUSH_WEBHOOK_URL``."""

    _kind = "push"

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookPushTransport:
        url, secret = _settings_for("push", settings)
        return cls(url, secret)

    async def send(self, message: PushMessage) -> None:
        await self._poster.post(
            {
                "type": "push",
                "id": str(uuid.uuid4()),
                "service": message.service,
                "device_token": message.device_token,
                "payload": message.payload,
                "tenant_id": message.tenant_id,
                "extra": message.extra,
            }
        )
