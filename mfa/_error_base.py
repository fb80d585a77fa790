"""The base of the contract exceptions and the abstract family classes.

Private: :mod:`mfa.errors` re-exports everything here. The families live apart from
the 36 code classes only to keep each module short.
"""

from __future__ import annotations

from typing import Any, ClassVar

from mfa.catalogue import CATALOGUE, ErrorSpec, Family

_FAMILIES: dict[str, type[MFAError]] = {}
_BY_CODE: dict[str, type[MFAError]] = {}


class MFAError(Exception):
    """Base of every contract error. Abstract: raise a subclass."""

    spec: ClassVar[ErrorSpec]

    def __init_subclass__(
        cls, *, family: Family | None = None, code: str | None = None, **kwargs: Any
    ) -> None:
        # The catalogue names each code's family; a class that sits in another one
        # fails here, at import, rather than in a host's except clause.
        super().__init_subclass__(**kwargs)
        if family is not None:
            _FAMILIES[family] = cls
        if code is not None:
            spec = CATALOGUE[code]
            if not issubclass(cls, _FAMILIES[spec.family]):
                raise TypeError(f"{cls.__name__} must derive from {spec.family}")
            if code in _BY_CODE:
                raise TypeError(f"{code} already has the class {_BY_CODE[code].__name__}")
            cls.spec = spec
            _BY_CODE[code] = cls

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        method: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        if not hasattr(type(self), "spec"):
            raise TypeError(f"{type(self).__name__} is abstract; raise one of its subclasses")
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


class TokenError(MFAError, family="TokenError"):
    """The token or Authorization header is unusable: start a new transaction."""


class AccessDenied(MFAError, family="AccessDenied"):
    """The credentials are valid but do not grant this operation."""


class ResourceNotFound(MFAError, family="ResourceNotFound"):
    """The tenant or route does not exist."""


class TransactionGone(MFAError, family="TransactionGone"):
    """The transaction ended (finished, killed or expired): start a new one."""


class EnrollmentError(MFAError, family="EnrollmentError"):
    """The user's enrollment state does not allow this call."""


class WrongCode(MFAError, family="WrongCode"):
    """A well-formed code that does not match: the user may try again."""


class InvalidInput(MFAError, family="InvalidInput"):
    """The request is malformed: a missing field, a bad format, a bad phone number."""


class DeliveryFailed(MFAError, family="DeliveryFailed"):
    """The SMS or push provider did not take the message."""


class QuotaExceeded(MFAError, family="QuotaExceeded"):
    """A sending quota is used up; ``retry_after`` says for how long."""


class MethodUnavailable(MFAError, family="MethodUnavailable"):
    """The factor or feature is switched off, unknown or not offered."""


class ServerError(MFAError, family="ServerError"):
    """mfa itself failed or its backends are down; retry later."""
