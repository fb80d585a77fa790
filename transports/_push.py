"""What the vendor push transports (APNs, FCM) share: the error table's shape and the payload.

Each vendor module keeps one table from its own error names to a :class:`Rule`;
:func:`to_error` turns a rule into the catalogue's exception, so the three outcomes
are decided in one place:

- ``dead``: the vendor says the device token will never work again (the app was
  removed, the token rotated). :class:`DeadDeviceToken`, a
  :class:`~mfa.errors.PnEndpointDisabled` that carries the vendor's ``reason``
  and the time it was seen, so the push flow can mark the device account
  disabled until the phone sends a new token.
- ``credentials``: the vendor refused *our* credentials or sender identity; every
  device is affected until the operator acts, so one ERROR line names what to
  check. :class:`~mfa.errors.PushNotificationWrongCredentials`.
- ``failed``: anything else. :class:`~mfa.errors.ErrorSendingPushNotification`.

No message, log line or attribute carries a device token, a provider token, an
OAuth token or key material.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from mfa.errors import (
    ErrorSendingPushNotification,
    MFAError,
    PnEndpointDisabled,
    PushNotificationWrongCredentials,
)

__all__ = [
    "GUARDIAN_CATEGORY",
    "DeadDeviceToken",
    "Rule",
    "guardian_fields",
    "hide_http2_header_trace",
    "to_error",
]

# iOS's Guardian SDK only shows the approve/deny actions for this category.
GUARDIAN_CATEGORY: Final = "com.auth0.notification.authentication"
# The keys of the Guardian push payload a phone reads (guardian-wire §3.5).
_GUARDIAN_KEYS: Final = ("dai", "txtkn", "c", "sh", "d", "s", "l", "txlnkid")
# The ones that are JSON objects: Android reads them as JSON strings.
_OBJECT_KEYS: Final = ("s", "l")

Outcome = Literal["dead", "credentials", "failed"]


class DeadDeviceToken(PnEndpointDisabled):
    """``pn_endpoint_disabled`` with what the flow stores on the device account.

    ``reason`` is the vendor's own name for it (APNs ``Unregistered``, FCM
    ``UNREGISTERED``), ``vendor`` is ``"apns"`` or ``"fcm"``, ``at`` when it was
    seen (Apple's timestamp of the token's last validity when it gives one).
    """

    def __init__(self, message: str, *, vendor: str, reason: str, at: datetime) -> None:
        super().__init__(message)
        self.vendor = vendor
        self.reason = reason
        self.at = at


@dataclass(frozen=True, slots=True)
class Rule:
    outcome: Outcome
    meaning: str  # ours, safe to show
    operator_hint: str | None = None  # logged at ERROR when set


def to_error(
    rule: Rule,
    *,
    vendor: str,
    reason: str,
    ref: str,
    logger: logging.Logger,
    at: datetime | None = None,
) -> MFAError:
    """The catalogue exception for ``rule``; logs the operator's line when it has one."""
    if rule.operator_hint:
        logger.error(
            "%s refused a push notification (%s): %s: %s.",
            vendor.upper() if vendor == "fcm" else "APNs",
            ref,
            rule.meaning,
            rule.operator_hint,
        )
    text = f"The push provider refused the notification: {rule.meaning} ({ref})."
    if rule.outcome == "dead":
        return DeadDeviceToken(text, vendor=vendor, reason=reason, at=at or datetime.now(UTC))
    if rule.outcome == "credentials":
        return PushNotificationWrongCredentials(text)
    return ErrorSendingPushNotification(text)


class _NoHeaderValues(logging.Filter):
    """Drops hpack's DEBUG records that carry header names and values, or encoded blocks.

    hpack (under httpx's HTTP/2) traces every header it encodes, ``:path`` included,
    and APNs puts the device token in the path. Its integer-level records pass.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        return not any(isinstance(a, bytes | bytearray | memoryview | tuple) for a in args)


def hide_http2_header_trace() -> None:
    """Install :class:`_NoHeaderValues` on hpack's logger, once per process."""
    hpack_logger = logging.getLogger("hpack.hpack")
    if not any(isinstance(f, _NoHeaderValues) for f in hpack_logger.filters):
        hpack_logger.addFilter(_NoHeaderValues())


def guardian_fields(payload: dict[str, Any], *, as_strings: bool) -> dict[str, Any]:
    """The Guardian keys of ``payload``, as APNs (objects) or FCM data (all strings) wants them."""
    fields: dict[str, Any] = {}
    for key in _GUARDIAN_KEYS:
        value = payload.get(key)
        if value is None:
            continue
        if key in _OBJECT_KEYS:
            if as_strings and not isinstance(value, str):
                value = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
            elif not as_strings and isinstance(value, str):
                # The flow may hand these over already encoded; a malformed one is
                # sent as it is rather than failing the push.
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
        elif as_strings:
            value = str(value)
        fields[key] = value
    return fields
