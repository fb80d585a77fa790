"""Backend route of sandbox tenants: read what the sandbox outbox holds.

An integrator's test reads the SMS code it was sent, or the push payload its
simulated phone should answer, with the tenant's API key. See :mod:`mfa.sandbox`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from starlette.requests import Request

from mfa.errors import NotFound
from mfa.http import params
from mfa.http.endpoint import Endpoint
from mfa.schemas import has_control

if TYPE_CHECKING:  # the service is built by the composition root (mfa.service)
    from mfa.service import MFAService


MAX_RECIPIENT_CHARS = 4096  # a push token's bound in the device enroll body


class SandboxMessage(BaseModel):
    channel: str  # "sms" or "push"
    to: str  # the phone number (E.164) or the push token
    sent_at: str
    body: str | None = None  # sms
    code: str | None = None  # sms: the code, so a test need not parse the body
    service: str | None = None  # push: "APNS" or "GCM"
    payload: dict[str, Any] | None = None  # push: the Guardian payload (txtkn, c, …)


class SandboxMessages(BaseModel):
    messages: list[SandboxMessage]


async def sandbox_messages(request: Request, _: None) -> SandboxMessages:
    service: MFAService = request.app.state.mfa
    recipient = str(request.path_params["recipient"])
    if not recipient or len(recipient) > MAX_RECIPIENT_CHARS or has_control(recipient):
        raise NotFound()
    found = await service.admin.sandbox_messages(params.tenant_id(request), recipient)
    return SandboxMessages(messages=[SandboxMessage.model_validate(m) for m in found])


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/api/tenants/{tenant_id}/sandbox/messages/{recipient}",
        sandbox_messages,
        "Sandbox tenants: the messages sent to a phone number or push token, oldest first",
        response=SandboxMessages,
        auth="api_key",
        scope="enrollments:read",
        errors=(
            "invalid_bearer_format",
            "invalid_token",
            "insufficient_scope",
            "tenant_not_found",
            "not_found",
        ),
        tags=("backend API",),
    ),
)
