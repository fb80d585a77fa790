"""Push to Android phones through Firebase Cloud Messaging's HTTP v1 API.

Configuration (see ``contract/API.md``)::

    MFA_PUSH_TRANSPORT=fcm              # or multi, with MFA_PUSH_GCM_TRANSPORT=fcm
    MFA_FCM_CREDENTIALS=/etc/mfa/sa.json  # a service-account key: a path, or the JSON
    MFA_FCM_PROJECT_ID=my-project       # optional: the key's project_id
    MFA_FCM_BASE_URL=https://...        # optional: https://fcm.googleapis.com
    MFA_FCM_TOKEN_URL=https://...       # optional: the key's token_uri

**Libraries.** ``google-auth`` makes the OAuth2 access token from the
service-account key (:mod:`transports.fcm_token`); ``httpx`` sends the message.

**The request.** ``POST {base}/v1/projects/{project}/messages:send`` with
``Authorization: Bearer <access token>`` and ``{"message": {"token": …,
"data": {…}, "android": {"priority": "high", "ttl": "<s>s"}}}``: a data message,
every value a string, which is how the Guardian Android SDK reads the payload
(``s`` and ``l`` as JSON strings).

**Errors.** :data:`FCM_CODES` is the one table from Google's error (the
``FcmError`` ``errorCode`` in ``details``, else the canonical ``status``) to
ours; see :mod:`transports._push`. ``INVALID_ARGUMENT`` only means a dead token
when Google names ``message.token`` as the bad field: otherwise the fault is in
our message, and disabling the device would be wrong. ``UNAUTHENTICATED`` gets
a fresh access token and one retry. An access token the token URL refuses is
``push_notification_wrong_credentials``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

import httpx
from google.oauth2 import service_account

from mfa.delivery import PushMessage
from mfa.errors import ErrorSendingPushNotification
from mfa.settings import Settings, SettingsError
from transports._push import Rule, guardian_fields, to_error
from transports.fcm_token import CHECK_KEY, AccessToken, read_credentials

__all__ = ["FCM_API_URL", "FCM_CODES", "FCM_SCOPE", "FcmPushTransport"]

logger = logging.getLogger("mfa.transports.fcm")

FCM_API_URL: Final = "https://fcm.googleapis.com"
FCM_SCOPE: Final = "https://www.googleapis.com/auth/firebase.messaging"
DEFAULT_TIMEOUT: Final = 10.0

_CHECK_PROJECT: Final = (
    "check that MFA_FCM_CREDENTIALS is a key of the Firebase project of the Guardian app"
)

# Google's error -> our outcome. https://firebase.google.com/docs/reference/fcm/rest/
# v1/ErrorCode, then google.rpc.Code for errors that carry no FcmError.
FCM_CODES: Final[Mapping[str, Rule]] = {
    "UNREGISTERED": Rule("dead", "the registration token is no longer valid"),
    "SENDER_ID_MISMATCH": Rule(
        "credentials", "the token belongs to another sender", _CHECK_PROJECT
    ),
    "THIRD_PARTY_AUTH_ERROR": Rule(
        "credentials",
        "Firebase's APNs credentials were refused",
        "check the APNs key uploaded to the Firebase console",
    ),
    "UNAUTHENTICATED": Rule("credentials", "our access token was refused", CHECK_KEY),
    "PERMISSION_DENIED": Rule(
        "credentials",
        "the service account may not send messages",
        "grant it the Firebase Cloud Messaging API Admin role, and check MFA_FCM_PROJECT_ID",
    ),
    "INVALID_ARGUMENT": Rule("failed", "the message was refused as invalid"),
    "QUOTA_EXCEEDED": Rule("failed", "the sending quota is exceeded"),
    "RESOURCE_EXHAUSTED": Rule("failed", "the sending quota is exceeded"),
    "UNAVAILABLE": Rule("failed", "the provider is unavailable"),
    "INTERNAL": Rule("failed", "the provider failed"),
    "NOT_FOUND": Rule("failed", "the provider does not know the project"),
}
_BAD_TOKEN: Final = Rule("dead", "the registration token is not valid")


def _error_of(response: httpx.Response) -> tuple[str | None, bool]:
    """The FcmError code (else the status) of Google's error body; whether it blames the token."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None, False
    if not isinstance(error, dict):
        return None, False
    code = error.get("status") if isinstance(error.get("status"), str) else None
    blames_token = False
    for detail in error.get("details") or []:
        if not isinstance(detail, dict):
            continue
        kind = str(detail.get("@type", ""))
        if kind.endswith("google.firebase.fcm.v1.FcmError") and detail.get("errorCode"):
            code = str(detail["errorCode"])
        elif kind.endswith("google.rpc.BadRequest"):
            violations = detail.get("fieldViolations") or []
            blames_token |= any(
                isinstance(v, dict) and v.get("field") == "message.token" for v in violations
            )
    return code, blames_token


def _rule_for(code: str | None, blames_token: bool, status: int) -> Rule:
    if code == "INVALID_ARGUMENT" and blames_token:
        return _BAD_TOKEN
    if code is not None and code in FCM_CODES:
        return FCM_CODES[code]
    if status == 401:
        return FCM_CODES["UNAUTHENTICATED"]
    if status == 429:
        return FCM_CODES["QUOTA_EXCEEDED"]
    if status >= 500:
        return FCM_CODES["INTERNAL"]
    return Rule("failed", "the message was refused")


class FcmPushTransport:
    """Sends each :class:`~mfa.delivery.PushMessage` as one FCM data message."""

    def __init__(
        self,
        credentials: service_account.Credentials,
        project_id: str,
        *,
        base_url: str = FCM_API_URL,
        ttl_seconds: int = 300,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._url = f"{base_url.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self._ttl = ttl_seconds
        self._timeout = timeout
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self._access_token = AccessToken(credentials, timeout=timeout)
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings) -> FcmPushTransport:
        if not settings.fcm_credentials:
            raise SettingsError("the fcm push transport needs MFA_FCM_CREDENTIALS")
        try:
            info = read_credentials(settings.fcm_credentials)
            if settings.fcm_token_url:
                info["token_uri"] = settings.fcm_token_url
            credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=[FCM_SCOPE]
            )
        except (OSError, ValueError, KeyError):
            # Not chained: the parser's message could quote the key.
            raise SettingsError(
                "MFA_FCM_CREDENTIALS is neither a readable service-account key file nor its JSON"
            ) from None
        project_id = settings.fcm_project_id or info.get("project_id")
        if not project_id:
            raise SettingsError("the fcm push transport needs MFA_FCM_PROJECT_ID")
        return cls(
            credentials,
            str(project_id),
            base_url=settings.fcm_base_url or FCM_API_URL,
            ttl_seconds=settings.transaction_ttl_seconds,
        )

    def _body(self, message: PushMessage) -> dict[str, Any]:
        return {
            "message": {
                "token": message.device_token,
                "data": guardian_fields(message.payload, as_strings=True),
                "android": {"priority": "high", "ttl": f"{self._ttl}s"},
            }
        }

    async def _post(self, body: dict[str, Any], access_token: str) -> httpx.Response:
        try:
            return await self._client.post(
                self._url, json=body, headers={"Authorization": f"Bearer {access_token}"}
            )
        except httpx.TimeoutException as exc:
            raise ErrorSendingPushNotification(
                f"FCM did not answer within {self._timeout:g} s."
            ) from exc
        except httpx.HTTPError as exc:
            raise ErrorSendingPushNotification("Could not connect to FCM.") from exc

    async def send(self, message: PushMessage) -> None:
        if self._closed:
            raise RuntimeError("the FCM transport is closed")
        body = self._body(message)
        refused: str | None = None
        for attempt in (1, 2):
            access_token = await self._access_token.get(refused=refused)
            response = await self._post(body, access_token)
            if response.is_success:
                return
            code, blames_token = _error_of(response)
            if response.status_code == 401 and attempt == 1:
                logger.info("FCM refused the access token; getting a new one.")
                refused = access_token
                continue
            raise to_error(
                _rule_for(code, blames_token, response.status_code),
                vendor="fcm",
                reason=code or f"HTTP {response.status_code}",
                ref=f"{code or 'no error code'}, HTTP {response.status_code}",
                logger=logger,
            )

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._client.aclose()
            self._access_token.close()

    def __repr__(self) -> str:
        return f"<FcmPushTransport {self._url}>"
