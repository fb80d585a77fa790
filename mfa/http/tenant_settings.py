"""Backend API routes of a tenant's settings: factor and feature toggles, SMS code
length, quotas. Each write is one audit event (``tenant.settings_changed``)."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.requests import Request

from mfa.http.backend_endpoint import AUTH, BODY, TENANT, admin, backend_endpoint
from mfa.http.endpoint import Endpoint
from mfa.http.params import path_id, tenant_id
from mfa.http.views import factor_view, quotas_view
from mfa.names import Quota
from mfa.schemas import Body
from mfa.schemas.backend import (
    FactorState,
    FeatureState,
    OtpLength,
    QuotasBody,
    QuotasResponse,
    ToggleBody,
)


class SmsSettingsBody(Body):
    otp_length: OtpLength


class SmsSettingsResponse(BaseModel):
    otp_length: int


async def list_factors(request: Request, _: None) -> list[FactorState]:
    return [factor_view(t) for t in await admin(request).list_factors(tenant_id(request))]


async def set_factor(request: Request, body: ToggleBody) -> FactorState:
    name = path_id(request, "name")
    return factor_view(await admin(request).set_factor(tenant_id(request), name, body.enabled))


async def set_feature(request: Request, body: ToggleBody) -> FeatureState:
    name = path_id(request, "name")
    tenant = await admin(request).set_feature(tenant_id(request), name, body.enabled)
    return FeatureState(name=name, enabled=tenant.features[name])


async def get_quotas(request: Request, _: None) -> QuotasResponse:
    return quotas_view(await admin(request).get_quotas(tenant_id(request)))


async def put_quotas(request: Request, body: QuotasBody) -> QuotasResponse:
    changes = {name: Quota(q.limit, q.window_seconds) for name, q in body if q is not None}
    return quotas_view(await admin(request).set_quotas(tenant_id(request), changes))


async def put_sms_settings(request: Request, body: SmsSettingsBody) -> SmsSettingsResponse:
    tenant = await admin(request).set_sms_otp_length(tenant_id(request), body.otp_length)
    return SmsSettingsResponse(otp_length=tenant.sms_otp_length)


ENDPOINTS: tuple[Endpoint, ...] = (
    backend_endpoint(
        "GET",
        "/api/tenants/{tenant_id}/factors",
        list_factors,
        "Factor toggles",
        response=FactorState,
        many=True,
        scope="factors:read",
        errors=(*AUTH, *TENANT),
    ),
    backend_endpoint(
        "PUT",
        "/api/tenants/{tenant_id}/factors/{name}",
        set_factor,
        "Switch a factor on or off for the tenant",
        body=ToggleBody,
        response=FactorState,
        scope="factors:write",
        errors=(*AUTH, *TENANT, *BODY, "method_not_found", "feature_disabled"),
    ),
    backend_endpoint(
        "PUT",
        "/api/tenants/{tenant_id}/features/{name}",
        set_feature,
        "Switch a tenant feature (enrollment, device_management) on or off",
        body=ToggleBody,
        response=FeatureState,
        scope="factors:write",
        errors=(*AUTH, *TENANT, *BODY, "not_found"),
    ),
    backend_endpoint(
        "PUT",
        "/api/tenants/{tenant_id}/sms-settings",
        put_sms_settings,
        "Digits of SMS codes for the tenant",
        body=SmsSettingsBody,
        response=SmsSettingsResponse,
        scope="factors:write",
        errors=(*AUTH, *TENANT, *BODY),
    ),
    backend_endpoint(
        "GET",
        "/api/tenants/{tenant_id}/quotas",
        get_quotas,
        "The tenant's SMS and push quotas",
        response=QuotasResponse,
        scope="quotas:read",
        errors=(*AUTH, *TENANT),
    ),
    backend_endpoint(
        "PUT",
        "/api/tenants/{tenant_id}/quotas",
        put_quotas,
        "Change any subset of the quotas",
        body=QuotasBody,
        response=QuotasResponse,
        scope="quotas:write",
        errors=(*AUTH, *TENANT, *BODY),
    ),
)
