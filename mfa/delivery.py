"""Delivery Protocols: how a code or a push challenge leaves the service.

Modelled on httpx's transport: the whole contract is one ``send`` and one
``aclose``. Adapters live in the top-level :mod:`transports` package (Twilio,
webhook, console, an in-memory outbox for tests) and depend on this module, never
the reverse: :func:`load_sms_transport` finds the configured adapter by name at
start-up, so mfa imports no vendor SDK it is not configured to use.

An adapter translates its vendor's failures once, at the boundary, into the
catalogue's exceptions: :class:`~mfa.errors.InvalidPhoneNumber` when the provider
rejects the number itself, :class:`~mfa.errors.ErrorSendingSms` for everything
else (push: ``ErrorSendingPushNotification``, ``PushNotificationWrongCredentials``,
``PnEndpointDisabled``). Nothing else may escape ``send``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from mfa.settings import Settings


@dataclass(frozen=True, slots=True)
class SmsMessage:
    to: str  # E.164, validated before any send
    body: str
    # Kept apart from the body so test outboxes and webhook receivers need not
    # parse text. Transports must never log it.
    code: str
    tenant_id: str
    locale: str = "en"


@dataclass(frozen=True, slots=True)
class PushMessage:
    service: str  # "APNS" or "GCM" (FCM), as the phone registered it
    device_token: str
    payload: dict[str, Any]  # the Guardian push payload: dai, txtkn, c, sh, d, s
    tenant_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class SmsTransport(Protocol):
    async def send(self, message: SmsMessage) -> None: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class PushTransport(Protocol):
    async def send(self, message: PushMessage) -> None: ...

    async def aclose(self) -> None: ...


_SMS_ADAPTERS = {
    "console": "transports.console:ConsoleSmsTransport",
    "outbox": "transports.outbox:Outbox",
    "twilio": "transports.twilio_sms:TwilioSmsTransport",
    "webhook": "transports.webhook:WebhookSmsTransport",
}
_PUSH_ADAPTERS = {
    "console": "transports.console:ConsolePushTransport",
    "outbox": "transports.outbox:PushOutbox",
    "webhook": "transports.webhook:WebhookPushTransport",
}


def _load(table: dict[str, str], name: str, settings: Settings) -> Any:
    try:
        target = table[name]
    except KeyError:
        raise ValueError(f"no transport named {name!r}; known: {', '.join(table)}") from None
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    return cls.from_settings(settings)


def load_sms_transport(settings: Settings) -> SmsTransport:
    transport: SmsTransport = _load(_SMS_ADAPTERS, settings.sms_transport, settings)
    return transport


def load_push_transport(settings: Settings) -> PushTransport:
    transport: PushTransport = _load(_PUSH_ADAPTERS, settings.push_transport, settings)
    return transport
