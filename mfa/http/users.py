"""Backend API routes about one user of a tenant: what opens their flows (a request
token for a login, an enrollment ticket), their enrollments, and their recovery code.

The enrollment status object has its own module (:mod:`mfa.http.status`).
"""

from __future__ import annotations

from starlette.requests import Request

from mfa.http.backend_endpoint import AUTH, BODY, TENANT, admin, backend_endpoint
from mfa.http.endpoint import Endpoint
from mfa.http.params import path_id, tenant_id
from mfa.http.views import enrollment_view, iso
from mfa.schemas import Body, RecoveryCodeResponse
from mfa.schemas.backend import (
    EnrollmentResponse,
    RequestTokenResponse,
    TicketResponse,
    UserBody,
)


async def request_token(request: Request, body: UserBody) -> RequestTokenResponse:
    issued = await admin(request).issue_request_token(tenant_id(request), body.user_id)
    return RequestTokenResponse(request_token=issued.token, expires_at=iso(issued.expires_at))


async def enrollment_ticket(request: Request, body: UserBody) -> TicketResponse:
    issued = await admin(request).issue_enrollment_ticket(tenant_id(request), body.user_id)
    return TicketResponse(ticket_id=issued.token, expires_at=iso(issued.expires_at))


async def list_enrollments(request: Request, _: None) -> list[EnrollmentResponse]:
    found = await admin(request).list_enrollments(tenant_id(request), path_id(request, "user_id"))
    return [enrollment_view(e) for e in found]


async def delete_enrollment(request: Request, _: None) -> None:
    await admin(request).delete_enrollment(tenant_id(request), path_id(request, "enrollment_id"))


async def regenerate_recovery(request: Request, body: Body) -> RecoveryCodeResponse:
    user_id = path_id(request, "user_id")
    code = await admin(request).regenerate_recovery_code(tenant_id(request), user_id)
    return RecoveryCodeResponse(recovery_code=code)


ENDPOINTS: tuple[Endpoint, ...] = (
    backend_endpoint(
        "POST",
        "/api/tenants/{tenant_id}/request-tokens",
        request_token,
        "A request token that opens one start-flow for a user",
        body=UserBody,
        response=RequestTokenResponse,
        scope="transactions:create",
        errors=(*AUTH, *TENANT, *BODY),
    ),
    backend_endpoint(
        "POST",
        "/api/tenants/{tenant_id}/enrollment-tickets",
        enrollment_ticket,
        "A one-time enrollment ticket for a user",
        body=UserBody,
        response=TicketResponse,
        scope="transactions:create",
        errors=(*AUTH, *TENANT, *BODY),
    ),
    backend_endpoint(
        "GET",
        "/api/tenants/{tenant_id}/users/{user_id}/enrollments",
        list_enrollments,
        "A user's enrollments (phone numbers masked)",
        response=EnrollmentResponse,
        many=True,
        scope="enrollments:read",
        errors=(*AUTH, *TENANT),
    ),
    backend_endpoint(
        "DELETE",
        "/api/tenants/{tenant_id}/enrollments/{enrollment_id}",
        delete_enrollment,
        "Reset a user's MFA",
        status=204,
        scope="enrollments:write",
        errors=(*AUTH, *TENANT, "not_found"),
    ),
    backend_endpoint(
        "POST",
        "/api/tenants/{tenant_id}/users/{user_id}/recovery-code-regeneration",
        regenerate_recovery,
        "A new recovery code for the user (the old one stops working)",
        response=RecoveryCodeResponse,
        scope="enrollments:write",
        errors=(*AUTH, *TENANT, "not_enrolled"),
    ),
)
