"""The factor protocol routes (the public Guardian wire protocol).

Thin: read the credential, hand the validated body to :class:`mfa.flows.Flows`,
shape its answer with :mod:`mfa.http.guardian_views`. Paths, body keys and casing follow
``contract/guardian-wire.md`` so unmodified Guardian clients work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request

from mfa.errors import InvalidBearerFormat
from mfa.flows import Flows
from mfa.http.endpoint import Endpoint
from mfa.http.guardian_views import recovery_code_view, start_flow_view, transaction_state_view
from mfa.schemas import Empty, RecoveryCodeResponse
from mfa.schemas.guardian import (
    RecoverAccountBody,
    SmsEnrollBody,
    StartFlowBody,
    StartFlowResponse,
    TransactionStateResponse,
    VerifyOtpBody,
)
from mfa.tokens import parse_authorization

if TYPE_CHECKING:  # the service is built by the composition root (mfa.service)
    from mfa.service import MFAService

_TOKEN_ERRORS = ("invalid_bearer_format", "invalid_token", "transaction_expired")
_TX_ERRORS = (
    *_TOKEN_ERRORS,
    "login_transaction_not_found",
    "enrollment_transaction_not_found",
    "tenant_not_found",
)


def _service(request: Request) -> MFAService:
    service: MFAService = request.app.state.mfa
    return service


def _flows(request: Request) -> Flows:
    return _service(request).flows


def transaction_token(request: Request) -> str:
    credential = parse_authorization(request.headers.get("authorization"))
    if credential.kind != "bearer":
        raise InvalidBearerFormat("This call takes the transaction token as a Bearer token.")
    return credential.value


async def start_flow(request: Request, body: StartFlowBody) -> StartFlowResponse:
    credential = parse_authorization(request.headers.get("authorization"))
    return start_flow_view(await _flows(request).start_flow(credential))


async def transaction_state(request: Request, body: Empty) -> TransactionStateResponse:
    status = await _flows(request).transaction_state(transaction_token(request))
    return transaction_state_view(status)


async def verify_otp(request: Request, body: VerifyOtpBody) -> None:
    await _flows(request).verify_otp(transaction_token(request), body.code)


async def recover_account(request: Request, body: RecoverAccountBody) -> RecoveryCodeResponse:
    code = await _flows(request).recover_account(transaction_token(request), body.recovery_code)
    return recovery_code_view(code)


async def sms_enroll(request: Request, body: SmsEnrollBody) -> None:
    enrollment_id = request.path_params["enrollment_id"]
    await _flows(request).sms_enroll(transaction_token(request), enrollment_id, body.phone_number)


async def send_sms(request: Request, body: Empty) -> None:
    await _flows(request).send_sms(transaction_token(request))


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST",
        "/api/start-flow",
        start_flow,
        "Open a transaction with a request token or an enrollment ticket",
        body=StartFlowBody,
        response=StartFlowResponse,
        auth="start",
        errors=(
            *_TOKEN_ERRORS,
            "tenant_not_found",
            "already_enrolled",
            "no_method_available",
            "feature_disabled_by_admin",
            "invalid_body",
        ),
        tags=("factor protocol",),
    ),
    Endpoint(
        "POST",
        "/api/transaction-state",
        transaction_state,
        "Poll the transaction: pending, accepted (with the signature) or rejected",
        body=Empty,
        response=TransactionStateResponse,
        auth="transaction",
        errors=_TX_ERRORS,
        tags=("factor protocol",),
    ),
    Endpoint(
        "POST",
        "/api/verify-otp",
        verify_otp,
        "Check a TOTP or SMS code: confirms an enrollment or completes a login",
        body=VerifyOtpBody,
        status=204,
        auth="transaction",
        errors=(
            *_TX_ERRORS,
            "field_required",
            "invalid_otp_format",
            "invalid_otp",
            "enrollment_conflict",
            "enrollment_method_disabled",
            "auth_method_disabled",
            "feature_disabled",
        ),
        tags=("factor protocol",),
    ),
    Endpoint(
        "POST",
        "/api/recover-account",
        recover_account,
        "Authenticate with the recovery code; answers the new (rotated) code",
        body=RecoverAccountBody,
        response=RecoveryCodeResponse,
        auth="transaction",
        errors=(
            *_TX_ERRORS,
            "field_required",
            "invalid_recovery_code_format",
            "invalid_recovery_code",
            "not_enrolled",
            "auth_method_disabled",
            "feature_disabled",
        ),
        tags=("factor protocol",),
    ),
    Endpoint(
        "POST",
        "/api/device-accounts/{enrollment_id}/sms-enroll",
        sms_enroll,
        "Register the phone number of a pending enrollment and text it a code",
        body=SmsEnrollBody,
        status=204,
        auth="transaction",
        errors=(
            *_TX_ERRORS,
            "field_required",
            "invalid_phone_number",
            "invalid_enrollment",
            "already_enrolled",
            "enrollment_method_disabled",
            "feature_disabled",
            "too_many_sms",
            "too_many_sms_per_tenant",
            "error_sending_sms",
        ),
        tags=("factor protocol",),
    ),
    Endpoint(
        "POST",
        "/api/send-sms",
        send_sms,
        "Text a fresh login code to the enrolled phone (replaces the previous code)",
        body=Empty,
        status=204,
        auth="transaction",
        errors=(
            *_TX_ERRORS,
            "not_enrolled",
            "auth_method_disabled",
            "feature_disabled",
            "too_many_sms",
            "too_many_sms_per_tenant",
            "invalid_phone_number",
            "error_sending_sms",
        ),
        tags=("factor protocol",),
    ),
)
