"""Views of the core's records for the backend API and the CLI.

The core returns store records; what a caller sees of them is decided here, once,
as the response models that also document the API. Secrets never appear: a
phone number shows masked, a key's hash and a seed are not fields at all.
"""

from __future__ import annotations

from datetime import UTC, datetime

from mfa.admin import FactorToggle
from mfa.names import Quota, QuotaName
from mfa.schemas.backend import (
    ApiKeyResponse,
    DeviceView,
    EnrollmentResponse,
    FactorState,
    QuotaModel,
    QuotasResponse,
    TenantResponse,
)
from mfa.storage.base import ApiKey, Enrollment, Tenant


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def quotas_view(quotas: dict[str, Quota]) -> QuotasResponse:
    return QuotasResponse.model_validate(
        {
            name.value: QuotaModel(
                limit=quotas[name].limit, window_seconds=quotas[name].window_seconds
            )
            for name in QuotaName
        }
    )


def tenant_view(tenant: Tenant) -> TenantResponse:
    return TenantResponse(
        tenant_id=tenant.tenant_id,
        name=tenant.name,
        factors=dict(tenant.factors),
        features=dict(tenant.features),
        quotas=quotas_view(tenant.quotas),
        sms_otp_length=tenant.sms_otp_length,
        sandbox=tenant.sandbox,
    )


def factor_view(toggle: FactorToggle) -> FactorState:
    return FactorState(name=toggle.name, enabled=toggle.enabled, available=toggle.available)


def api_key_view(record: ApiKey, secret: str) -> ApiKeyResponse:
    return ApiKeyResponse(
        key_id=record.key_id,
        key=secret,
        tenant_id=record.tenant_id,
        name=record.name,
        scopes=sorted(record.scopes),
    )


def enrollment_view(e: Enrollment) -> EnrollmentResponse:
    return EnrollmentResponse(
        id=e.enrollment_id,
        user_id=e.user_id,
        status=e.status,
        methods=list(e.methods),
        phone_number=e.phone_masked,
        name=e.name,
        created_at=e.created_at.isoformat() if e.created_at else None,
        device=device_view(e),
    )


def device_view(e: Enrollment) -> DeviceView | None:
    """The push device of an enrollment; whether it has a push token, never the token."""
    if e.device_identifier is None and e.device_public_key is None:
        return None
    return DeviceView(
        identifier=e.device_identifier,
        name=e.name,
        push_service=e.push_service,
        has_push_token=e.push_token is not None,
        push_endpoint_disabled=e.status == "pn_disabled",
        pn_disabled_at=e.pn_disabled_at.isoformat() if e.pn_disabled_at else None,
        pn_disabled_reason=e.pn_disabled_reason,
    )
