"""Backend route of the enrollment status object (mfa.enrollment_status).

``GET /api/tenants/{tid}/users/{uid}/enrollment-status`` answers one object: the
derived ``status`` (``confirmation_pending``, ``confirmed``, ``disabled`` for a
dead push endpoint, ``locked`` while a lockout runs), ``last_error`` (code, API
and user message, time), ``last_used_at``, ``updated_at``, the methods, the
device and the masked phone number. The list of enrollments keeps its own
``status`` field (the stored state, ``confirmed`` or ``pn_disabled``) unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel
from starlette.requests import Request

from mfa.enrollment_status import EnrollmentStatus
from mfa.http import params
from mfa.http.endpoint import Endpoint
from mfa.http.views import device_view
from mfa.schemas.backend import DeviceView

if TYPE_CHECKING:  # the service is built by the composition root (mfa.service)
    from mfa.service import MFAService


class LastErrorView(BaseModel):
    code: str
    message: str
    user_message: str
    at: str
    method: str | None


class EnrollmentStatusResponse(BaseModel):
    id: str
    user_id: str
    status: Literal["confirmation_pending", "confirmed", "disabled", "locked"]
    locked_until: str | None
    last_error: LastErrorView | None
    last_used_at: str | None
    created_at: str | None
    updated_at: str | None
    methods: list[str]
    phone_number: str | None  # masked
    name: str | None
    device: DeviceView | None


def enrollment_status_view(s: EnrollmentStatus) -> EnrollmentStatusResponse:
    e = s.enrollment
    err = s.last_error
    return EnrollmentStatusResponse(
        id=e.enrollment_id,
        user_id=e.user_id,
        status=s.status,
        locked_until=_iso(s.locked_until),
        last_error=None
        if err is None
        else LastErrorView(
            code=err.code,
            message=err.message,
            user_message=err.user_message,
            at=err.at,
            method=err.method,
        ),
        last_used_at=_iso(e.last_used_at),
        created_at=_iso(e.created_at),
        updated_at=_iso(e.updated_at),
        methods=list(e.methods),
        phone_number=e.phone_masked,
        name=e.name,
        device=device_view(e),
    )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


async def enrollment_status(request: Request, _: None) -> EnrollmentStatusResponse:
    service: MFAService = request.app.state.mfa
    user_id = params.path_id(request, "user_id")
    found = await service.admin.enrollment_status(params.tenant_id(request), user_id)
    return enrollment_status_view(found)


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/api/tenants/{tenant_id}/users/{user_id}/enrollment-status",
        enrollment_status,
        "A user's enrollment status: state, last error, last use, device and phone (masked)",
        response=EnrollmentStatusResponse,
        auth="api_key",
        scope="enrollments:read",
        errors=(
            "invalid_bearer_format",
            "invalid_token",
            "insufficient_scope",
            "tenant_not_found",
            "not_enrolled",
        ),
        tags=("backend API",),
    ),
)
