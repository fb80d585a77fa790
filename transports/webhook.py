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

import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, Final, Literal

import anyio
import httpx

from mfa.delivery import PushMessage, SmsMessage
from mfa.errors import (
    ErrorSendingPushNotification,
    ErrorSendingSms,
    InvalidPhoneNumber,
    MFAError,
    PnEndpointDisabled,
    PushNotificationWrongCredentials,
)
from mfa.settings import Settings, SettingsError

__all__ = [
    "DELIVERY_ID_HEADER",
    "SIGNATURE_HEADER",
    "WebhookPushTransport",
    "WebhookSmsTransport",
    "sign",
    "verify_signature",
]

logger = logging.getLogger("mfa.transports.webhook")

SIGNATURE_HEADER: Final = "X-MFA-Signature"
DELIVERY_ID_HEADER: Final = "X-MFA-Delivery-Id"
DEFAULT_TOLERANCE: Final = 300

Kind = Literal["sms", "push"]


def _mac(secret: str | bytes, timestamp: str, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes | str, timestamp: int | None = None) -> str:
    """The ``X-MFA-Signature`` value for ``body`` at ``timestamp`` (default: now)."""
    raw = body.encode() if isinstance(body, str) else body
    t = str(int(time.time()) if timestamp is None else timestamp)
    return f"t={t},v1={_mac(secret, t, raw)}"


def verify_signature(
    secret: str | bytes,
    header: str,
    body: bytes | str,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """Whether ``header`` (an ``X-MFA-Signature`` value) signs ``body`` with ``secret``.

    ``body`` must be the raw request body, exactly as received. False as well when
    the signed timestamp is more than ``tolerance`` seconds away from ``now``
    (default: the current time), which defeats replays of captured requests.
    Several ``v1=`` entries are allowed; one matching is enough.
    """
    timestamp: str | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            timestamp = value
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not timestamp.isdigit() or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        return False
    raw = body.encode() if isinstance(body, str) else body
    expected = _mac(secret, timestamp, raw).encode()
    # Bytes, so that a non-ASCII candidate compares False instead of raising.
    return any(hmac.compare_digest(expected, c.encode()) for c in candidates)


def _reported_error(response: httpx.Response) -> str | None:
    """The ``error`` a receiver put in a JSON body, if it did."""
    try:
        data = response.json()
    except ValueError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, str) else None


def _map_failure(kind: Kind, response: httpx.Response | None, exc: Exception | None) -> MFAError:
    """The one place where a receiver's answer, or the lack of one, becomes our error."""
    failed: type[MFAError] = ErrorSendingSms if kind == "sms" else ErrorSendingPushNotification
    if response is None:
        if isinstance(exc, httpx.TimeoutException):
            return failed(f"The {kind} webhook did not answer in time.")
        return failed(f"Could not reach the {kind} webhook.")
    status = response.status_code
    reported = _reported_error(response) if status == 422 else None
    if kind == "sms" and reported == "invalid_phone_number":
        return InvalidPhoneNumber("The SMS webhook rejected the phone number.")
    if kind == "push" and (status == 410 or reported == "pn_endpoint_disabled"):
        return PnEndpointDisabled("The push webhook reported the device token as disabled.")
    if kind == "push" and reported == "push_notification_wrong_credentials":
        return PushNotificationWrongCredentials("The push webhook's credentials were refused.")
    if status in (401, 403):
        logger.error(
            "The %s webhook refused mfa's request (HTTP %s): check that it verifies "
            "signatures with the same secret as MFA_WEBHOOK_SECRET.",
            kind,
            status,
        )
    return failed(f"The {kind} webhook answered HTTP {status}.")


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _retry_after(response: httpx.Response | None) -> float | None:
    value = response.headers.get("retry-after", "") if response is not None else ""
    return float(value) if value.isdigit() else None


class _Poster:
    """Signs, posts and retries one JSON document; shared by the SMS and push transports."""

    def __init__(
        self,
        kind: Kind,
        url: str,
        secret: str,
        *,
        timeout: float,
        total_timeout: float,
        attempts: int,
        backoff: float,
        max_backoff: float = 2.0,
        transport: httpx.AsyncBaseTransport | None,
        clock: Callable[[], float],
    ) -> None:
        if httpx.URL(url).scheme not in ("http", "https"):
            raise ValueError(f"the {kind} webhook URL must be http or https")
        if not secret:
            raise ValueError("the webhook secret must not be empty")
        if attempts < 1 or timeout <= 0 or total_timeout <= 0:
            raise ValueError("attempts, timeout and total_timeout must be positive")
        self._kind: Kind = kind
        self._url = url
        self._secret = secret
        self._timeout = timeout
        self._total_timeout = total_timeout
        self._attempts = attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._clock = clock
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=timeout,
            follow_redirects=False,  # a redirect would re-send the code somewhere else
            headers={"User-Agent": "mfa-webhook/1"},
        )

    async def post(self, document: dict[str, Any]) -> None:
        delivery_id = str(document["id"])
        body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        started = time.monotonic()
        response: httpx.Response | None = None
        error: Exception | None = None
        for attempt in range(1, self._attempts + 1):
            remaining = self._total_timeout - (time.monotonic() - started)
            headers = {
                "Content-Type": "application/json",
                DELIVERY_ID_HEADER: delivery_id,
                # Signed afresh on each attempt so that a late retry stays within tolerance.
                SIGNATURE_HEADER: sign(self._secret, body, int(self._clock())),
            }
            try:
                response = await self._client.post(
                    self._url, content=body, headers=headers, timeout=min(self._timeout, remaining)
                )
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                response, error = None, exc
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise _map_failure(self._kind, None, exc) from exc
            else:
                error = None
                if response.is_success:
                    return
                if not _retryable(response.status_code):
                    raise _map_failure(self._kind, response, None)
            delay = min(
                self._max_backoff, _retry_after(response) or self._backoff * 2 ** (attempt - 1)
            )
            if attempt == self._attempts or time.monotonic() - started + delay >= (
                self._total_timeout
            ):
                break
            logger.info(
                "The %s webhook failed (attempt %d of %d, %s); retrying in %.2g s.",
                self._kind,
                attempt,
                self._attempts,
                f"HTTP {response.status_code}" if response is not None else type(error).__name__,
                delay,
            )
            await anyio.sleep(delay)
        raise _map_failure(self._kind, response, error) from error

    async def aclose(self) -> None:
        await self._client.aclose()


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
        self._poster = _Poster(
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
