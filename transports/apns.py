"""Push to iPhones through Apple's HTTP/2 provider API, with token-based (``.p8``) auth.

Configuration (see ``contract/API.md``)::

    MFA_PUSH_TRANSPORT=apns             # or multi, with MFA_PUSH_APNS_TRANSPORT=apns
    MFA_APNS_KEY_ID=ABC123DEFG          # the key's id in the Apple developer account
    MFA_APNS_TEAM_ID=DEF123GHIJ
    MFA_APNS_KEY=/etc/mfa/AuthKey.p8    # a path, or the PEM itself; never logged
    MFA_APNS_TOPIC=com.example.guardian # the app's bundle id
    MFA_APNS_BASE_URL=production        # or sandbox, or a URL
    MFA_APNS_CA_FILE=/etc/mfa/proxy-ca.pem  # optional: CAs to trust instead of the system's

**Library.** ``httpx`` with HTTP/2 (``h2``), which mfa already uses for webhooks,
and PyJWT for the ES256 provider token: two small, maintained, typed libraries
instead of an APNs SDK (``aioapns`` brings its own HTTP/2 stack, and its error
types would need mapping all the same). Apple accepts HTTP/2 only, so the client
is HTTP/2 only: ALPN ``h2`` over TLS for ``https://``, and prior-knowledge h2c
for an ``http://`` base URL (a local stub, or a TLS-terminating proxy).

**The request.** ``POST {base}/3/device/{token}`` with ``authorization: bearer
<JWT>``, ``apns-topic``, ``apns-push-type: alert``, ``apns-priority: 10`` and
``apns-expiration`` (the transaction's lifetime: a late approval is useless).
The body is ``{"aps": {"alert": …, "category": GUARDIAN_CATEGORY, "sound":
"default"}, "mfa": {<Guardian fields>}}``: the Guardian iOS SDK reads its fields
from ``userInfo["mfa"]``, with ``s`` and ``l`` as JSON objects.

**Provider token.** An ES256 JWT from the ``.p8`` key, reused for 40 minutes
(:mod:`transports.apns_token`). ``ExpiredProviderToken`` mints a new one and
retries the send once.

**Errors.** :data:`APNS_REASONS` is the one table from Apple's ``reason`` to ours
(see :mod:`transports._push`). No retry otherwise: the user can ask again.
Every request is bounded (10 s). The device token sits in the URL, so requests
go straight to the HTTP/2 transport rather than through ``httpx.AsyncClient``,
whose INFO log line would print the URL, and hpack's DEBUG trace of header values
is filtered out (:func:`transports._push.hide_http2_header_trace`).
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import httpx

from mfa.delivery import PushMessage
from mfa.errors import ErrorSendingPushNotification
from mfa.settings import Settings, SettingsError
from transports._push import (
    GUARDIAN_CATEGORY,
    Rule,
    guardian_fields,
    hide_http2_header_trace,
    to_error,
)
from transports.apns_token import ProviderToken, read_key

__all__ = ["APNS_PRODUCTION", "APNS_REASONS", "APNS_SANDBOX", "ApnsPushTransport", "ProviderToken"]

logger = logging.getLogger("mfa.transports.apns")

APNS_PRODUCTION: Final = "https://api.push.apple.com"
APNS_SANDBOX: Final = "https://api.sandbox.push.apple.com"
_ALIASES: Final = {"production": APNS_PRODUCTION, "sandbox": APNS_SANDBOX}
DEFAULT_TIMEOUT: Final = 10.0

_CHECK_KEY: Final = "check MFA_APNS_KEY, MFA_APNS_KEY_ID and MFA_APNS_TEAM_ID"
_CHECK_TOPIC: Final = "check MFA_APNS_TOPIC against the app's bundle id"

# Apple's ``reason`` -> our outcome. https://developer.apple.com/documentation/
# usernotifications/handling-notification-responses-from-apns
APNS_REASONS: Final[Mapping[str, Rule]] = {
    # The token is dead: the app was removed, or the token is not one APNs knows.
    "BadDeviceToken": Rule("dead", "the device token is not valid"),
    "Unregistered": Rule("dead", "the device token is no longer active"),
    "ExpiredToken": Rule("dead", "the device token has expired"),
    # Our credentials or sender identity: every device fails until the operator acts.
    "InvalidProviderToken": Rule("credentials", "the provider token was refused", _CHECK_KEY),
    "ExpiredProviderToken": Rule("credentials", "the provider token has expired", _CHECK_KEY),
    "MissingProviderToken": Rule("credentials", "no provider token was accepted", _CHECK_KEY),
    "Forbidden": Rule("credentials", "the key may not send notifications", _CHECK_KEY),
    "TopicDisallowed": Rule("credentials", "the key may not push to this topic", _CHECK_TOPIC),
    "DeviceTokenNotForTopic": Rule(
        "credentials", "the device token belongs to another app", _CHECK_TOPIC
    ),
    "BadTopic": Rule("failed", "the topic is invalid", _CHECK_TOPIC),
    "MissingTopic": Rule("failed", "the topic is missing", _CHECK_TOPIC),
    # Transient, or a fault of ours that the user cannot fix.
    "TooManyRequests": Rule("failed", "too many notifications to this device"),
    "TooManyProviderTokenUpdates": Rule("failed", "the provider token changed too often"),
    "InternalServerError": Rule("failed", "the provider failed"),
    "ServiceUnavailable": Rule("failed", "the provider is unavailable"),
    "Shutdown": Rule("failed", "the provider is shutting down"),
    "PayloadTooLarge": Rule("failed", "the notification is too large"),
}


def _rule_for(reason: str | None, status: int) -> Rule:
    if reason is not None and reason in APNS_REASONS:
        return APNS_REASONS[reason]
    if status == 410:
        return APNS_REASONS["Unregistered"]
    if status == 403:
        return APNS_REASONS["InvalidProviderToken"]
    if status >= 500:
        return APNS_REASONS["InternalServerError"]
    return Rule("failed", "the notification was refused")


def _reason(response: httpx.Response) -> tuple[str | None, datetime | None]:
    """Apple's ``reason``, and for a dead token the ``timestamp`` (ms) it was last valid."""
    try:
        data = json.loads(response.content)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    reason = data.get("reason")
    stamp = data.get("timestamp")
    at = datetime.fromtimestamp(stamp / 1000, UTC) if isinstance(stamp, int | float) else None
    return (reason if isinstance(reason, str) else None), at


class ApnsPushTransport:
    """Sends each :class:`~mfa.delivery.PushMessage` as one APNs alert notification."""

    def __init__(
        self,
        token: ProviderToken,
        topic: str,
        *,
        base_url: str = APNS_PRODUCTION,
        expiration_seconds: int = 300,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._token = token
        self._topic = topic
        self._base_url = _ALIASES.get(base_url, base_url).rstrip("/")
        if httpx.URL(self._base_url).scheme not in ("http", "https"):
            raise ValueError("the APNs base URL must be http or https")
        self._expiration = expiration_seconds
        self._timeout = timeout
        self._clock = clock
        # HTTP/2 only: prior knowledge on http://, ALPN h2 on https://.
        self._http = httpx.AsyncHTTPTransport(http1=False, http2=True, retries=0, verify=verify)
        hide_http2_header_trace()
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings) -> ApnsPushTransport:
        key_id, team_id = settings.apns_key_id, settings.apns_team_id
        key_value, topic = settings.apns_key, settings.apns_topic
        if not (key_id and team_id and key_value and topic):
            raise SettingsError(
                "the apns push transport needs MFA_APNS_KEY_ID, MFA_APNS_TEAM_ID, "
                "MFA_APNS_KEY and MFA_APNS_TOPIC"
            )
        try:
            key = read_key(key_value)
        except (OSError, ValueError, TypeError):
            # Not chained: the parser's message could quote the key.
            raise SettingsError(
                "MFA_APNS_KEY is neither a readable .p8 file nor an EC P-256 PEM key"
            ) from None
        verify: ssl.SSLContext | bool = True
        if settings.apns_ca_file:
            try:
                verify = ssl.create_default_context(cafile=settings.apns_ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise SettingsError("MFA_APNS_CA_FILE is not a readable PEM CA bundle") from exc
        return cls(
            ProviderToken(key, key_id, team_id),
            topic,
            base_url=settings.apns_base_url,
            expiration_seconds=settings.transaction_ttl_seconds,
            verify=verify,
        )

    def _body(self, message: PushMessage) -> bytes:
        alert = message.extra.get("alert") or {
            "title": "Login request",
            "body": f"Approve the login to {message.tenant_id}?",
        }
        document: dict[str, Any] = {
            "aps": {"alert": alert, "category": GUARDIAN_CATEGORY, "sound": "default"},
            "mfa": guardian_fields(message.payload, as_strings=False),
        }
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()

    async def _post(self, message: PushMessage, body: bytes, provider_token: str) -> httpx.Response:
        request = httpx.Request(
            "POST",
            f"{self._base_url}/3/device/{message.device_token}",
            content=body,
            headers={
                "authorization": f"bearer {provider_token}",
                "apns-topic": self._topic,
                "apns-push-type": "alert",
                "apns-priority": "10",
                "apns-expiration": str(int(self._clock()) + self._expiration),
                "content-type": "application/json",
            },
            extensions={"timeout": httpx.Timeout(self._timeout).as_dict()},
        )
        try:
            response = await self._http.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
        except httpx.TimeoutException as exc:
            raise ErrorSendingPushNotification(
                f"APNs did not answer within {self._timeout:g} s."
            ) from exc
        except httpx.TransportError as exc:
            raise ErrorSendingPushNotification("Could not connect to APNs.") from exc
        return response

    async def send(self, message: PushMessage) -> None:
        if self._closed:
            raise RuntimeError("the APNs transport is closed")
        body = self._body(message)
        for attempt in (1, 2):
            provider_token = self._token.get()
            response = await self._post(message, body, provider_token)
            if response.status_code == 200:
                return
            reason, at = _reason(response)
            if reason == "ExpiredProviderToken" and attempt == 1:
                logger.info("APNs found the provider token expired; minting a new one.")
                self._token.renew(provider_token)
                continue
            ref = f"{reason or 'no reason'}, HTTP {response.status_code}"
            raise to_error(
                _rule_for(reason, response.status_code),
                vendor="apns",
                reason=reason or f"HTTP {response.status_code}",
                ref=ref,
                logger=logger,
                at=at,
            )

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._http.aclose()

    def __repr__(self) -> str:
        return f"<ApnsPushTransport {self._base_url} topic={self._topic}>"
