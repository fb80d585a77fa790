"""Delivery Protocols: how a code or a push challenge leaves the service.

Modelled on httpx's transport: the whole contract is one ``send`` and one
``aclose``. Adapters live in the top-level :mod:`transports` package (Twilio,
webhook, console, an in-memory outbox for tests) and depend on this module, never
the reverse: :func:`load_sms_transport` finds the configured adapter by name (an entry
point) at start-up, so mfa imports no vendor SDK it is not configured to use.

An adapter translates its vendor's failures once, at the boundary, into the
catalogue's exceptions: :class:`~mfa.errors.InvalidPhoneNumber` when the provider
rejects the number itself, :class:`~mfa.errors.ErrorSendingSms` for everything
else (push: ``ErrorSendingPushNotification``, ``PushNotificationWrongCredentials``,
``PnEndpointDisabled``). Nothing else may escape ``send``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from mfa.settings import Settings, SettingsError


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


# Transports register under these entry-point groups, so a third-party package
# adds one without touching mfa (``[project.entry-points."mfa.sms_transports"]``).
# The bundled ones are also listed here, so a source tree that was never
# installed (no entry-point metadata) still finds them.
SMS_GROUP = "mfa.sms_transports"
PUSH_GROUP = "mfa.push_transports"
_BUNDLED: dict[str, dict[str, str]] = {
    SMS_GROUP: {
        "console": "transports.console:ConsoleSmsTransport",
        "outbox": "transports.outbox:Outbox",
        "twilio": "transports.twilio_sms:TwilioSmsTransport",
        "webhook": "transports.webhook:WebhookSmsTransport",
    },
    PUSH_GROUP: {
        "console": "transports.console:ConsolePushTransport",
        "outbox": "transports.outbox:PushOutbox",
        "webhook": "transports.webhook:WebhookPushTransport",
        "apns": "transports.apns:ApnsPushTransport",
        "fcm": "transports.fcm:FcmPushTransport",
        "multi": "transports.multi:MultiPushTransport",
    },
}
_SETTING = {SMS_GROUP: "MFA_SMS_TRANSPORT", PUSH_GROUP: "MFA_PUSH_TRANSPORT"}


def transport_names(group: str) -> dict[str, str]:
    """Name → ``module:attr`` of every transport installed in ``group``."""
    found = dict(_BUNDLED[group])
    for ep in entry_points(group=group):
        found[ep.name] = ep.value
    return found


def check_transport_name(group: str, name: str) -> None:
    known = transport_names(group)
    if name not in known:
        raise SettingsError(
            f"{_SETTING[group]}={name!r} names no installed transport; "
            f"installed: {', '.join(sorted(known))}"
        )


def _load(group: str, name: str, settings: Settings) -> Any:
    check_transport_name(group, name)
    module_name, _, attr = transport_names(group)[name].partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except ImportError as exc:
        # A bundled vendor transport whose SDK is an optional extra.
        raise SettingsError(
            f"{_SETTING[group]}={name} needs a package that is not installed "
            f"({exc.name or exc}): pip install 'mfa[{name}]'"
        ) from None
    return cls.from_settings(settings)


def load_sms_transport(settings: Settings) -> SmsTransport:
    transport: SmsTransport = _load(SMS_GROUP, settings.sms_transport, settings)
    return transport


def load_push_transport(settings: Settings) -> PushTransport:
    transport: PushTransport = _load(PUSH_GROUP, settings.push_transport, settings)
    return transport
