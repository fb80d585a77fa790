"""Backend API routes of tenants and their API keys (``service.admin``)."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.requests import Request

from mfa.http.backend_endpoint import AUTH, BODY, TENANT, admin, backend_endpoint
from mfa.http.endpoint import Endpoint
from mfa.http.params import path_id, tenant_id
from mfa.http.views import api_key_view, tenant_view
from mfa.principals import Principal
from mfa.schemas.backend import ApiKeyResponse, CreateApiKeyBody, CreateTenantBody, TenantResponse


class TenantList(BaseModel):
    tenants: list[TenantResponse]


async def create_tenant(request: Request, body: CreateTenantBody) -> TenantResponse:
    tenant = await admin(request).create_tenant(body.tenant_id, body.name, sandbox=body.sandbox)
    return tenant_view(tenant)


async def list_tenants(request: Request, _: None) -> TenantList:
    return TenantList(tenants=[tenant_view(t) for t in await admin(request).list_tenants()])


async def get_tenant(request: Request, _: None) -> TenantResponse:
    return tenant_view(await admin(request).get_tenant(tenant_id(request)))


async def delete_tenant(request: Request, _: None) -> None:
    await admin(request).delete_tenant(tenant_id(request))


async def create_api_key(request: Request, body: CreateApiKeyBody) -> ApiKeyResponse:
    who: Principal = request.state.principal
    record, secret = await admin(request).create_api_key(
        tenant_id(request), body.name, list(body.scopes), granted_by=who.scopes
    )
    return api_key_view(record, secret)


async def revoke_api_key(request: Request, _: None) -> None:
    await admin(request).revoke_api_key(tenant_id(request), path_id(request, "key_id"))


ENDPOINTS: tuple[Endpoint, ...] = (
    backend_endpoint(
        "POST",
        "/api/tenants",
        create_tenant,
        "Create a tenant",
        body=CreateTenantBody,
        response=TenantResponse,
        status=201,
        scope="tenants:write",
        errors=(*AUTH, *BODY),
    ),
    backend_endpoint(
        "GET",
        "/api/tenants",
        list_tenants,
        "List tenants",
        response=TenantList,
        scope="tenants:read",
        errors=AUTH,
    ),
    backend_endpoint(
        "GET",
        "/api/tenants/{tenant_id}",
        get_tenant,
        "A tenant with its settings",
        response=TenantResponse,
        scope="tenants:read",
        errors=(*AUTH, *TENANT),
    ),
    backend_endpoint(
        "DELETE",
        "/api/tenants/{tenant_id}",
        delete_tenant,
        "Delete a tenant and all its data",
        status=204,
        scope="tenants:write",
        errors=(*AUTH, *TENANT),
    ),
    backend_endpoint(
        "POST",
        "/api/tenants/{tenant_id}/api-keys",
        create_api_key,
        "Create an API key (the secret is shown once)",
        body=CreateApiKeyBody,
        response=ApiKeyResponse,
        status=201,
        scope="keys:write",
        errors=(*AUTH, *TENANT, *BODY),
    ),
    backend_endpoint(
        "DELETE",
        "/api/tenants/{tenant_id}/api-keys/{key_id}",
        revoke_api_key,
        "Revoke an API key",
        status=204,
        scope="keys:write",
        errors=(*AUTH, "not_found"),
    ),
)
