"""The audit event: one record per security decision, and what a request adds to it.

An event names who (tenant, user, enrollment, the acting API key), what (its
type, the method, the outcome and, for a failure, the catalogue code), and where
from (request id, client IP, user agent). It never holds a secret, a code, a
token or a full phone number: the fields below are the whole record, and none
of them is free text a flow could fill with one.

:class:`RequestMeta` is the request's part. The error boundary sets it in a
context variable for the duration of the request (:func:`request_meta`), so the
flows and backend operations, which know nothing of HTTP, can stamp it on the
events they make.
"""

from __future__ import annotations

import contextvars
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from mfa.random_ids import random_hex


class EventType(StrEnum):
    """Every kind of event. The webhook-deliverable ones are :data:`WEBHOOK_TYPES`."""

    ENROLLMENT_STARTED = "enrollment.started"
    ENROLLMENT_CONFIRMED = "enrollment.confirmed"
    ENROLLMENT_FAILED = "enrollment.failed"  # a wrong code on an enrollment transaction
    ENROLLMENT_UPDATED = "enrollment.updated"
    ENROLLMENT_DELETED = "enrollment.deleted"
    AUTH_SUCCEEDED = "auth.succeeded"
    AUTH_FAILED = "auth.failed"
    AUTH_REJECTED = "auth.rejected"  # the user denied a push
    USER_LOCKED = "user.locked"  # lockout begun; ``locked_until`` says when it ends
    USER_UNLOCKED = "user.unlocked"  # that lockout ran out (time: when it did)
    QUOTA_REFUSED = "quota.refused"
    DEVICE_DISABLED = "device.disabled"  # the push provider said the token is dead
    RECOVERY_CODE_USED = "recovery_code.used"
    RECOVERY_CODE_REGENERATED = "recovery_code.regenerated"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    TENANT_SETTINGS_CHANGED = "tenant.settings_changed"  # toggles, quotas, SMS, pages
    WEBHOOK_TEST = "webhook.test"  # only sent by the test call, never stored


WEBHOOK_TYPES: frozenset[str] = frozenset(
    {
        EventType.ENROLLMENT_CONFIRMED,
        EventType.ENROLLMENT_UPDATED,
        EventType.ENROLLMENT_DELETED,
        EventType.AUTH_SUCCEEDED,
        EventType.AUTH_FAILED,
        EventType.AUTH_REJECTED,
        EventType.USER_LOCKED,
        EventType.USER_UNLOCKED,
        EventType.DEVICE_DISABLED,
        EventType.RECOVERY_CODE_USED,
        EventType.QUOTA_REFUSED,
    }
)


@dataclass(slots=True)
class RequestMeta:
    """Where a request came from, and (once authorized) which API key acts."""

    request_id: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    actor: str | None = None  # the acting API key's id ("operator" for the admin key)


_META: contextvars.ContextVar[RequestMeta | None] = contextvars.ContextVar(
    "mfa_request_meta", default=None
)


def request_meta() -> RequestMeta:
    """The current request's metadata (empty outside a request: CLI, in-process)."""
    return _META.get() or RequestMeta()


def set_request_meta(meta: RequestMeta) -> contextvars.Token[RequestMeta | None]:
    return _META.set(meta)


def reset_request_meta(token: contextvars.Token[RequestMeta | None]) -> None:
    _META.reset(token)


def new_event_id() -> str:
    """128 random bits; unique across tenants and workers, so a retried move is
    recognised by the durable store (primary key) and inserted once."""
    return "evt_" + random_hex()


# The string fields of an event as it travels (Redis Stream entry, in-process list).
WIRE_FIELDS: tuple[str, ...] = (
    "id",
    "type",
    "time",
    "user_id",
    "enrollment_id",
    "method",
    "outcome",
    "error_code",
    "request_id",
    "client_ip",
    "user_agent",
    "actor",
    "data",
)


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str
    tenant_id: str
    type: str
    time: float  # epoch seconds
    user_id: str | None = None
    enrollment_id: str | None = None
    method: str | None = None
    outcome: str | None = None
    error_code: str | None = None
    request_id: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    actor: str | None = None
    # A few non-secret details (a lockout's end, the settings that changed).
    data: dict[str, Any] = field(default_factory=dict)
    seq: int | None = None  # the durable store's order of arrival (the cursor)

    def wire(self) -> dict[str, str]:
        """The event as a flat map of strings (empty string: none)."""
        values = {
            "id": self.event_id,
            "type": self.type,
            "time": repr(self.time),
            "user_id": self.user_id,
            "enrollment_id": self.enrollment_id,
            "method": self.method,
            "outcome": self.outcome,
            "error_code": self.error_code,
            "request_id": self.request_id,
            "client_ip": self.client_ip,
            "user_agent": self.user_agent,
            "actor": self.actor,
            "data": json.dumps(self.data) if self.data else "",
        }
        return {k: v or "" for k, v in values.items()}

    @classmethod
    def from_wire(cls, tenant_id: str, fields: dict[str, str]) -> Event:
        # The mover reads every event through here: plain lookups, no helper call
        # per field (an empty string on the wire is none).
        get = fields.get
        raw = get("data")
        return cls(
            event_id=fields["id"],
            tenant_id=tenant_id,
            type=fields["type"],
            time=float(fields["time"]),
            user_id=get("user_id") or None,
            enrollment_id=get("enrollment_id") or None,
            method=get("method") or None,
            outcome=get("outcome") or None,
            error_code=get("error_code") or None,
            request_id=get("request_id") or None,
            client_ip=get("client_ip") or None,
            user_agent=get("user_agent") or None,
            actor=get("actor") or None,
            data=json.loads(raw) if raw else {},
        )


def iso(epoch: float) -> str:
    """RFC 3339 in UTC with milliseconds, ``Z``-suffixed."""
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def public(event: Event) -> dict[str, Any]:
    """The event as the backend API and webhooks show it (one shape for both)."""
    return {
        "id": event.event_id,
        "type": event.type,
        "time": iso(event.time),
        "tenant_id": event.tenant_id,
        "user_id": event.user_id,
        "enrollment_id": event.enrollment_id,
        "method": event.method,
        "outcome": event.outcome,
        "error_code": event.error_code,
        "request_id": event.request_id,
        "client_ip": event.client_ip,
        "user_agent": event.user_agent,
        "actor": event.actor,
        "data": event.data,
    }


# --------------------------------------------------------------------------- webhooks


@dataclass(frozen=True, slots=True)
class WebhookSecret:
    """A signing secret, sealed at rest. ``expires_at`` None: the current one; a
    rotated-out secret keeps signing (beside the new one) until it expires, so a
    receiver can switch without dropping a delivery."""

    sealed: bytes
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    endpoint_id: str
    tenant_id: str
    url: str
    events: tuple[str, ...]
    secrets: tuple[WebhookSecret, ...]  # newest first
    created_at: float


DeliveryStatus = str  # "pending" | "delivered" | "failed"


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One event for one endpoint. ``delivery_id`` is also the ``webhook-id`` header:
    the same on every attempt, so a receiver can drop a duplicate."""

    delivery_id: str
    tenant_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    payload: str  # the exact body, the same on every attempt
    status: DeliveryStatus
    attempts: int
    next_attempt_at: float
    created_at: float
    last_error: str | None = None
    last_status_code: int | None = None
    delivered_at: float | None = None
