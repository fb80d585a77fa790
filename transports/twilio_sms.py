"""SMS through Twilio's Programmable Messaging API, with the official ``twilio`` SDK.

Configuration (see ``contract/API.md``)::

    MFA_SMS_TRANSPORT=twilio
    MFA_TWILIO_ACCOUNT_SID=AC...        # the account; also the Basic-auth user
    MFA_TWILIO_AUTH_TOKEN=...           # never logged
    MFA_TWILIO_FROM=+14155550100        # a Twilio number, or a Messaging Service SID (MG...)
    MFA_TWILIO_BASE_URL=https://...     # optional, replaces https://api.twilio.com

**Base URL.** ``MFA_TWILIO_BASE_URL`` replaces the scheme and host of every URL the SDK
builds for ``https://api.twilio.com``; a path in the base URL is kept as a prefix
(``https://proxy.internal/twilio`` sends ``https://proxy.internal/twilio/2010-04-01/…``).
It serves regional processing (``https://api.dublin.ie1.twilio.com``, with that
region's auth token), egress proxies and local stub servers. The rewrite lives in
the SDK's documented extension point, the HTTP client passed as
``Client(http_client=…)``, rather than in the SDK's ``edge``/``region`` settings:
those can only name Twilio hosts. For the same reason the SDK's own ambient
configuration (``TWILIO_EDGE``, ``TWILIO_REGION`` read from the process environment)
is switched off: all configuration is ``MFA_*``.

**Timeout.** Every request is bounded (10 s by default). The SDK's
``AsyncTwilioHttpClient`` ignores its own ``timeout`` argument when a call passes
none (twilio-python issue #925), so :class:`_HttpClient` applies it itself. There is
no retry: a retried ``POST Messages`` after a timeout can text the user twice; the
user can ask for another code instead.

**Errors.** :func:`_map_twilio_errors` is the one place where Twilio's failures
become ours (see :data:`_TWILIO_CODES` for the table). Only errors about the
recipient's number itself give :class:`~mfa.errors.InvalidPhoneNumber`; everything
else gives :class:`~mfa.errors.ErrorSendingSms`. Problems only the operator can fix
(credentials, the sender number, geographic permissions, a trial account) also log
one ERROR line on ``mfa.transports.twilio`` with the Twilio error code and what to
check. The SDK's own request trace (URL, headers but not Authorization, status; no
body) goes to ``mfa.transports.twilio.http`` at DEBUG. No log line, and none of our
error messages, carries the phone number, the code, the message body or the auth
token; Twilio's own error text (which quotes the number) stays on the chained
vendor exception.
"""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from mfa.delivery import SmsMessage
from mfa.errors import ErrorSendingSms, InvalidPhoneNumber, MFAError
from mfa.settings import Settings, SettingsError

__all__ = ["DEFAULT_TIMEOUT", "TWILIO_API_URL", "TwilioSmsTransport"]

logger = logging.getLogger("mfa.transports.twilio")
_trace_logger = logging.getLogger("mfa.transports.twilio.http")

TWILIO_API_URL: Final = "https://api.twilio.com"
DEFAULT_TIMEOUT: Final = 10.0


@dataclass(frozen=True, slots=True)
class _Rule:
    error: type[MFAError]
    meaning: str  # ours, safe to show: never Twilio's text, which quotes the number
    operator_hint: str | None = None  # set when only the operator can fix it: logged


_CHECK_CREDENTIALS: Final = "check MFA_TWILIO_ACCOUNT_SID and MFA_TWILIO_AUTH_TOKEN"
_CHECK_FROM: Final = "check MFA_TWILIO_FROM against the account's numbers in the Twilio console"

# Twilio error code -> our error. https://www.twilio.com/docs/api/errors/<code>
_TWILIO_CODES: Final[Mapping[int, _Rule]] = {
    # The recipient's number itself: the user can fix it by giving another number.
    21211: _Rule(InvalidPhoneNumber, "the number is not a valid phone number"),
    21217: _Rule(InvalidPhoneNumber, "the number does not appear to be valid"),
    21265: _Rule(InvalidPhoneNumber, "the number is a short code"),
    21401: _Rule(InvalidPhoneNumber, "the number is not a valid phone number"),
    21407: _Rule(InvalidPhoneNumber, "the number's type does not support SMS"),
    21612: _Rule(InvalidPhoneNumber, "the number cannot be reached by SMS"),
    21614: _Rule(InvalidPhoneNumber, "the number is not a mobile number"),
    21635: _Rule(InvalidPhoneNumber, "the number is a landline"),
    # The number is fine but Twilio will not text it now.
    21610: _Rule(ErrorSendingSms, "the recipient has opted out of messages (STOP)"),
    30450: _Rule(ErrorSendingSms, "delivery blocked by SMS pumping protection"),
    30453: _Rule(ErrorSendingSms, "delivery blocked by SMS pumping protection"),
    21611: _Rule(ErrorSendingSms, "the sender's message queue is full"),
    20429: _Rule(ErrorSendingSms, "too many requests to the provider"),
    # Our account's configuration: every user is affected until the operator acts.
    20003: _Rule(ErrorSendingSms, "the provider rejected our credentials", _CHECK_CREDENTIALS),
    20404: _Rule(
        ErrorSendingSms,
        "the provider does not know our account",
        "check MFA_TWILIO_ACCOUNT_SID (and MFA_TWILIO_BASE_URL if set)",
    ),
    20005: _Rule(
        ErrorSendingSms,
        "the provider account is not active",
        "the Twilio account is suspended or closed; see the Twilio console",
    ),
    21212: _Rule(ErrorSendingSms, "the configured sender is invalid", _CHECK_FROM),
    21606: _Rule(ErrorSendingSms, "the configured sender cannot send this message", _CHECK_FROM),
    21659: _Rule(ErrorSendingSms, "the configured sender is not a Twilio number", _CHECK_FROM),
    21660: _Rule(ErrorSendingSms, "the configured sender belongs to another account", _CHECK_FROM),
    21408: _Rule(
        ErrorSendingSms,
        "sending to this region is not enabled",
        "enable the destination country in the Twilio console's SMS geographic permissions",
    ),
    21608: _Rule(
        ErrorSendingSms,
        "a trial account can only text verified numbers",
        "upgrade the Twilio account, or verify the recipient in the Twilio console",
    ),
}


def _rule_for(code: int | None, status: int) -> _Rule:
    if code is not None and code in _TWILIO_CODES:
        return _TWILIO_CODES[code]
    # Twilio's body had no code we know (or none at all: a proxy's HTML page).
    if status == 401:
        return _TWILIO_CODES[20003]
    if status == 429:
        return _TWILIO_CODES[20429]
    if status >= 500:
        return _Rule(ErrorSendingSms, "the provider failed")
    return _Rule(ErrorSendingSms, "the provider refused the message")


def _as_int(value: object) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _from_api_error(exc: TwilioRestException | TwilioServiceException) -> MFAError:
    status = _as_int(exc.status) or 0
    code = _as_int(exc.code)
    # Without a JSON body the SDK puts the HTTP status where the code goes.
    if code == status:
        code = None
    rule = _rule_for(code, status)
    ref = f"Twilio error {code}, HTTP {status}" if code else f"HTTP {status}"
    if rule.operator_hint:
        logger.error(
            "Twilio refused to send an SMS (%s): %s: %s.", ref, rule.meaning, rule.operator_hint
        )
    if rule.error is InvalidPhoneNumber:
        return InvalidPhoneNumber(
            f"The SMS provider rejected the phone number: {rule.meaning} ({ref})."
        )
    return rule.error(f"The SMS provider refused the message: {rule.meaning} ({ref}).")


@contextlib.contextmanager
def _map_twilio_errors(timeout: float) -> Iterator[None]:
    """Translate whatever the SDK or its HTTP stack raises into the catalogue's errors."""
    try:
        yield
    except (TwilioRestException, TwilioServiceException) as exc:
        raise _from_api_error(exc) from exc
    # Before ClientError: aiohttp's timeout errors are both.
    except TimeoutError as exc:
        raise ErrorSendingSms(f"The SMS provider did not answer within {timeout:g} s.") from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise ErrorSendingSms("Could not connect to the SMS provider.") from exc
    # A 2xx whose body is not JSON, or any other SDK-level failure.
    except (TwilioException, ValueError) as exc:
        raise ErrorSendingSms("The SMS provider gave an unreadable answer.") from exc


class _SdkTrace(logging.LoggerAdapter[logging.Logger]):
    """The SDK traces every request and response (URL, headers, status) at INFO: make it DEBUG."""

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.debug(msg, *args, **kwargs)


def _basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


class _HttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # twilio is untyped
    """The SDK's aiohttp client, with our base URL, a timeout it honours and a lazy session.

    The session is opened on the first request because aiohttp needs a running
    event loop, and :meth:`TwilioSmsTransport.from_settings` may run before one.
    """

    session: aiohttp.ClientSession | None

    def __init__(self, *, base_url: str | None, timeout: float) -> None:
        # No SDK-level retries (max_retries): a retried POST can deliver twice.
        super().__init__(pool_connections=False, timeout=timeout, logger=_SdkTrace(_trace_logger))
        self._base_url = base_url.rstrip("/") if base_url else None
        self._closed = False

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the SDK's signature
        allow_redirects: bool = False,
    ) -> Any:
        if self._closed:
            raise RuntimeError("the Twilio transport is closed")
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        if self._base_url and (url == TWILIO_API_URL or url.startswith(TWILIO_API_URL + "/")):
            url = self._base_url + url[len(TWILIO_API_URL) :]
        if auth is not None:
            # Our own header instead of aiohttp.BasicAuth, deprecated in aiohttp 3.14.
            # The SDK's request log leaves out any header named Authorization.
            headers = {**(headers or {}), "Authorization": _basic_auth(*auth)}
        try:
            return await super().request(
                method,
                url,
                params=params,
                data=data,
                headers=headers,
                auth=None,
                timeout=self.timeout if timeout is None else timeout,
                allow_redirects=allow_redirects,
            )
        finally:
            # The SDK keeps the last request "for tests": it holds the number and the code.
            self._test_only_last_request = None

    async def close(self) -> None:
        self._closed = True
        if self.session is not None:
            await self.session.close()
            self.session = None


class TwilioSmsTransport:
    """Sends each :class:`~mfa.delivery.SmsMessage` as one Twilio Message."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_: str,
        *,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._timeout = timeout
        self._http = _HttpClient(base_url=base_url, timeout=timeout)
        client = Client(account_sid, auth_token, http_client=self._http)
        # Ignore TWILIO_EDGE / TWILIO_REGION from the environment: they would rewrite
        # the host under MFA_TWILIO_BASE_URL's feet.
        client.edge = None
        client.region = None
        self._messages = client.messages
        # A Messaging Service picks the sender itself (number pools, alphanumeric IDs).
        self._sender = (
            {"messaging_service_sid": from_} if from_.startswith("MG") else {"from_": from_}
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioSmsTransport:
        sid, token, from_ = (
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.twilio_from,
        )
        if not (sid and token and from_):
            raise SettingsError(
                "MFA_SMS_TRANSPORT=twilio needs MFA_TWILIO_ACCOUNT_SID, "
                "MFA_TWILIO_AUTH_TOKEN and MFA_TWILIO_FROM"
            )
        base_url = settings.twilio_base_url
        if base_url and not base_url.startswith(("https://", "http://")):
            raise SettingsError("MFA_TWILIO_BASE_URL must be an http or https URL")
        return cls(sid, token, from_, base_url=base_url)

    async def send(self, message: SmsMessage) -> None:
        with _map_twilio_errors(self._timeout):
            await self._messages.create_async(to=message.to, body=message.body, **self._sender)

    async def aclose(self) -> None:
        await self._http.close()

    def __repr__(self) -> str:
        return f"<TwilioSmsTransport timeout={self._timeout:g}>"
