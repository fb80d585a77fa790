"""The backend API's request and response models (tenants, keys, toggles, quotas,
tokens, enrollments)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field

from mfa.schemas import NO_CONTROL, Body

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_CONTROL)]


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

TENANT_ID_PATTERN = r"^[a-z0-9_-]{1,64}$"
TenantId = Annotated[str, Field(pattern=TENANT_ID_PATTERN)]
# The same names as mfa.names.Scope.
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
