"""Backend API routes of the tenant's hosted-pages setting: the return-URL allowlist
and branding the ``/ui/`` pages read (:mod:`mfa.ui`; the rules: :mod:`mfa.ui.policy`)."""

from __future__ import annotations

from starlette.requests import Request

from mfa.http.backend_endpoint import AUTH, BODY, TENANT, admin, backend_endpoint
from mfa.http.endpoint import Endpoint
from mfa.http.params import tenant_id
from mfa.ui.schemas import HostedPagesBody, HostedPagesResponse, hosted_pages_view


async def get_hosted_pages(request: Request, _: None) -> HostedPagesResponse:
    return hosted_pages_view(await admin(request).get_hosted_pages(tenant_id(request)))


async def put_hosted_pages(request: Request, body: HostedPagesBody) -> HostedPagesResponse:
    pages = await admin(request).set_hosted_pages(tenant_id(request), body.record())
    return hosted_pages_view(pages)


ENDPOINTS: tuple[Endpoint, ...] = (
    backend_endpoint(
        "GET",
        "/api/tenants/{tenant_id}/hosted-pages",
        get_hosted_pages,
        "The hosted pages' return-URL allowlist and branding",
        response=HostedPagesResponse,
        scope="tenants:read",
        errors=(*AUTH, *TENANT),
    ),
    backend_endpoint(
        "PUT",
        "/api/tenants/{tenant_id}/hosted-pages",
        put_hosted_pages,
        "Replace the hosted pages' return-URL allowlist and branding",
        body=HostedPagesBody,
        response=HostedPagesResponse,
        scope="factors:write",
        errors=(*AUTH, *TENANT, *BODY),
    ),
)
