"""The push routes: the browser's send-push-notification and the phone's calls.

The phone (Guardian.swift / Guardian.Android) reaches these under
``/appliance-mfa`` (mfa/app.py serves every route there too). The phone signs
the absolute URL it called into its JWTs (``aud``), so the URLs we accept are
built from the request's own base URL, with and without ``/appliance-mfa``.
"""

from __future__ import annotations

from starlette.requests import Request

from mfa.errors import EnrollmentTransactionNotFound
from mfa.flows.device import Device
from mfa.flows.push import Origin
from mfa.http.endpoint import Endpoint
from mfa.http.guardian import _TX_ERRORS, _flows, transaction_token
from mfa.http.guardian_views import phone_enrollment_view, push_sent_view, registered_device_view
from mfa.schemas import Empty
from mfa.schemas.guardian import (
    DevicePatchBody,
    DeviceResponse,
    PhoneEnrollBody,
    PhoneEnrollResponse,
    PushSentResponse,
    ResolveTransactionBody,
)
from mfa.tokens import parse_authorization

APPLIANCE = "/appliance-mfa"
_DEVICE_ERRORS = (
    "invalid_bearer_format",
    "invalid_token",
    "invalid_enrollment",
    "feature_disabled_by_admin",
)


def service_url(request: Request) -> str:
    """The service's base URL as the caller reached it (mount prefix included)."""
    # The scope's root_path, not request.base_url: Starlette's base_url is the
    # outermost app's root, so under a host's Mount("/mfa") it would drop "/mfa"
    # and the phone would call the host instead of us.
    root: str = request.scope.get("root_path", "")
    base = str(request.url.replace(path=root, query="", fragment="")).rstrip("/")
    return base.removesuffix(APPLIANCE)


def audiences(request: Request, path: str) -> tuple[str, str]:
    base = service_url(request)
    return (base + path, base + APPLIANCE + path)


async def send_push_notification(request: Request, body: Empty) -> PushSentResponse | None:
    origin = Origin(service_url(request), request.headers.get("user-agent", ""))
    number = await _flows(request).send_push_notification(transaction_token(request), origin)
    return push_sent_view(number)


async def enroll(request: Request, body: PhoneEnrollBody) -> PhoneEnrollResponse:
    credential = parse_authorization(request.headers.get("authorization"))
    if credential.kind != "ticket":
        raise EnrollmentTransactionNotFound('Enroll with Authorization: Ticket id="<ticket>".')
    push = body.push_credentials
    device = Device(
        identifier=body.identifier,
        name=body.name,
        push_service=push.service if push else None,
        push_token=push.token if push else None,
        public_key=body.public_key.model_dump(exclude_none=True),
    )
    enrolled = await _flows(request).enroll_device(credential.value, device, service_url(request))
    return phone_enrollment_view(enrolled)


async def resolve_transaction(request: Request, body: ResolveTransactionBody) -> None:
    await _flows(request).resolve_transaction(
        transaction_token(request),
        body.challenge_response,
        audiences(request, "/api/resolve-transaction"),
    )


async def update_device(request: Request, body: DevicePatchBody) -> DeviceResponse:
    push = body.push_credentials
    device = Device(
        identifier=body.identifier,
        name=body.name,
        push_service=push.service if push else None,
        push_token=push.token if push else None,
        set_push=push is not None,
    )
    registered = await _flows(request).update_device(
        parse_authorization(request.headers.get("authorization")),
        request.path_params["enrollment_id"],
        device,
        audiences(request, "/api/device-accounts"),
    )
    return registered_device_view(registered)


async def delete_device(request: Request, body: None) -> None:
    await _flows(request).delete_device(
        parse_authorization(request.headers.get("authorization")),
        request.path_params["enrollment_id"],
        audiences(request, "/api/device-accounts"),
    )


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST",
        "/api/send-push-notification",
        send_push_notification,
        "Send a push challenge to the enrolled phone (replaces the previous one); "
        "answers the number to show when number matching is on, else 204",
        body=Empty,
        response=PushSentResponse,
        auth="transaction",
        errors=(
            *_TX_ERRORS,
            "not_enrolled",
            "auth_method_disabled",
            "enrollment_method_disabled",
            "feature_disabled",
            "too_many_pn",
            "too_many_pn_per_tenant",
            "pn_endpoint_disabled",
            "push_notification_wrong_credentials",
            "error_sending_push_notification",
        ),
        tags=("factor protocol",),
    ),
    Endpoint(
        "POST",
        "/api/enroll",
        enroll,
        'Phone: enroll a device with the enrollment_tx_id as Ticket id="…"',
        body=PhoneEnrollBody,
        response=PhoneEnrollResponse,
        auth="phone_ticket",
        errors=(
            "invalid_bearer_format",
            "enrollment_transaction_not_found",
            "enrollment_conflict",
            "enrollment_method_disabled",
            "feature_disabled",
            "field_required",
            "invalid_body",
            "tenant_not_found",
        ),
        tags=("phone",),
    ),
    Endpoint(
        "POST",
        "/api/resolve-transaction",
        resolve_transaction,
        "Phone: approve or reject a push login with a device-signed JWT",
        body=ResolveTransactionBody,
        status=204,
        auth="transaction",
        errors=(
            *_TX_ERRORS,
            "field_required",
            "invalid_body",
            "auth_method_disabled",
            "enrollment_method_disabled",
            "feature_disabled",
        ),
        tags=("phone",),
    ),
    Endpoint(
        "PATCH",
        "/api/device-accounts/{enrollment_id}",
        update_device,
        "Phone: rename the device, change its identifier or push token",
        body=DevicePatchBody,
        response=DeviceResponse,
        auth="device",
        errors=(*_DEVICE_ERRORS, "invalid_body"),
        tags=("phone",),
    ),
    Endpoint(
        "DELETE",
        "/api/device-accounts/{enrollment_id}",
        delete_device,
        "Phone: remove its enrollment",
        status=204,
        auth="device",
        errors=_DEVICE_ERRORS,
        tags=("phone",),
    ),
)
