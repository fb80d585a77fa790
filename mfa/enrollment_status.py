"""The status of a user's enrollment, as support and the host's backend need it.

Modelled on the connection status of account-aggregation APIs: one word for the
state, the last error in the words the user saw, and when the enrollment was last
used. Derived, never stored as such:

- ``locked``: a lockout runs (too many wrong codes); ``locked_until`` says when it
  ends. Read from the ephemeral store, so only this view pays for it.
- ``disabled``: the push provider declared the device's token dead; the phone must
  register a new one (PATCH /api/device-accounts/{id}) or the user re-enroll.
- ``confirmed``: usable.
- ``confirmation_pending``: part of the vocabulary (Guardian's), never produced by
  this service today: an enrollment is stored only once confirmed, and an
  unconfirmed one lives in its transaction, which this view does not list.

``last_error`` and ``last_used_at`` are written behind the request (see
:mod:`mfa.activity` for what that trades).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from mfa.catalogue import CATALOGUE
from mfa.factors import totp
from mfa.names import Factor
from mfa.storage.base import Enrollment, Tenant

Status = Literal["confirmation_pending", "confirmed", "disabled", "locked"]
STATUSES: tuple[Status, ...] = ("confirmation_pending", "confirmed", "disabled", "locked")


@dataclass(frozen=True, slots=True)
class LastError:
    code: str
    message: str  # the catalogue's API message
    user_message: str  # the catalogue's user message, filled in
    at: str  # ISO 8601, UTC
    method: str | None = None


@dataclass(frozen=True, slots=True)
class EnrollmentStatus:
    enrollment: Enrollment
    status: Status
    locked_until: datetime | None
    last_error: LastError | None


def derive(
    enrollment: Enrollment, tenant: Tenant, lockout_remaining: float | None, now: float
) -> EnrollmentStatus:
    locked_until = None
    if lockout_remaining is not None:
        status: Status = "locked"
        locked_until = datetime.fromtimestamp(now, UTC) + timedelta(seconds=lockout_remaining)
    elif enrollment.status == "pn_disabled":
        status = "disabled"
    else:
        status = "confirmed"
    return EnrollmentStatus(enrollment, status, locked_until, last_error(enrollment, tenant))


def last_error(enrollment: Enrollment, tenant: Tenant) -> LastError | None:
    stored = enrollment.last_error
    if not stored or stored.get("code") not in CATALOGUE:
        return None  # a code a later release removed: nothing true to say
    spec = CATALOGUE[str(stored["code"])]
    method = stored.get("method")
    values = {
        "method": method or "",
        "tenant_name": tenant.name,
        "retry_after": stored.get("retry_after") or "a few",
        "length": tenant.sms_otp_length if method == Factor.SMS else totp.DIGITS,
        "field": "",
    }
    return LastError(
        code=spec.code,
        message=spec.api_message,
        user_message=_fill(spec.user_message, values),
        at=str(stored.get("at", "")),
        method=str(method) if method else None,
    )


class _Keep(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _fill(template: str, values: Mapping[str, Any]) -> str:
    return string.Formatter().vformat(template, (), _Keep(values))
