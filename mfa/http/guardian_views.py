"""Views of the flows' records for the Guardian wire: the browser's and the phone's.

The flows (:mod:`mfa.flows`) return typed records; what a Guardian client reads
is decided here, once, as the response models of :mod:`mfa.schemas.guardian`
that also document the routes (guardian-wire §2, §3). Key names, their order,
and which optional keys are omitted rather than null are the clients' contract
(``tests/http/test_guardian_shapes.py`` holds every shape byte for byte). The
in-process client (:class:`mfa.InProcessClient`) builds its nested dicts with
these same views.
"""

from __future__ import annotations

from mfa.factors import totp
from mfa.flows.records import (
    ConfirmedEnrollment,
    PendingEnrollment,
    PhoneEnrollment,
    RegisteredDevice,
    StartedTransaction,
    TransactionStatus,
)
from mfa.schemas import RecoveryCodeResponse
from mfa.schemas.guardian import (
    DeviceAccount,
    DeviceResponse,
    FactorSettings,
    PendingDeviceAccount,
    PhoneEnrollResponse,
    PhoneSettings,
    PushSentResponse,
    StartFlowResponse,
    TotpParameters,
    TransactionStateResponse,
)


def confirmed_view(e: ConfirmedEnrollment) -> DeviceAccount:
    """An enrolled user's device account (§2.1), also transaction-state's
    ``enrollment`` (§2.2). ``name`` and ``phone_number`` are sent as null when unset."""
    return DeviceAccount(
        id=e.enrollment_id,
        status="confirmed",
        methods=list(e.methods),
        available_methods=list(e.methods),
        available_authenticator_types=list(e.authenticator_types),
        name=e.name,
        phone_number=e.phone_masked,
    )


def pending_view(p: PendingEnrollment) -> PendingDeviceAccount:
    """A new user's device account: the secrets shown once (§2.1)."""
    return PendingDeviceAccount(
        id=p.enrollment_id,
        status="confirmation_pending",
        otp_secret=p.otp_secret,
        recovery_code=p.recovery_code,
    )


def account_view(
    e: PendingEnrollment | ConfirmedEnrollment,
) -> DeviceAccount | PendingDeviceAccount:
    return confirmed_view(e) if isinstance(e, ConfirmedEnrollment) else pending_view(e)


def start_flow_view(started: StartedTransaction) -> StartFlowResponse:
    """start-flow (§2.1): ``enrollment_tx_id`` only for a user not enrolled yet."""
    pending = started.enrollment if isinstance(started.enrollment, PendingEnrollment) else None
    return StartFlowResponse(
        enrollment_tx_id=None if pending is None else pending.ticket,
        available_enrollment_methods=list(started.enrollable),
        available_authentication_methods=list(started.authenticable),
        factor_settings=FactorSettings(phone=PhoneSettings(otp_length=started.sms_otp_length)),
        device_account=account_view(started.enrollment),
        transaction_token=started.token,
    )


def transaction_state_view(status: TransactionStatus) -> TransactionStateResponse:
    """transaction-state (§2.2): ``enrollment`` null until one shows; ``token`` only
    once accepted (the polling client reads these keys raw)."""
    return TransactionStateResponse(
        id=status.txid,
        state=status.state,
        enrollment=None if status.enrollment is None else confirmed_view(status.enrollment),
        token=status.signature,
    )


def recovery_code_view(code: str) -> RecoveryCodeResponse:
    """recover-account (§2.7): the new code, the used one no longer works."""
    return RecoveryCodeResponse(recovery_code=code)


def push_sent_view(number: str | None) -> PushSentResponse | None:
    """send-push-notification: 204 (None), or the number to show with number matching."""
    return None if number is None else PushSentResponse(number=number)


def phone_enrollment_view(e: PhoneEnrollment) -> PhoneEnrollResponse:
    """The phone's enroll (§3.1): the keys Android requires, and the TOTP parameters."""
    return PhoneEnrollResponse(
        id=e.enrollment_id,
        url=e.service_url + "/",
        issuer=e.issuer,
        user_id=e.user_id,
        token=e.device_token,
        totp=TotpParameters(
            secret=e.otp_secret, algorithm="sha1", digits=totp.DIGITS, period=totp.PERIOD
        ),
    )


def registered_device_view(d: RegisteredDevice) -> DeviceResponse:
    """The phone's PATCH (§3.3): the final values; ``push_credentials`` null without
    a push service, its ``token`` null without a token."""
    credentials = {"service": d.push_service, "token": d.push_token} if d.push_service else None
    return DeviceResponse(
        id=d.enrollment_id, identifier=d.identifier, name=d.name, push_credentials=credentials
    )
