"""Backend API routes: what the host's backend and tenant admins call with API keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse

from mfa.admin import Admin
from mfa.catalogue import catalogue_json
from mfa.errors import ServiceUnavailable
from mfa.http import events as events_routes
from mfa.http import params
from mfa.http import sandbox as sandbox_routes
from mfa.http import status as status_routes
from mfa.http.endpoint import Endpoint
from mfa.http.views import (
    api_key_view,
    enrollment_view,
    factor_view,
    iso,
    quotas_view,
    tenant_view,
)
from mfa.names import Quota
from mfa.principals import Principal
from mfa.schemas import Body, RecoveryCodeResponse
from mfa.schemas.backend import (
    ApiKeyResponse,
    CreateApiKeyBody,
    CreateTenantBody,
    EnrollmentResponse,
    FactorState,
    FeatureState,
    OtpLength,
    QuotasBody,
    QuotasResponse,
    RequestTokenResponse,
    TenantResponse,
    TicketResponse,
    ToggleBody,
    UserBody,
)
from mfa.ui.schemas import HostedPagesBody, HostedPagesResponse, hosted_pages_view

if TYPE_CHECKING:  # the service is built by the composition root (mfa.service)
    from mfa.service import MFAService


class SmsSettingsBody(Body):
    otp_length: OtpLength


class SmsSettingsResponse(BaseModel):
    otp_length: int


class TenantList(BaseModel):
    tenants: list[TenantResponse]


def _service(request: Request) -> MFAService:
    service: MFAService = request.app.state.mfa
    return service


def _admin(request: Request) -> Admin:
    return _service(request).admin


def _tid(request: Request) -> str:
    return params.tenant_id(request)


def _param(request: Request, name: str) -> str:
    return params.path_id(request, name)


# Handlers run after the Endpoint authorized the caller for the route's scope and
# tenant (mfa.principals); the principal is on request.state for the few that
# need more than a yes.


async def create_tenant(request: Request, body: CreateTenantBody) -> TenantResponse:
    admin = _admin(request)
    return tenant_view(await admin.create_tenant(body.tenant_id, body.name, sandbox=body.sandbox))


async def list_tenants(request: Request, _: None) -> TenantList:
    return TenantList(tenants=[tenant_view(t) for t in await _admin(request).list_tenants()])


async def get_tenant(request: Request, _: None) -> TenantResponse:
    return tenant_view(await _admin(request).get_tenant(_tid(request)))


async def delete_tenant(request: Request, _: None) -> None:
    await _admin(request).delete_tenant(_tid(request))


async def create_api_key(request: Request, body: CreateApiKeyBody) -> ApiKeyResponse:
    who: Principal = request.state.principal
    record, secret = await _admin(request).create_api_key(
        _tid(request), body.name, list(body.scopes), granted_by=who.scopes
    )
    return api_key_view(record, secret)


async def revoke_api_key(request: Request, _: None) -> None:
    await _admin(request).revoke_api_key(_tid(request), _param(request, "key_id"))


async def list_factors(request: Request, _: None) -> list[FactorState]:
    return [factor_view(t) for t in await _admin(request).list_factors(_tid(request))]


async def set_factor(request: Request, body: ToggleBody) -> FactorState:
    name = _param(request, "name")
    return factor_view(await _admin(request).set_factor(_tid(request), name, body.enabled))


async def set_feature(request: Request, body: ToggleBody) -> FeatureState:
    name = _param(request, "name")
    tenant = await _admin(request).set_feature(_tid(request), name, body.enabled)
    return FeatureState(name=name, enabled=tenant.features[name])


async def get_quotas(request: Request, _: None) -> QuotasResponse:
    return quotas_view(await _admin(request).get_quotas(_tid(request)))


async def put_quotas(request: Request, body: QuotasBody) -> QuotasResponse:
    changes = {name: Quota(q.limit, q.window_seconds) for name, q in body if q is not None}
    return quotas_view(await _admin(request).set_quotas(_tid(request), changes))


async def put_sms_settings(request: Request, body: SmsSettingsBody) -> SmsSettingsResponse:
    tenant = await _admin(request).set_sms_otp_length(_tid(request), body.otp_length)
    return SmsSettingsResponse(otp_length=tenant.sms_otp_length)


async def request_token(request: Request, body: UserBody) -> RequestTokenResponse:
    issued = await _admin(request).issue_request_token(_tid(request), body.user_id)
    return RequestTokenResponse(request_token=issued.token, expires_at=iso(issued.expires_at))


async def enrollment_ticket(request: Request, body: UserBody) -> TicketResponse:
    issued = await _admin(request).issue_enrollment_ticket(_tid(request), body.user_id)
    return TicketResponse(ticket_id=issued.token, expires_at=iso(issued.expires_at))


async def list_enrollments(request: Request, _: None) -> list[EnrollmentResponse]:
    found = await _admin(request).list_enrollments(_tid(request), _param(request, "user_id"))
    return [enrollment_view(e) for e in found]


async def delete_enrollment(request: Request, _: None) -> None:
    await _admin(request).delete_enrollment(_tid(request), _param(request, "enrollment_id"))


async def regenerate_recovery(request: Request, body: Body) -> RecoveryCodeResponse:
    code = await _admin(request).regenerate_recovery_code(_tid(request), _param(request, "user_id"))
    return RecoveryCodeResponse(recovery_code=code)


async def error_catalogue(request: Request, _: None) -> list[dict[str, object]]:
    return catalogue_json()


async def jwks(request: Request, _: None) -> dict[str, Any]:
    return _service(request).keys.signing.jwks()


async def healthz(request: Request, _: None) -> dict[str, str]:
    return {"status": "ok"}


async def readyz(request: Request, _: None) -> JSONResponse:
    service = _service(request)
    checks: dict[str, str] = {}
    for name, store in (("database", service.durable), ("ephemeral", service.ephemeral)):
        try:
            await store.ping()
            checks[name] = "ok"
        except Exception:  # reported, not raised: readiness is a report
            checks[name] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    if not ready:
        raise ServiceUnavailable("Not ready: " + ", ".join(f"{k} {v}" for k, v in checks.items()))
    return JSONResponse({"status": "ready", "checks": checks})


# --- hosted pages (mfa.ui): the tenant's return-URL allowlist and branding -----------


async def get_hosted_pages(request: Request, _: None) -> HostedPagesResponse:
    return hosted_pages_view(await _admin(request).get_hosted_pages(_tid(request)))


async def put_hosted_pages(request: Request, body: HostedPagesBody) -> HostedPagesResponse:
    pages = await _admin(request).set_hosted_pages(_tid(request), body.record())
    return hosted_pages_view(pages)


_AUTH = ("invalid_bearer_format", "invalid_token", "insufficient_scope")
_T = ("tenant_not_found",)
_BODY = ("invalid_body", "field_required")
_TAG = ("backend API",)


def _ep(method: str, path: str, handler: Any, summary: str, **kw: Any) -> Endpoint:
    kw.setdefault("auth", "api_key")
    kw.setdefault("tags", _TAG)
    if method in ("POST", "PUT", "PATCH") and "body" not in kw:
        kw["body"] = Body
    return Endpoint(method, path, handler, summary, **kw)


ENDPOINTS: tuple[Endpoint, ...] = (
    _ep(
        "POST",
        "/api/tenants",
        create_tenant,
        "Create a tenant",
        body=CreateTenantBody,
        response=TenantResponse,
        status=201,
        scope="tenants:write",
        errors=(*_AUTH, *_BODY),
    ),
    _ep(
        "GET",
        "/api/tenants",
        list_tenants,
        "List tenants",
        response=TenantList,
        scope="tenants:read",
        errors=_AUTH,
    ),
    _ep(
        "GET",
        "/api/tenants/{tenant_id}",
        get_tenant,
        "A tenant with its settings",
        response=TenantResponse,
        scope="tenants:read",
        errors=(*_AUTH, *_T),
    ),
    _ep(
        "DELETE",
        "/api/tenants/{tenant_id}",
        delete_tenant,
        "Delete a tenant and all its data",
        status=204,
        scope="tenants:write",
        errors=(*_AUTH, *_T),
    ),
    _ep(
        "POST",
        "/api/tenants/{tenant_id}/api-keys",
        create_api_key,
        "Create an API key (the secret is shown once)",
        body=CreateApiKeyBody,
        response=ApiKeyResponse,
        status=201,
        scope="keys:write",
        errors=(*_AUTH, *_T, *_BODY),
    ),
    _ep(
        "DELETE",
        "/api/tenants/{tenant_id}/api-keys/{key_id}",
        revoke_api_key,
        "Revoke an API key",
        status=204,
        scope="keys:write",
        errors=(*_AUTH, "not_found"),
    ),
    _ep(
        "GET",
        "/api/tenants/{tenant_id}/factors",
        list_factors,
        "Factor toggles",
        response=FactorState,
        many=True,
        scope="factors:read",
        errors=(*_AUTH, *_T),
    ),
    _ep(
        "PUT",
        "/api/tenants/{tenant_id}/factors/{name}",
        set_factor,
        "Switch a factor on or off for the tenant",
        body=ToggleBody,
        response=FactorState,
        scope="factors:write",
        errors=(*_AUTH, *_T, *_BODY, "method_not_found", "feature_disabled"),
    ),
    _ep(
        "PUT",
        "/api/tenants/{tenant_id}/features/{name}",
        set_feature,
        "Switch a tenant feature (enrollment, device_management) on or off",
        body=ToggleBody,
        response=FeatureState,
        scope="factors:write",
        errors=(*_AUTH, *_T, *_BODY, "not_found"),
    ),
    _ep(
        "PUT",
        "/api/tenants/{tenant_id}/sms-settings",
        put_sms_settings,
        "Digits of SMS codes for the tenant",
        body=SmsSettingsBody,
        response=SmsSettingsResponse,
        scope="factors:write",
        errors=(*_AUTH, *_T, *_BODY),
    ),
    _ep(
        "GET",
        "/api/tenants/{tenant_id}/quotas",
        get_quotas,
        "The tenant's SMS and push quotas",
        response=QuotasResponse,
        scope="quotas:read",
        errors=(*_AUTH, *_T),
    ),
    _ep(
        "PUT",
        "/api/tenants/{tenant_id}/quotas",
        put_quotas,
        "Change any subset of the quotas",
        body=QuotasBody,
        response=QuotasResponse,
        scope="quotas:write",
        errors=(*_AUTH, *_T, *_BODY),
    ),
    _ep(
        "POST",
        "/api/tenants/{tenant_id}/request-tokens",
        request_token,
        "A request token that opens one start-flow for a user",
        body=UserBody,
        response=RequestTokenResponse,
        scope="transactions:create",
        errors=(*_AUTH, *_T, *_BODY),
    ),
    _ep(
        "POST",
        "/api/tenants/{tenant_id}/enrollment-tickets",
        enrollment_ticket,
        "A one-time enrollment ticket for a user",
        body=UserBody,
        response=TicketResponse,
        scope="transactions:create",
        errors=(*_AUTH, *_T, *_BODY),
    ),
    _ep(
        "GET",
        "/api/tenants/{tenant_id}/users/{user_id}/enrollments",
        list_enrollments,
        "A user's enrollments (phone numbers masked)",
        response=EnrollmentResponse,
        many=True,
        scope="enrollments:read",
        errors=(*_AUTH, *_T),
    ),
    _ep(
        "DELETE",
        "/api/tenants/{tenant_id}/enrollments/{enrollment_id}",
        delete_enrollment,
        "Reset a user's MFA",
        status=204,
        scope="enrollments:write",
        errors=(*_AUTH, *_T, "not_found"),
    ),
    _ep(
        "POST",
        "/api/tenants/{tenant_id}/users/{user_id}/recovery-code-regeneration",
        regenerate_recovery,
        "A new recovery code for the user (the old one stops working)",
        response=RecoveryCodeResponse,
        scope="enrollments:write",
        errors=(*_AUTH, *_T, "not_enrolled"),
    ),
    _ep("GET", "/api/errors", error_catalogue, "The error catalogue", auth="none", tags=("meta",)),
    _ep(
        "GET",
        "/.well-known/jwks.json",
        jwks,
        "Public keys of result signatures",
        auth="none",
        tags=("meta",),
    ),
    _ep("GET", "/healthz", healthz, "Liveness", auth="none", tags=("meta",)),
    _ep(
        "GET",
        "/readyz",
        readyz,
        "Readiness: Redis and the database answer",
        auth="none",
        tags=("meta",),
        errors=("service_unavailable",),
    ),
    # --- hosted pages (mfa.ui) ------------------------------------------------------
    _ep(
        "GET",
        "/api/tenants/{tenant_id}/hosted-pages",
        get_hosted_pages,
        "The hosted pages' return-URL allowlist and branding",
        response=HostedPagesResponse,
        scope="tenants:read",
        errors=(*_AUTH, *_T),
    ),
    _ep(
        "PUT",
        "/api/tenants/{tenant_id}/hosted-pages",
        put_hosted_pages,
        "Replace the hosted pages' return-URL allowlist and branding",
        body=HostedPagesBody,
        response=HostedPagesResponse,
        scope="factors:write",
        errors=(*_AUTH, *_T, *_BODY),
    ),
    # --- events (mfa.events): the audit trail and tenant webhooks -------------------
    *events_routes.ENDPOINTS,
    # --- sandbox tenants (mfa.sandbox) -----------------------------------------------
    *sandbox_routes.ENDPOINTS,
    # --- enrollment status (mfa.enrollment_status) -----------------------------------
    *status_routes.ENDPOINTS,
)
