"""How the webhook transports deliver: sign, POST and retry one JSON document, and
turn the receiver's answer (or its silence) into the catalogue's error.

The contract this implements, answers and retries included, is the docstring of
:mod:`transports.webhook`; the signature is :mod:`transports.webhook_signing`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any, Final, Literal

import anyio
import httpx

from mfa.errors import (
    ErrorSendingPushNotification,
    ErrorSendingSms,
    InvalidPhoneNumber,
    MFAError,
    PnEndpointDisabled,
    PushNotificationWrongCredentials,
)
from transports.webhook_signing import SIGNATURE_HEADER, sign

# The operator's one line about refused signatures is on the transport's logger.
logger = logging.getLogger("mfa.transports.webhook")

DELIVERY_ID_HEADER: Final = "X-MFA-Delivery-Id"

Kind = Literal["sms", "push"]


def _reported_error(response: httpx.Response) -> str | None:
    """The ``error`` a receiver put in a JSON body, if it did."""
    try:
        data = response.json()
    except ValueError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, str) else None


def _map_failure(kind: Kind, response: httpx.Response | None, exc: Exception | None) -> MFAError:
    """The one place where a receiver's answer, or the lack of one, becomes our error."""
    failed: type[MFAError] = ErrorSendingSms if kind == "sms" else ErrorSendingPushNotification
    if response is None:
        if isinstance(exc, httpx.TimeoutException):
            return failed(f"The {kind} webhook did not answer in time.")
        return failed(f"Could not reach the {kind} webhook.")
    status = response.status_code
    reported = _reported_error(response) if status == 422 else None
    if kind == "sms" and reported == "invalid_phone_number":
        return InvalidPhoneNumber("The SMS webhook rejected the phone number.")
    if kind == "push" and (status == 410 or reported == "pn_endpoint_disabled"):
        return PnEndpointDisabled("The push webhook reported the device token as disabled.")
    if kind == "push" and reported == "push_notification_wrong_credentials":
        return PushNotificationWrongCredentials("The push webhook's credentials were refused.")
    if status in (401, 403):
        logger.error(
            "The %s webhook refused mfa's request (HTTP %s): check that it verifies "
            "signatures with the same secret as MFA_WEBHOOK_SECRET.",
            kind,
            status,
        )
    return failed(f"The {kind} webhook answered HTTP {status}.")


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _retry_after(response: httpx.Response | None) -> float | None:
    value = response.headers.get("retry-after", "") if response is not None else ""
    return float(value) if value.isdigit() else None


class Poster:
    """Signs, posts and retries one JSON document; shared by the SMS and push transports."""

    def __init__(
        self,
        kind: Kind,
        url: str,
        secret: str,
        *,
        timeout: float,
        total_timeout: float,
        attempts: int,
        backoff: float,
        max_backoff: float = 2.0,
        transport: httpx.AsyncBaseTransport | None,
        clock: Callable[[], float],
    ) -> None:
        if httpx.URL(url).scheme not in ("http", "https"):
            raise ValueError(f"the {kind} webhook URL must be http or https")
        if not secret:
            raise ValueError("the webhook secret must not be empty")
        if attempts < 1 or timeout <= 0 or total_timeout <= 0:
            raise ValueError("attempts, timeout and total_timeout must be positive")
        self._kind: Kind = kind
        self._url = url
        self._secret = secret
        self._timeout = timeout
        self._total_timeout = total_timeout
        self._attempts = attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._clock = clock
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=timeout,
            follow_redirects=False,  # a redirect would re-send the code somewhere else
            headers={"User-Agent": "mfa-webhook/1"},
        )

    async def post(self, document: dict[str, Any]) -> None:
        delivery_id = str(document["id"])
        body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        started = time.monotonic()
        response: httpx.Response | None = None
        error: Exception | None = None
        for attempt in range(1, self._attempts + 1):
            remaining = self._total_timeout - (time.monotonic() - started)
            headers = {
                "Content-Type": "application/json",
                DELIVERY_ID_HEADER: delivery_id,
                # Signed afresh on each attempt so that a late retry stays within tolerance.
                SIGNATURE_HEADER: sign(self._secret, body, int(self._clock())),
            }
            try:
                response = await self._client.post(
                    self._url, content=body, headers=headers, timeout=min(self._timeout, remaining)
                )
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                response, error = None, exc
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise _map_failure(self._kind, None, exc) from exc
            else:
                error = None
                if response.is_success:
                    return
                if not _retryable(response.status_code):
                    raise _map_failure(self._kind, response, None)
            delay = min(
                self._max_backoff, _retry_after(response) or self._backoff * 2 ** (attempt - 1)
            )
            if attempt == self._attempts or time.monotonic() - started + delay >= (
                self._total_timeout
            ):
                break
            logger.info(
                "The %s webhook failed (attempt %d of %d, %s); retrying in %.2g s.",
                self._kind,
                attempt,
                self._attempts,
                f"HTTP {response.status_code}" if response is not None else type(error).__name__,
                delay,
            )
            await anyio.sleep(delay)
        raise _map_failure(self._kind, response, error) from error

    async def aclose(self) -> None:
        await self._client.aclose()
