"""Exceptions, one class per catalogue code, grouped in families.

:class:`MFAError` is the base and is never raised itself; catch it to handle any
contract error. Each code's class derives from the abstract class of its catalogue
family (:class:`TokenError`, :class:`QuotaExceeded`, :class:`DeliveryFailed`, …),
so a host can catch a kind of failure without listing codes. Each concrete class is
bound to one :class:`~mfa.catalogue.ErrorSpec`, so its status, messages and JSON
body come from the catalogue and nowhere else. The Python client raises the same
classes, rebuilt from the JSON body by :func:`from_body`.
"""

from __future__ import annotations

from typing import Any

from mfa._error_base import (
    _BY_CODE,
    _FAMILIES,
    AccessDenied,
    DeliveryFailed,
    EnrollmentError,
    InvalidInput,
    MethodUnavailable,
    MFAError,
    QuotaExceeded,
    ResourceNotFound,
    ServerError,
    TokenError,
    TransactionGone,
    WrongCode,
)
from mfa.catalogue import CATALOGUE

__all__ = [
    "ERROR_CLASSES",
    "FAMILIES",
    "AccessDenied",
    "AlreadyEnrolled",
    "AuthMethodDisabled",
    "DeliveryFailed",
    "EnrollmentConflict",
    "EnrollmentError",
    "EnrollmentMethodDisabled",
    "EnrollmentTransactionNotFound",
    "ErrorSendingPushNotification",
    "ErrorSendingSms",
    "FeatureDisabled",
    "FeatureDisabledByAdmin",
    "FieldRequired",
    "InsufficientScope",
    "InternalError",
    "InvalidBearerFormat",
    "InvalidBody",
    "InvalidEnrollment",
    "InvalidInput",
    "InvalidOtp",
    "InvalidOtpFormat",
    "InvalidPhoneNumber",
    "InvalidQueryString",
    "InvalidRecoveryCode",
    "InvalidRecoveryCodeFormat",
    "InvalidToken",
    "LoginTransactionNotFound",
    "MFAError",
    "MethodNotFound",
    "MethodUnavailable",
    "NoMethodAvailable",
    "NotEnrolled",
    "NotFound",
    "PnEndpointDisabled",
    "PushNotificationWrongCredentials",
    "QuotaExceeded",
    "ResourceNotFound",
    "ServerError",
    "ServiceUnavailable",
    "TenantNotFound",
    "TokenError",
    "TooManyPn",
    "TooManyPnPerTenant",
    "TooManySms",
    "TooManySmsPerTenant",
    "TransactionExpired",
    "TransactionGone",
    "WrongCode",
    "from_body",
]

# --------------------------------------------------------------------------- codes


class InvalidToken(TokenError, code="invalid_token"):
    pass


class InsufficientScope(AccessDenied, code="insufficient_scope"):
    pass


class InvalidBearerFormat(TokenError, code="invalid_bearer_format"):
    pass


class TenantNotFound(ResourceNotFound, code="tenant_not_found"):
    pass


class LoginTransactionNotFound(TransactionGone, code="login_transaction_not_found"):
    pass


class EnrollmentTransactionNotFound(TransactionGone, code="enrollment_transaction_not_found"):
    pass


class TransactionExpired(TokenError, code="transaction_expired"):
    pass


class EnrollmentConflict(EnrollmentError, code="enrollment_conflict"):
    pass


class AlreadyEnrolled(EnrollmentError, code="already_enrolled"):
    pass


class NotEnrolled(EnrollmentError, code="not_enrolled"):
    pass


class InvalidEnrollment(EnrollmentError, code="invalid_enrollment"):
    pass


class InvalidOtp(WrongCode, code="invalid_otp"):
    pass


class InvalidRecoveryCode(WrongCode, code="invalid_recovery_code"):
    pass


class InvalidOtpFormat(InvalidInput, code="invalid_otp_format"):
    pass


class InvalidRecoveryCodeFormat(InvalidInput, code="invalid_recovery_code_format"):
    pass


class FieldRequired(InvalidInput, code="field_required"):
    pass


class InvalidBody(InvalidInput, code="invalid_body"):
    pass


class InvalidQueryString(InvalidInput, code="invalid_query_string"):
    pass


class InvalidPhoneNumber(InvalidInput, code="invalid_phone_number"):
    pass


class ErrorSendingSms(DeliveryFailed, code="error_sending_sms"):
    pass


class ErrorSendingPushNotification(DeliveryFailed, code="error_sending_push_notification"):
    pass


class PushNotificationWrongCredentials(DeliveryFailed, code="push_notification_wrong_credentials"):
    pass


class PnEndpointDisabled(DeliveryFailed, code="pn_endpoint_disabled"):
    pass


class TooManySms(QuotaExceeded, code="too_many_sms"):
    pass


class TooManyPn(QuotaExceeded, code="too_many_pn"):
    pass


class TooManySmsPerTenant(QuotaExceeded, code="too_many_sms_per_tenant"):
    pass


class TooManyPnPerTenant(QuotaExceeded, code="too_many_pn_per_tenant"):
    pass


class FeatureDisabled(MethodUnavailable, code="feature_disabled"):
    pass


class FeatureDisabledByAdmin(MethodUnavailable, code="feature_disabled_by_admin"):
    pass


class EnrollmentMethodDisabled(MethodUnavailable, code="enrollment_method_disabled"):
    pass


class AuthMethodDisabled(MethodUnavailable, code="auth_method_disabled"):
    pass


class NoMethodAvailable(MethodUnavailable, code="no_method_available"):
    pass


class MethodNotFound(MethodUnavailable, code="method_not_found"):
    pass


class NotFound(ResourceNotFound, code="not_found"):
    pass


class InternalError(ServerError, code="internal_error"):
    pass


class ServiceUnavailable(ServerError, code="service_unavailable"):
    pass


# In catalogue order, and a KeyError at import for a code without its class.
ERROR_CLASSES: dict[str, type[MFAError]] = {code: _BY_CODE[code] for code in CATALOGUE}
assert len(ERROR_CLASSES) == len(_BY_CODE), "a class is bound to a code not in the catalogue"
FAMILIES: dict[str, type[MFAError]] = dict(_FAMILIES)
"""Family name (as in :attr:`ErrorSpec.family`) to its abstract class."""


def from_body(status: int, body: Any, headers: dict[str, str] | None = None) -> MFAError:
    """Rebuild the exception a response describes (used by the client).

    A contract body names its class. Anything else came from something in front of
    the service (a proxy's HTML page, an empty answer): a 404 is ``not_found``, a
    gateway failure (502, 503, 504) is ``service_unavailable`` so callers retry,
    and the rest is ``internal_error``. ``Retry-After`` is kept either way.
    """
    raw_retry = (headers or {}).get("retry-after", "")
    retry = int(raw_retry) if raw_retry.isdigit() else None
    if isinstance(body, dict):
        cls = ERROR_CLASSES.get(str(body.get("errorCode")))
        if cls is not None:
            return cls(
                str(body.get("message") or cls.spec.api_message),
                field=body.get("field"),
                method=body.get("method"),
                retry_after=retry,
            )
    if status == 404:
        return NotFound(f"HTTP {status}")
    if status in (502, 503, 504):
        return ServiceUnavailable(f"HTTP {status} from a gateway", retry_after=retry)
    return InternalError(f"unexpected HTTP {status} without a contract error body")
