"""The records the storage Protocols hold, and the errors their implementations raise.

The Protocols themselves, and what each store keeps, are in
:mod:`mfa.storage.protocols`. Importing this module loads neither SQLAlchemy nor
redis: the records are plain dataclasses.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from mfa.names import DEFAULT_FACTORS, DEFAULT_FEATURES, DEFAULT_QUOTAS, Quota


class BackendUnavailable(Exception):
    """Redis or the database could not be reached, or did not answer in time."""


class SchemaOutdated(Exception):
    """The database schema is behind the code; run ``mfa db upgrade``."""


class Conflict(Exception):
    """A uniqueness rule refused the write (the tenant or enrollment already exists)."""


class InvalidValue(Exception):
    """The database refused a value as data (a NUL, an untranslatable character, a
    string too long): the caller's input, not an outage."""


# --------------------------------------------------------------------------- durable


@dataclass(frozen=True, slots=True)
class HostedPages:
    """The tenant's settings of the hosted pages (``/ui/``): where the pages may send
    a browser back to (exact URLs: no open redirect) and the tenant's branding."""

    allowed_return_urls: tuple[str, ...] = ()
    logo_url: str | None = None
    primary_color: str | None = None  # "#rrggbb"


@dataclass(frozen=True, slots=True)
class Tenant:
    tenant_id: str
    name: str
    factors: dict[str, bool] = field(default_factory=lambda: dict(DEFAULT_FACTORS))
    features: dict[str, bool] = field(default_factory=lambda: dict(DEFAULT_FEATURES))
    quotas: dict[str, Quota] = field(default_factory=lambda: dict(DEFAULT_QUOTAS))
    sms_otp_length: int = 6  # digits of SMS codes (factor_settings.phone.otp_length)
    created_at: datetime | None = None
    hosted_pages: HostedPages = field(default_factory=HostedPages)
    # A sandbox tenant (set at creation, never changed): its messages go to the
    # sandbox outbox and it answers the documented magic inputs (mfa.sandbox).
    sandbox: bool = False


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    tenant_id: str | None  # None: operator-wide
    name: str
    scopes: frozenset[str]
    key_hash: bytes  # SHA-256 of the secret: keys are 256-bit random, no KDF needed
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Enrollment:
    """A confirmed device account of one user. Secrets are stored sealed.

    ``totp_secret`` and ``phone_number`` are AES-GCM ciphertexts made by
    :class:`mfa.keys.EncryptionKeys` (associated data: tenant and enrollment id);
    ``recovery_code_hash`` is an argon2id PHC string; ``device_token_hash`` is
    SHA-256 of the opaque device token. The store never sees plaintext.
    """

    enrollment_id: str
    tenant_id: str
    user_id: str
    methods: tuple[str, ...]
    status: Literal["confirmed", "pn_disabled"] = "confirmed"
    totp_secret: bytes | None = None
    phone_number: bytes | None = None
    phone_masked: str | None = None
    recovery_code_hash: str | None = None
    # The last TOTP time step accepted: the replay mark that survives a Redis loss.
    totp_last_step: int | None = None
    name: str | None = None
    device_identifier: str | None = None
    device_public_key: dict[str, Any] | None = None
    push_service: str | None = None
    push_token: bytes | None = None  # sealed like the phone number
    device_token_hash: bytes | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # Set with status "pn_disabled" when the push provider said the device token is
    # dead; cleared when the phone registers a new token.
    pn_disabled_at: datetime | None = None
    pn_disabled_reason: str | None = None
    # Written behind the request (mfa.activity): the last accepted answer, and the
    # last error met ({"code", "at" (ISO 8601), "method", "retry_after"}).
    last_used_at: datetime | None = None
    last_error: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RecoveryHandover:
    """A rotated recovery code not yet known to be in the user's hands."""

    used_hash: str  # the hash of the code that was used: presenting it claims the handover
    sealed_code: bytes  # the new code, sealed for (tenant, enrollment, "recovery")
    since: datetime


# --------------------------------------------------------------------------- ephemeral


TxState = Literal["pending", "accepted", "rejected"]


@dataclass(slots=True)
class Transaction:
    """One enrollment or login transaction.

    ``data`` holds the factor-specific, immutable-ish facts set at start-flow
    (sealed pending TOTP seed, recovery-code hash, enrolled methods …) as a JSON
    object; the mutable fields are changed only through the store's atomic calls.
    """

    txid: str
    tenant_id: str
    user_id: str
    kind: Literal["enroll", "auth"]
    expires_at: float  # epoch seconds
    state: TxState = "pending"
    enrollment: dict[str, Any] | None = None  # public view shown by transaction-state
    token: str | None = None  # result signature once accepted
    data: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0  # wrong codes so far in this transaction


class AttemptOutcome(enum.Enum):
    ACCEPTED = "accepted"
    INVALID = "invalid"  # wrong code; counted
    REPLAY = "replay"  # right TOTP, but its time step was already used; counted
    LOCKED = "locked"  # the user is in a lockout window; not evaluated
    KILLED = "killed"  # this wrong code used up the transaction's attempts: it is gone
    GONE = "gone"  # no such pending transaction


@dataclass(frozen=True, slots=True)
class AttemptLimits:
    per_transaction: int  # wrong codes before the transaction dies
    per_user: int  # wrong codes before the user is locked out
    lockout_seconds: int  # window of the per-user count and of the lockout


@dataclass(frozen=True, slots=True)
class QuotaDecision:
    granted: bool
    refused: Literal["user", "tenant"] | None = None
    retry_after: int = 0  # seconds until the refusing counter frees up


@dataclass(frozen=True, slots=True)
class AttemptEvent:
    """The event :meth:`~mfa.storage.protocols.EphemeralStore.record_attempt`
    appends to the tenant's event stream in the same atomic step as its decision,
    typed by that decision: ``success_type`` when accepted, else ``failure_type``
    with ``failure_code`` (and a ``user.locked`` event beside it when this attempt
    begins a lockout)."""

    event_id: str
    time: float
    success_type: str
    failure_type: str
    failure_code: str
    # user_id, enrollment_id, method, request_id, client_ip, user_agent, actor
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class QuotaEvent:
    """The event :meth:`~mfa.storage.protocols.EphemeralStore.consume_quota` appends
    to the tenant's event stream in the same atomic step when it refuses a send (a
    grant appends none). ``fields`` is the event's entry (``Event.wire()``) but for
    its ``error_code``, which the refusing quota picks: ``user_code`` or
    ``tenant_code``."""

    user_code: str
    tenant_code: str
    fields: dict[str, str]
