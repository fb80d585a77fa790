"""What the transaction steps answer: typed records, no wire.

The flows return these; :mod:`mfa.http.guardian_views` shapes them into the
Guardian wire (guardian-wire §2, §3), the hosted pages (:mod:`mfa.ui`) render
them, and :class:`mfa.InProcessClient` builds the client's models from them.
Secrets are left out of ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mfa.storage.base import TxState


@dataclass(frozen=True, slots=True)
class ConfirmedEnrollment:
    """An enrollment as the browser may see it: no secret, the phone number masked."""

    enrollment_id: str
    methods: tuple[str, ...]
    # The factors a login may use now, default first (operator and tenant switches
    # applied; the recovery code last).
    authenticator_types: tuple[str, ...]
    name: str | None = None  # the push device's name
    phone_masked: str | None = None

    def stored(self) -> dict[str, Any]:
        """As the transaction keeps it (``Transaction.enrollment``). The keys are the
        wire's, as they always were, so transactions stored by an older release
        still read back."""
        return {
            "id": self.enrollment_id,
            "status": "confirmed",
            "methods": list(self.methods),
            "available_methods": list(self.methods),
            "available_authenticator_types": list(self.authenticator_types),
            "name": self.name,
            "phone_number": self.phone_masked,
        }

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> ConfirmedEnrollment:
        return cls(
            enrollment_id=str(stored["id"]),
            methods=tuple(stored["methods"]),
            authenticator_types=tuple(stored["available_authenticator_types"]),
            name=stored.get("name"),
            phone_masked=stored.get("phone_number"),
        )


@dataclass(frozen=True, slots=True)
class PendingEnrollment:
    """An enrollment before its first factor is confirmed: the secrets the user is
    shown once, and the ticket a phone enrolls with (``enrollment_tx_id``)."""

    enrollment_id: str
    ticket: str
    otp_secret: str = field(repr=False)  # base32
    recovery_code: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class StartedTransaction:
    """What start-flow opened: the token for every later call, what the user may
    enroll or log in with, and the enrollment (pending for a new user)."""

    token: str = field(repr=False)
    enrollable: tuple[str, ...]
    authenticable: tuple[str, ...]
    sms_otp_length: int
    enrollment: PendingEnrollment | ConfirmedEnrollment

    @property
    def enrolled(self) -> bool:
        return isinstance(self.enrollment, ConfirmedEnrollment)


@dataclass(frozen=True, slots=True)
class TransactionStatus:
    """One look at a transaction: its state, the enrollment once one shows, and the
    result signature once accepted (None otherwise)."""

    txid: str
    state: TxState
    enrollment: ConfirmedEnrollment | None
    signature: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class PhoneEnrollment:
    """An enrollment handed to a phone: where to call back, its device token, and
    the TOTP seed the browser showed (the phone also shows codes)."""

    enrollment_id: str
    service_url: str
    issuer: str
    user_id: str
    device_token: str = field(repr=False)
    otp_secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class RegisteredDevice:
    """A phone's device account as the phone itself may read it back."""

    enrollment_id: str
    identifier: str | None
    name: str | None
    push_service: str | None  # "APNS" or "GCM"; None: no push credentials
    push_token: str | None = field(repr=False)
