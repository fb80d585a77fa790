"""FCM's OAuth2 access token, made from the service-account key by ``google-auth``.

google-auth makes the token with the JWT-bearer grant to the key's token URL (which
``MFA_FCM_TOKEN_URL`` replaces). Its refresh is synchronous, so it runs in a worker
thread (one at a time, under a lock) and the event loop never blocks on it. Its
HTTP goes through :class:`_AuthRequest`, our implementation of google-auth's
transport interface on a synchronous ``httpx.Client``, so its requests are bounded
by our timeout and mfa needs no ``requests``. A key the token URL refuses is
``push_notification_wrong_credentials``, with one ERROR line for the operator.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import anyio
import httpx
from google.auth import exceptions as google_exceptions
from google.auth import transport as google_transport
from google.oauth2 import service_account

from mfa.errors import ErrorSendingPushNotification, MFAError
from transports._push import Rule, to_error

__all__ = ["AccessToken", "read_credentials"]

# The transport's logger: the operator reads one place for FCM.
logger = logging.getLogger("mfa.transports.fcm")

CHECK_KEY: Final = "check MFA_FCM_CREDENTIALS (and MFA_FCM_TOKEN_URL if set)"


class _AuthResponse(google_transport.Response):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


class _AuthRequest(google_transport.Request):
    """google-auth's HTTP interface on a synchronous httpx client, with our timeout."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # ours, set on the client, is the one that counts
        **kwargs: Any,
    ) -> _AuthResponse:
        try:
            response = self._client.request(method, url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            # google-auth turns this into a retryable RefreshError.
            raise google_exceptions.TransportError(  # type: ignore[no-untyped-call]
                type(exc).__name__
            ) from exc
        return _AuthResponse(response)


def read_credentials(value: str) -> dict[str, Any]:
    """The service-account key, from its JSON or a path to it."""
    text = value if value.lstrip().startswith("{") else Path(value).expanduser().read_text()
    info = json.loads(text)
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ValueError("not a service-account key")
    return info


class AccessToken:
    """The current access token of ``credentials``, refreshed when it expires or FCM
    refuses it."""

    def __init__(self, credentials: service_account.Credentials, *, timeout: float) -> None:
        self._credentials = credentials
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)
        self._request = _AuthRequest(self._client)
        self._refreshing = anyio.Lock()

    async def get(self, *, refused: str | None = None) -> str:
        """A valid token; a new one if ``refused`` (FCM's 401) is still the current one."""
        async with self._refreshing:
            current: str | None = self._credentials.token
            # Another send may have refreshed while this one waited for the lock.
            if not self._credentials.valid or (refused is not None and current == refused):
                try:
                    await anyio.to_thread.run_sync(self._credentials.refresh, self._request)
                except google_exceptions.RefreshError as exc:
                    raise self._refresh_failed(exc) from exc
                except google_exceptions.GoogleAuthError as exc:
                    raise ErrorSendingPushNotification(
                        "Could not get an access token for FCM."
                    ) from exc
            token = self._credentials.token
            if not isinstance(token, str):
                raise ErrorSendingPushNotification("Could not get an access token for FCM.")
            return token

    @staticmethod
    def _refresh_failed(exc: google_exceptions.RefreshError) -> MFAError:
        if exc.retryable:
            return ErrorSendingPushNotification("Could not get an access token for FCM.")
        # google-auth's text holds the token endpoint's error, never the key.
        logger.error(
            "The token URL refused the FCM service account (%s): %s.",
            str(exc.args[0]) if exc.args else type(exc).__name__,
            CHECK_KEY,
        )
        return to_error(
            Rule("credentials", "the service account was refused"),
            vendor="fcm",
            reason="token request refused",
            ref="OAuth2 token request",
            logger=logger,
        )

    def close(self) -> None:
        self._client.close()
