"""Exceptions, one class per catalogue code.

:class:`MFAError` is the base and is never raised itself; catch it to handle any
contract error. Each subclass is bound to one :class:`~mfa.catalogue.ErrorSpec`, so
its status, messages and JSON body come from the catalogue and nowhere else. The
Python client raises the same classes, rebuilt from the JSON body by :func:`from_body`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from mfa.catalogue import CATALOGUE, ErrorSpec


class MFAError(Exception):
    """Base of every contract error. Abstract: raise a subclass."""

    spec: ClassVar[ErrorSpec]

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        method: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        if type(self) is MFAError:
            raise TypeError("MFAError is abstract; raise one of its subclasses")
        self.message = message or self.spec.api_message
        self.field = field
        self.method = method
        self.retry_after = retry_after
        super().__init__(self.message)

    @property
    def code(self) -> str:
        return self.spec.code

    @property
    def status(self) -> int:
        return self.spec.status

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "statusCode": self.spec.status,
            "error": self.spec.reason,
            "message": self.message,
            "errorCode": self.spec.code,
        }
        if self.spec.extra == "field":
            body["field"] = self.field
        elif self.spec.extra == "method":
            body["method"] = self.method
        return body

    def headers(self) -> dict[str, str]:
        if self.retry_after is not None and self.spec.status in (429, 503):
            return {"Retry-After": str(max(1, self.retry_after))}
        if self.spec.status == 503:
            return {"Retry-After": "1"}
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


def _bind(code: str) -> ErrorSpec:
    return CATALOGUE[code]


class InvalidToken(MFAError):
    spec = _bind("invalid_token")


class InsufficientScope(MFAError):
    spec = _bind("insufficient_scope")


class InvalidBearerFormat(MFAError):
    spec = _bind("invalid_bearer_format")


class TenantNotFound(MFAError):
    spec = _bind("tenant_not_found")


class LoginTransactionNotFound(MFAError):
    spec = _bind("login_transaction_not_found")


class EnrollmentTransactionNotFound(MFAError):
    spec = _bind("enrollment_transaction_not_found")


class TransactionExpired(MFAError):
    spec = _bind("transaction_expired")


class EnrollmentConflict(MFAError):
    spec = _bind("enrollment_conflict")


class AlreadyEnrolled(MFAError):
    spec = _bind("already_enrolled")


class NotEnrolled(MFAError):
    spec = _bind("not_enrolled")


class InvalidEnrollment(MFAError):
    spec = _bind("invalid_enrollment")


class InvalidOtp(MFAError):
    spec = _bind("invalid_otp")


class InvalidRecoveryCode(MFAError):
    spec = _bind("invalid_recovery_code")


class InvalidOtpFormat(MFAError):
    spec = _bind("invalid_otp_format")


class InvalidRecoveryCodeFormat(MFAError):
    spec = _bind("invalid_recovery_code_format")


class FieldRequired(MFAError):
    spec = _bind("field_required")


class InvalidBody(MFAError):
    spec = _bind("invalid_body")


class InvalidQueryString(MFAError):
    spec = _bind("invalid_query_string")


class InvalidPhoneNumber(MFAError):
    spec = _bind("invalid_phone_number")


class ErrorSendingSms(MFAError):
    spec = _bind("error_sending_sms")


class ErrorSendingPushNotification(MFAError):
    spec = _bind("error_sending_push_notification")


class PushNotificationWrongCredentials(MFAError):
    spec = _bind("push_notification_wrong_credentials")


class PnEndpointDisabled(MFAError):
    spec = _bind("pn_endpoint_disabled")


class TooManySms(MFAError):
    spec = _bind("too_many_sms")


class TooManyPn(MFAError):
    spec = _bind("too_many_pn")


class TooManySmsPerTenant(MFAError):
    spec = _bind("too_many_sms_per_tenant")


class TooManyPnPerTenant(MFAError):
    spec = _bind("too_many_pn_per_tenant")


class FeatureDisabled(MFAError):
    spec = _bind("feature_disabled")


class FeatureDisabledByAdmin(MFAError):
    spec = _bind("feature_disabled_by_admin")


class EnrollmentMethodDisabled(MFAError):
    spec = _bind("enrollment_method_disabled")


class AuthMethodDisabled(MFAError):
    spec = _bind("auth_method_disabled")


class NoMethodAvailable(MFAError):
    spec = _bind("no_method_available")


class MethodNotFound(MFAError):
    spec = _bind("method_not_found")


class NotFound(MFAError):
    spec = _bind("not_found")


class InternalError(MFAError):
    spec = _bind("internal_error")


class ServiceUnavailable(MFAError):
    spec = _bind("service_unavailable")


ERROR_CLASSES: dict[str, type[MFAError]] = {cls.spec.code: cls for cls in MFAError.__subclasses__()}


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
