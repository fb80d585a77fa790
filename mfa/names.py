"""The shared vocabulary: every name the wire, the stores and the API agree on.

One place for each closed set of names (factors, features, quota keys, delivery
channels, transaction kinds and states, API-key scopes), as ``StrEnum``s so a
member *is* its wire string: ``Factor.OTP == "otp"`` and JSON encodes it as such.
This module imports nothing of mfa's and no third-party package, so any module —
the client included — can use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Factor(StrEnum):
    """A way to authenticate; also the name of its tenant toggle."""

    OTP = "otp"
    SMS = "sms"
    PUSH = "push"
    RECOVERY_CODE = "recovery-code"


# Factors a user enrolls through start-flow (the recovery code comes with any of them).
ENROLLABLE: tuple[Factor, ...] = (Factor.OTP, Factor.SMS, Factor.PUSH)


class Feature(StrEnum):
    """Tenant features a tenant admin switches on or off."""

    ENROLLMENT = "enrollment"  # self-service enrollment through a request token
    DEVICE_MANAGEMENT = "device_management"  # phones may rename or remove themselves
    # Push fatigue: the phone must sign back the number the browser shows. Off by
    # default: unmodified Guardian phones cannot do it.
    PUSH_NUMBER_MATCHING = "push_number_matching"


class Channel(StrEnum):
    """What a quota counts: text messages or push notifications."""

    SMS = "sms"
    PN = "pn"
    PN_UNANSWERED = "pn_unanswered"  # pushes sent and not yet answered (push fatigue)


class QuotaName(StrEnum):
    SMS_PER_USER = "sms_per_user"
    PN_PER_USER = "pn_per_user"
    SMS_PER_TENANT = "sms_per_tenant"
    PN_PER_TENANT = "pn_per_tenant"
    # Push fatigue: unanswered pushes per user per window; limit 0 = no bound.
    PN_UNANSWERED_PER_USER = "pn_unanswered_per_user"

    @classmethod
    def of(cls, channel: Channel, scope: str) -> QuotaName:
        """The quota that bounds ``channel`` per ``scope`` (``"user"`` or ``"tenant"``)."""
        return cls(f"{channel.value}_per_{scope}")


class TxKind(StrEnum):
    ENROLL = "enroll"
    AUTH = "auth"


class TxState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Scope(StrEnum):
    """API-key scopes: what a backend key may do."""

    TENANTS_READ = "tenants:read"
    TENANTS_WRITE = "tenants:write"  # operator keys only
    KEYS_WRITE = "keys:write"
    FACTORS_READ = "factors:read"
    FACTORS_WRITE = "factors:write"
    QUOTAS_READ = "quotas:read"
    QUOTAS_WRITE = "quotas:write"
    TRANSACTIONS_CREATE = "transactions:create"
    ENROLLMENTS_READ = "enrollments:read"
    ENROLLMENTS_WRITE = "enrollments:write"
    EVENTS_READ = "events:read"  # the audit trail, webhook endpoints and deliveries
    WEBHOOKS_WRITE = "webhooks:write"


OPERATOR_ONLY_SCOPES: frozenset[Scope] = frozenset({Scope.TENANTS_WRITE})


@dataclass(frozen=True, slots=True)
class Quota:
    """At most ``limit`` sends per ``window_seconds`` (a fixed window)."""

    limit: int
    window_seconds: int


# Keyed by plain strings: these are stored as JSON and read back as strings.
DEFAULT_QUOTAS: dict[str, Quota] = {
    QuotaName.SMS_PER_USER.value: Quota(10, 3600),
    QuotaName.PN_PER_USER.value: Quota(20, 3600),
    QuotaName.SMS_PER_TENANT.value: Quota(1000, 86400),
    QuotaName.PN_PER_TENANT.value: Quota(10000, 86400),
    QuotaName.PN_UNANSWERED_PER_USER.value: Quota(0, 3600),  # off
}
DEFAULT_FACTORS: dict[str, bool] = {f.value: True for f in Factor}
# Every feature on, but the opt-in push-fatigue one.
DEFAULT_FEATURES: dict[str, bool] = {
    f.value: f is not Feature.PUSH_NUMBER_MATCHING for f in Feature
}
