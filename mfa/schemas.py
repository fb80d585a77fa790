"""Request and response schemas: the one copy that both validates and documents.

Request bodies are validated with these models (strict types, unknown fields
refused) and ``GET /api/openapi.json`` is generated from the same models, so the
documentation cannot drift from what the service accepts.

``WIRE_NAMES`` maps a body field to the name reported in ``field_required``: the
Guardian clients know ``otpCode``, ``recoveryCode`` and ``phoneNumber``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from mfa.errors import InvalidOtpFormat, InvalidRecoveryCodeFormat

# No control characters (C0, DEL, C1) in any text we keep: PostgreSQL refuses NUL
# outright (a 500, once), and none belongs in a name or an id. Enforced by pydantic
# and, being a pattern, shown in the OpenAPI document.
NO_CONTROL = r"^[^\x00-\x1f\x7f-\x9f]*$"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


Name = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_CONTROL)]


def has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def _lax_int(value: Any) -> Any:
    # JSON has one number type: 3600.0 is 3600 to a client in JavaScript. Strict mode
    # refuses it, so integral floats are turned into ints here, and only those:
    # 3600.5, "3600" and true are still refused.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Bounds sit on the int itself, under the float conversion, so the JSON schema shows
# them as minimum/maximum (put on top of the validator, pydantic writes "ge"/"le").
_Lax = BeforeValidator(_lax_int)
OtpLength = Annotated[int, Field(ge=4, le=10), _Lax]

OTP_PATTERN = r"^[0-9]{4,10}$"
RECOVERY_PATTERN = r"^[0-9A-Za-z]{24}$"


def _otp_code(code: str) -> str:
    # The wire contract answers invalid_otp_format for any code that cannot be one
    # (too long included), not invalid_body; fullmatch, so "123456\n" is refused.
    if re.fullmatch(r"[0-9]{4,10}", code) is None:
        raise InvalidOtpFormat()
    return code


def _recovery_code(code: str) -> str:
    if re.fullmatch(r"[0-9A-Za-z]{24}", code) is None:
        raise InvalidRecoveryCodeFormat()
    return code


OtpCode = Annotated[
    str, AfterValidator(_otp_code), Field(json_schema_extra={"pattern": OTP_PATTERN})
]
RecoveryCode = Annotated[
    str,
    AfterValidator(_recovery_code),
    Field(json_schema_extra={"pattern": RECOVERY_PATTERN, "minLength": 24, "maxLength": 24}),
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    WIRE_NAMES: ClassVar[dict[str, str]] = {}


class Empty(Body):
    """Routes whose clients send no body (``Content-Length: 0``) also accept ``{}``."""


# ---------------------------------------------------------------- factor protocol


class StartFlowBody(Body):
    state_transport: Literal["polling", "socket", "manual"] | None = None


class VerifyOtpBody(Body):
    WIRE_NAMES: ClassVar[dict[str, str]] = {"code": "otpCode"}
    type: Literal["manual_input"] | None = None
    code: OtpCode


class RecoverAccountBody(Body):
    WIRE_NAMES: ClassVar[dict[str, str]] = {"recovery_code": "recoveryCode"}
    recovery_code: RecoveryCode


class SmsEnrollBody(Body):
    WIRE_NAMES: ClassVar[dict[str, str]] = {"phone_number": "phoneNumber"}
    phone_number: Annotated[str, Field(max_length=64)]


class DeviceAccount(BaseModel):
    """The public view of an enrollment, as start-flow and transaction-state show it."""

    id: str
    status: str
    methods: list[str]
    available_methods: list[str]
    available_authenticator_types: list[str]
    name: str | None
    phone_number: str | None


class PendingDeviceAccount(BaseModel):
    id: str
    status: Literal["confirmation_pending"]
    otp_secret: str
    recovery_code: str


class PhoneSettings(BaseModel):
    otp_length: int


class FactorSettings(BaseModel):
    phone: PhoneSettings


class StartFlowResponse(BaseModel):
    transaction_token: str
    enrollment_tx_id: str | None = None
    available_enrollment_methods: list[str]
    available_authentication_methods: list[str]
    factor_settings: FactorSettings
    device_account: DeviceAccount | PendingDeviceAccount


class TransactionStateResponse(BaseModel):
    id: str
    state: Literal["pending", "accepted", "rejected"]
    enrollment: DeviceAccount | None
    token: str | None = None


class RecoveryCodeResponse(BaseModel):
    recovery_code: str


# ---------------------------------------------------------------- backend API

TENANT_ID_PATTERN = r"^[a-z0-9_-]{1,64}$"
TenantId = Annotated[str, Field(pattern=TENANT_ID_PATTERN)]
# The same names as mfa.names.Scope (admin reads them from here with get_args).
Scope = Literal[
    "tenants:read",
    "tenants:write",
    "keys:write",
    "factors:read",
    "factors:write",
    "quotas:read",
    "quotas:write",
    "transactions:create",
    "enrollments:read",
    "enrollments:write",
    "events:read",
    "webhooks:write",
]
UserId = Annotated[str, Field(min_length=1, max_length=256, pattern=NO_CONTROL)]


class CreateTenantBody(Body):
    tenant_id: TenantId
    name: Name
    # A sandbox tenant: no message leaves the service; magic inputs (mfa.sandbox).
    sandbox: bool = False


QuotaLimit = Annotated[int, Field(ge=0, le=10_000_000), _Lax]
QuotaWindow = Annotated[int, Field(ge=1, le=31 * 86400), _Lax]


class QuotaModel(Body):
    limit: QuotaLimit
    window_seconds: QuotaWindow


class QuotasBody(Body):
    sms_per_user: QuotaModel | None = None
    pn_per_user: QuotaModel | None = None
    sms_per_tenant: QuotaModel | None = None
    pn_per_tenant: QuotaModel | None = None
    pn_unanswered_per_user: QuotaModel | None = None  # push fatigue; limit 0 = off


class QuotasResponse(BaseModel):
    sms_per_user: QuotaModel
    pn_per_user: QuotaModel
    sms_per_tenant: QuotaModel
    pn_per_tenant: QuotaModel
    pn_unanswered_per_user: QuotaModel


class TenantResponse(BaseModel):
    tenant_id: str
    name: str
    factors: dict[str, bool]
    features: dict[str, bool]
    quotas: QuotasResponse
    sms_otp_length: int
    sandbox: bool


class CreateApiKeyBody(Body):
    name: Name
    scopes: Annotated[list[Scope], Field(min_length=1)]


class ApiKeyResponse(BaseModel):
    key_id: str
    key: str
    tenant_id: str | None
    name: str
    scopes: list[str]


class ToggleBody(Body):
    enabled: bool


class FactorState(BaseModel):
    name: str
    enabled: bool
    available: bool  # enabled here and not switched off by the operator


class FeatureState(BaseModel):
    name: str
    enabled: bool


class UserBody(Body):
    user_id: UserId


class RequestTokenResponse(BaseModel):
    request_token: str
    expires_at: str


class TicketResponse(BaseModel):
    ticket_id: str
    expires_at: str


class DeviceView(BaseModel):
    """A user's enrolled device as the backend API shows it (never the push token)."""

    identifier: str | None
    name: str | None
    push_service: str | None
    has_push_token: bool
    push_endpoint_disabled: bool
    pn_disabled_at: str | None
    pn_disabled_reason: str | None


class EnrollmentResponse(BaseModel):
    id: str
    user_id: str
    status: str
    methods: list[str]
    phone_number: str | None
    name: str | None
    created_at: str | None
    device: DeviceView | None = None  # the push device, when one is enrolled


class ErrorBody(BaseModel):
    statusCode: int
    error: str
    message: str
    errorCode: str
    field: str | None = None
    method: str | None = None


# ---------------------------------------------------------------- push: phone and device


class PushCredentials(Body):
    # Android says "GCM" even when it uses FCM; iOS says "APNS". Android sends no
    # token at all when it has none.
    service: Literal["APNS", "GCM"]
    token: Annotated[str, Field(min_length=1, max_length=4096)] | None = None


class PublicJwk(Body):
    model_config = ConfigDict(extra="ignore", strict=True)  # kid, x5c…: not ours to refuse
    kty: Literal["RSA"]
    alg: Literal["RS256"] = "RS256"
    use: Literal["sig"] | None = None
    n: Annotated[str, Field(min_length=1, max_length=2048, pattern=r"^[A-Za-z0-9_-]+$")]
    e: Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")]


class PhoneEnrollBody(Body):
    identifier: Annotated[str, Field(min_length=1, max_length=256)]
    name: Annotated[str, Field(max_length=256)] | None = None
    push_credentials: PushCredentials | None = None
    public_key: PublicJwk


class TotpParameters(BaseModel):
    secret: str
    algorithm: str
    digits: int
    period: int


class PhoneEnrollResponse(BaseModel):
    """What the Android and iOS SDKs require of an enrollment (guardian-wire §3.1)."""

    id: str
    url: str
    issuer: str
    user_id: str
    token: str
    totp: TotpParameters


class ResolveTransactionBody(Body):
    challenge_response: Annotated[str, Field(min_length=1, max_length=16384)]


class PushSentResponse(BaseModel):
    """Only with number matching on: the number the browser shows to the user."""

    number: str


class DevicePatchBody(Body):
    identifier: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    name: Annotated[str, Field(max_length=256)] | None = None
    push_credentials: PushCredentials | None = None


class DeviceResponse(BaseModel):
    id: str
    identifier: str | None
    name: str | None
    push_credentials: dict[str, str | None] | None
