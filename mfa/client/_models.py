"""The values the clients answer with: frozen dataclasses, secrets kept out of ``repr``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from mfa.names import Quota

QuotaLike = Quota | tuple[int, int] | Mapping[str, int]
"""A quota as :meth:`AsyncClient.set_quotas` takes it: a :class:`Quota`, a
``(limit, window_seconds)`` pair, or the wire form ``{"limit": …, "window_seconds": …}``."""


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A freshly created API key. ``key`` is the secret: the service stores only its
    hash and will never show it again, so keep it now (it is left out of ``repr``)."""

    key_id: str
    key: str = field(repr=False)
    scopes: list[str]
    name: str
    tenant_id: str | None


@dataclass(frozen=True, slots=True)
class RequestToken:
    """A one-time token that opens one ``start-flow`` for one user; hand it to the
    browser (or to :meth:`AsyncClient.start_flow`) before ``expires_at``."""

    token: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class EnrollmentTicket:
    """A one-time invitation to enroll (``Authorization: Ticket id="…"``); unlike a
    request token it works even when self-service enrollment is switched off."""

    ticket_id: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Transaction:
    """What ``start-flow`` answered: the transaction token for every later call and,
    for a user who is not enrolled yet, the pending enrollment's secrets.

    ``enrolled`` follows the Guardian rule: the user is enrolled exactly when the
    answer has no ``enrollment_tx_id``. Secrets are left out of ``repr``.
    """

    transaction_token: str = field(repr=False)
    enrolled: bool
    enrollment_tx_id: str | None
    device_account: dict[str, Any] = field(repr=False)
    available_enrollment_methods: list[str]
    available_authentication_methods: list[str]
    otp_length: int

    @property
    def enrollment_id(self) -> str:
        """The device account id (used in ``sms-enroll`` paths and to delete it)."""
        return str(self.device_account["id"])

    @property
    def otp_secret(self) -> str | None:
        """The base32 TOTP seed of a pending enrollment (None once enrolled)."""
        value = self.device_account.get("otp_secret")
        return None if value is None else str(value)

    @property
    def recovery_code(self) -> str | None:
        """The recovery code of a pending enrollment: show it to the user once."""
        value = self.device_account.get("recovery_code")
        return None if value is None else str(value)

    @property
    def available_authenticator_types(self) -> list[str]:
        """For an enrolled user, the factors a login may use, default first."""
        return list(self.device_account.get("available_authenticator_types") or [])


@dataclass(frozen=True, slots=True)
class TransactionState:
    """One ``transaction-state`` poll. ``token`` is the result signature once
    ``state == "accepted"``: verify it with :func:`verify_result`, never trust the
    state alone."""

    id: str
    state: Literal["pending", "accepted", "rejected"]
    enrollment: dict[str, Any] | None
    token: str | None = field(default=None, repr=False)

    @property
    def accepted(self) -> bool:
        return self.state == "accepted"
