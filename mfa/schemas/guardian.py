"""The factor protocol's and the phone's request and response models.

Browsers (auth0-guardian-js) and phones (the Guardian SDKs) send and read these;
key names and casing follow ``docs/contract/guardian-wire.md``. A field that the
wire omits rather than sends as null is declared with ``exclude_if``, so the
views serialize the model as the clients expect it.
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mfa.errors import InvalidOtpFormat, InvalidRecoveryCodeFormat
from mfa.schemas import Body

OTP_PATTERN = r"^[0-9]{4,10}$"
RECOVERY_PATTERN = r"^[0-9A-Za-z]{24}$"


def _otp_code(code: str) -> str:
    # The wire contract answers invalid_otp_format for any code that cannot be one
    # (too long included), not invalid_body; fullmatch, so "123456\n" is refused.
    if re.fullmatch(r"[0-9]{4,10}", code) is None:
        raise InvalidOtpFormat()
    return code


def _recovery_code(code: str) -> str:
    if re.fullmatch(r"[0-9A-Za-z]{24}", code) is None:
        raise InvalidRecoveryCodeFormat()
    return code


OtpCode = Annotated[
    str, AfterValidator(_otp_code), Field(json_schema_extra={"pattern": OTP_PATTERN})
]
RecoveryCode = Annotated[
    str,
    AfterValidator(_recovery_code),
    Field(json_schema_extra={"pattern": RECOVERY_PATTERN, "minLength": 24, "maxLength": 24}),
]


def _absent(value: object) -> bool:
    return value is None


# ---------------------------------------------------------------- browser


class StartFlowBody(Body):
    state_transport: Literal["polling", "socket", "manual"] | None = None


class VerifyOtpBody(Body):
    WIRE_NAMES: ClassVar[dict[str, str]] = {"code": "otpCode"}
    type: Literal["manual_input"] | None = None
    code: OtpCode


class RecoverAccountBody(Body):
    WIRE_NAMES: ClassVar[dict[str, str]] = {"recovery_code": "recoveryCode"}
    recovery_code: RecoveryCode


class SmsEnrollBody(Body):
    WIRE_NAMES: ClassVar[dict[str, str]] = {"phone_number": "phoneNumber"}
    phone_number: Annotated[str, Field(max_length=64)]


class DeviceAccount(BaseModel):
    """The public view of an enrollment, as start-flow and transaction-state show it."""

    id: str
    status: str
    methods: list[str]
    available_methods: list[str]
    available_authenticator_types: list[str]
    name: str | None
    phone_number: str | None


class PendingDeviceAccount(BaseModel):
    id: str
    status: Literal["confirmation_pending"]
    otp_secret: str
    recovery_code: str


class PhoneSettings(BaseModel):
    otp_length: int


class FactorSettings(BaseModel):
    phone: PhoneSettings


class StartFlowResponse(BaseModel):
    # The fields in the order the keys have always been sent, the token last.

    # Present exactly when the user is not enrolled yet: the clients read its
    # presence as "not enrolled" (guardian-wire §0), so never null.
    enrollment_tx_id: str | None = Field(default=None, exclude_if=_absent)
    available_enrollment_methods: list[str]
    available_authentication_methods: list[str]
    factor_settings: FactorSettings
    device_account: DeviceAccount | PendingDeviceAccount
    transaction_token: str


class TransactionStateResponse(BaseModel):
    id: str
    state: Literal["pending", "accepted", "rejected"]
    enrollment: DeviceAccount | None
    token: str | None = Field(default=None, exclude_if=_absent)  # once accepted


# ---------------------------------------------------------------- push: phone and device


class PushCredentials(Body):
    # Android says "GCM" even when it uses FCM; iOS says "APNS". Android sends no
    # token at all when it has none.
    service: Literal["APNS", "GCM"]
    token: Annotated[str, Field(min_length=1, max_length=4096)] | None = None


class PublicJwk(Body):
    model_config = ConfigDict(extra="ignore", strict=True)  # kid, x5c…: not ours to refuse
    kty: Literal["RSA"]
    alg: Literal["RS256"] = "RS256"
    use: Literal["sig"] | None = None
    n: Annotated[str, Field(min_length=1, max_length=2048, pattern=r"^[A-Za-z0-9_-]+$")]
    e: Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")]


class PhoneEnrollBody(Body):
    identifier: Annotated[str, Field(min_length=1, max_length=256)]
    name: Annotated[str, Field(max_length=256)] | None = None
    push_credentials: PushCredentials | None = None
    public_key: PublicJwk


class TotpParameters(BaseModel):
    secret: str
    algorithm: str
    digits: int
    period: int


class PhoneEnrollResponse(BaseModel):
    """What the Android and iOS SDKs require of an enrollment (guardian-wire §3.1)."""

    id: str
    url: str
    issuer: str
    user_id: str
    token: str
    totp: TotpParameters


class ResolveTransactionBody(Body):
    challenge_response: Annotated[str, Field(min_length=1, max_length=16384)]


class PushSentResponse(BaseModel):
    """Only with number matching on: the number the browser shows to the user."""

    number: str


class DevicePatchBody(Body):
    identifier: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    name: Annotated[str, Field(max_length=256)] | None = None
    push_credentials: PushCredentials | None = None


class DeviceResponse(BaseModel):
    id: str
    identifier: str | None
    name: str | None
    push_credentials: dict[str, str | None] | None
