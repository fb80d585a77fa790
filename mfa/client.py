"""The Python client of mfa: the backend API and the transaction calls over HTTP.

Three ways to drive mfa from Python, for three situations:

- **In-process, no HTTP** — a host that runs the service in its own process calls
  :attr:`mfa.MFAService.admin` (the backend API) and :attr:`mfa.MFAService.flows`
  (the transaction calls) directly, with the same exceptions.
- :class:`AsyncClient` — a host in another process, or any asyncio/anyio code.
- :class:`Client` — the same methods, blocking, for scripts, CLIs and sync web
  frameworks.

Both clients take a ``base_url`` (with any mount prefix, e.g.
``https://auth.example.com/mfa``) and, optionally, an httpx ``transport``: pass
``httpx.ASGITransport(app=mfa_app)`` to talk to an app in the same process through
real HTTP semantics, which is what the test suites do.

Errors: every non-2xx answer raises the catalogue's own exception class
(:mod:`mfa.errors`), rebuilt by :func:`mfa.errors.from_body` with its ``field``,
``method`` and ``retry_after``, so ``except TooManySms as e: e.retry_after`` works
the same against a remote service as in-process. A failure to reach the service at
all (connection refused, timeout, broken connection) raises
:class:`~mfa.errors.ServiceUnavailable` chained ``from`` the httpx error; an httpx
exception never escapes.

The sync and async clients share everything but the sending: :class:`_Calls` turns
each operation into a :class:`_Call` (the request to make and the parser of its
answer) and :func:`_interpret` reads every response, so a fix to either applies to
both clients.

Result signatures are verified offline with :func:`verify_result` against the
public JWKS (``GET /.well-known/jwks.json``), so a host never needs the service's
private key; :meth:`AsyncClient.verify_result` fetches and caches that JWKS.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

import httpx
import jwt

from mfa.app import __version__
from mfa.errors import (
    InternalError,
    InvalidToken,
    MFAError,
    ServiceUnavailable,
    TransactionExpired,
    from_body,
)
from mfa.factors import totp
from mfa.names import Quota
from mfa.service import VerifiedResult

__all__ = [
    "AsyncClient",
    "Client",
    "EnrollmentTicket",
    "MFAError",
    "NewApiKey",
    "Quota",
    "QuotaLike",
    "RequestToken",
    "Transaction",
    "TransactionState",
    "VerifiedResult",
    "otpauth_uri",
    "qr_svg",
    "verify_result",
]

T = TypeVar("T")
Json = Any
QuotaLike = Quota | tuple[int, int] | Mapping[str, int]
"""A quota as :meth:`AsyncClient.set_quotas` takes it: a :class:`Quota`, a
``(limit, window_seconds)`` pair, or the wire form ``{"limit": …, "window_seconds": …}``."""

DEFAULT_TIMEOUT = 10.0
# An unknown ``kid`` refreshes the cached JWKS (the service rotated its keys), but
# not more often than this: a stream of forged tokens must not become a stream of
# JWKS fetches.
JWKS_REFRESH_SECONDS = 5.0


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A freshly created API key. ``key`` is the secret: the service stores only its
    hash and will never show it again, so keep it now (it is left out of ``repr``)."""

    key_id: str
    key: str = field(repr=False)
    scopes: list[str]
    name: str
    tenant_id: str | None


@dataclass(frozen=True, slots=True)
class RequestToken:
    """A one-time token that opens one ``start-flow`` for one user; hand it to the
    browser (or to :meth:`AsyncClient.start_flow`) before ``expires_at``."""

    token: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class EnrollmentTicket:
    """A one-time invitation to enroll (``Authorization: Ticket id="…"``); unlike a
    request token it works even when self-service enrollment is switched off."""

    ticket_id: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Transaction:
    """What ``start-flow`` answered: the transaction token for every later call and,
    for a user who is not enrolled yet, the pending enrollment's secrets.

    ``enrolled`` follows the Guardian rule: the user is enrolled exactly when the
    answer has no ``enrollment_tx_id``. Secrets are left out of ``repr``.
    """

    transaction_token: str = field(repr=False)
    enrolled: bool
    enrollment_tx_id: str | None
    device_account: dict[str, Any] = field(repr=False)
    available_enrollment_methods: list[str]
    available_authentication_methods: list[str]
    otp_length: int

    @property
    def enrollment_id(self) -> str:
        """The device account id (used in ``sms-enroll`` paths and to delete it)."""
        return str(self.device_account["id"])

    @property
    def otp_secret(self) -> str | None:
        """The base32 TOTP seed of a pending enrollment (None once enrolled)."""
        value = self.device_account.get("otp_secret")
        return None if value is None else str(value)

    @property
    def recovery_code(self) -> str | None:
        """The recovery code of a pending enrollment: show it to the user once."""
        value = self.device_account.get("recovery_code")
        return None if value is None else str(value)

    @property
    def available_authenticator_types(self) -> list[str]:
        """For an enrolled user, the factors a login may use, default first."""
        return list(self.device_account.get("available_authenticator_types") or [])


@dataclass(frozen=True, slots=True)
class TransactionState:
    """One ``transaction-state`` poll. ``token`` is the result signature once
    ``state == "accepted"``: verify it with :func:`verify_result`, never trust the
    state alone."""

    id: str
    state: Literal["pending", "accepted", "rejected"]
    enrollment: dict[str, Any] | None
    token: str | None = field(default=None, repr=False)

    @property
    def accepted(self) -> bool:
        return self.state == "accepted"


# --------------------------------------------------------------------------- helpers


def otpauth_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://totp/…`` URI authenticator apps scan, for
    :attr:`Transaction.otp_secret`. The service's own function, so the parameters
    (SHA-1, 6 digits, 30 s) always match what it verifies."""
    return totp.provisioning_uri(secret, account, issuer)


def qr_svg(uri: str) -> str:
    """``uri`` as an inline SVG QR code, ready to embed in an enrollment page."""
    return totp.qr_svg(uri)


def _jwk_for(token: str, jwks: Mapping[str, Any]) -> dict[str, Any] | None:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        raise InvalidToken("The signature is not a well-formed JWT.") from None
    for jwk in jwks.get("keys") or ():
        if isinstance(jwk, dict) and jwk.get("kid") == kid:
            return jwk
    return None


def verify_result(
    token: str,
    jwks: Mapping[str, Any],
    *,
    user_id: str,
    tenant_id: str,
    txid: str | None = None,
    leeway: float = 0,
    now: float | None = None,
) -> VerifiedResult:
    """Check a result signature (``TransactionState.token``) against the public JWKS.

    This is how a host in another process learns that MFA succeeded: the signature
    is ES256 over keys published at ``/.well-known/jwks.json``, so no secret is
    shared. It checks, like :meth:`mfa.MFAService.verify_result`: the signature
    with the key its ``kid`` names (ES256 only, so no algorithm confusion), that it
    is a result signature (``mfa_t == "sig"``, not a request or transaction token),
    its expiry (``exp``, with ``leeway`` seconds of clock skew, against ``now`` or
    the current time), and that it names the user and tenant the host expects —
    required, because a valid signature for someone else is the classic mix-up.

    Returns the :class:`~mfa.service.VerifiedResult` or raises
    :class:`~mfa.errors.InvalidToken` / :class:`~mfa.errors.TransactionExpired`;
    it never returns a falsy "not valid".
    """
    if not isinstance(token, str) or not token:
        raise InvalidToken("No signature given.")
    jwk = _jwk_for(token, jwks)
    if jwk is None:
        raise InvalidToken("The signature was made with a key the JWKS does not hold.")
    try:
        key = jwt.PyJWK(jwk, algorithm="ES256")
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["ES256"],
            # exp is checked below, with the caller's clock and leeway.
            options={
                "require": ["exp", "iat", "sub", "tid", "mfa_t"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_aud": False,
            },
        )
    except jwt.PyJWTError:
        raise InvalidToken() from None
    if claims.get("mfa_t") != "sig":
        raise InvalidToken("This token is not a result signature.")
    exp = claims["exp"]
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise InvalidToken()
    if exp + leeway <= (time.time() if now is None else now):
        raise TransactionExpired("The result signature has expired.")
    return VerifiedResult.from_claims(claims, user_id=user_id, tenant_id=tenant_id, txid=txid)


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class _Call(Generic[T]):
    """One operation: the request to send and how to read a 2xx answer."""

    method: str
    path: str
    parse: Callable[[Json], T]
    json: Json = None
    authorization: str | None = None

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        headers = {"Authorization": self.authorization} if self.authorization else {}
        if self.json is None:
            return http.build_request(self.method, self.path, headers=headers)
        return http.build_request(self.method, self.path, headers=headers, json=self.json)


def _interpret(call: _Call[T], response: httpx.Response) -> T:
    """A response to the call's result, or the catalogue exception it carries."""
    try:
        body: Json = response.json() if response.content else None
        parsed = True
    except ValueError:  # not JSON: a proxy's HTML page, a truncated body
        body, parsed = None, False
    if not response.is_success:
        headers = {k.lower(): v for k, v in response.headers.items()}
        error = from_body(response.status_code, body, headers)
        request_id = response.headers.get("x-request-id")
        if request_id:
            error.add_note(f"X-Request-Id: {request_id}")
        raise error
    if not parsed:
        raise InternalError(f"HTTP {response.status_code} with a body that is not JSON.")
    try:
        return call.parse(body)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise InternalError(f"Unexpected answer to {call.method} {call.path}: {exc!r}") from exc


def _unavailable(exc: httpx.TransportError) -> ServiceUnavailable:
    return ServiceUnavailable(f"The mfa service cannot be reached: {type(exc).__name__}: {exc}")


def _seg(value: str) -> str:
    """One path segment, percent-encoded (ids come from users and from the service)."""
    return quote(value, safe="")


def _when(text: Json) -> datetime:
    return datetime.fromisoformat(str(text))


def _none(_: Json) -> None:
    return None


def _identity(body: Json) -> Any:
    return body


def _quotas(body: Json) -> dict[str, Quota]:
    return {n: Quota(int(q["limit"]), int(q["window_seconds"])) for n, q in body.items()}


def _quota_wire(value: QuotaLike) -> dict[str, int]:
    if isinstance(value, Quota):
        return {"limit": value.limit, "window_seconds": value.window_seconds}
    if isinstance(value, tuple):
        limit, window = value
        return {"limit": limit, "window_seconds": window}
    return {"limit": value["limit"], "window_seconds": value["window_seconds"]}


def _transaction(body: Json) -> Transaction:
    settings = body.get("factor_settings") or {}
    etx = body.get("enrollment_tx_id")
    return Transaction(
        transaction_token=str(body["transaction_token"]),
        enrolled=not etx,
        enrollment_tx_id=str(etx) if etx else None,
        device_account=dict(body["device_account"]),
        available_enrollment_methods=list(body.get("available_enrollment_methods") or []),
        available_authentication_methods=list(body.get("available_authentication_methods") or []),
        otp_length=int((settings.get("phone") or {}).get("otp_length", 6)),
    )


def _state(body: Json) -> TransactionState:
    return TransactionState(
        id=str(body["id"]),
        state=body["state"],
        enrollment=body.get("enrollment"),
        token=body.get("token"),
    )


def _tx_token(tx: str | Transaction) -> str:
    return tx.transaction_token if isinstance(tx, Transaction) else tx


class _Calls:
    """The one place that knows every operation's method, path, body and answer."""

    def __init__(self, api_key: str | None) -> None:
        self._auth = f"Bearer {api_key}" if api_key else None

    def _key(
        self, method: str, path: str, parse: Callable[[Json], T], json: Json = None
    ) -> _Call[T]:
        return _Call(method, path, parse, json, self._auth)

    # backend API ------------------------------------------------------------

    def create_tenant(self, tenant_id: str, name: str) -> _Call[dict[str, Any]]:
        body = {"tenant_id": tenant_id, "name": name}
        return self._key("POST", "/api/tenants", dict, body)

    def get_tenant(self, tenant_id: str) -> _Call[dict[str, Any]]:
        return self._key("GET", f"/api/tenants/{_seg(tenant_id)}", dict)

    def list_tenants(self) -> _Call[list[dict[str, Any]]]:
        return self._key("GET", "/api/tenants", lambda b: list(b["tenants"]))

    def delete_tenant(self, tenant_id: str) -> _Call[None]:
        return self._key("DELETE", f"/api/tenants/{_seg(tenant_id)}", _none)

    def create_api_key(self, tenant_id: str, name: str, scopes: list[str]) -> _Call[NewApiKey]:
        def parse(b: Json) -> NewApiKey:
            return NewApiKey(
                key_id=str(b["key_id"]),
                key=str(b["key"]),
                scopes=list(b["scopes"]),
                name=str(b["name"]),
                tenant_id=b.get("tenant_id"),
            )

        path = f"/api/tenants/{_seg(tenant_id)}/api-keys"
        return self._key("POST", path, parse, {"name": name, "scopes": list(scopes)})

    def revoke_api_key(self, tenant_id: str, key_id: str) -> _Call[None]:
        path = f"/api/tenants/{_seg(tenant_id)}/api-keys/{_seg(key_id)}"
        return self._key("DELETE", path, _none)

    def list_factors(self, tenant_id: str) -> _Call[list[dict[str, Any]]]:
        return self._key("GET", f"/api/tenants/{_seg(tenant_id)}/factors", list)

    def set_factor(self, tenant_id: str, name: str, enabled: bool) -> _Call[dict[str, Any]]:
        path = f"/api/tenants/{_seg(tenant_id)}/factors/{_seg(name)}"
        return self._key("PUT", path, dict, {"enabled": enabled})

    def set_feature(self, tenant_id: str, name: str, enabled: bool) -> _Call[dict[str, Any]]:
        path = f"/api/tenants/{_seg(tenant_id)}/features/{_seg(name)}"
        return self._key("PUT", path, dict, {"enabled": enabled})

    def get_quotas(self, tenant_id: str) -> _Call[dict[str, Quota]]:
        return self._key("GET", f"/api/tenants/{_seg(tenant_id)}/quotas", _quotas)

    def set_quotas(
        self, tenant_id: str, quotas: Mapping[str, QuotaLike]
    ) -> _Call[dict[str, Quota]]:
        body = {name: _quota_wire(q) for name, q in quotas.items()}
        return self._key("PUT", f"/api/tenants/{_seg(tenant_id)}/quotas", _quotas, body)

    def set_sms_otp_length(self, tenant_id: str, length: int) -> _Call[int]:
        path = f"/api/tenants/{_seg(tenant_id)}/sms-settings"
        return self._key("PUT", path, lambda b: int(b["otp_length"]), {"otp_length": length})

    def request_token(self, tenant_id: str, user_id: str) -> _Call[RequestToken]:
        def parse(b: Json) -> RequestToken:
            return RequestToken(str(b["request_token"]), _when(b["expires_at"]))

        path = f"/api/tenants/{_seg(tenant_id)}/request-tokens"
        return self._key("POST", path, parse, {"user_id": user_id})

    def enrollment_ticket(self, tenant_id: str, user_id: str) -> _Call[EnrollmentTicket]:
        def parse(b: Json) -> EnrollmentTicket:
            return EnrollmentTicket(str(b["ticket_id"]), _when(b["expires_at"]))

        path = f"/api/tenants/{_seg(tenant_id)}/enrollment-tickets"
        return self._key("POST", path, parse, {"user_id": user_id})

    def list_enrollments(self, tenant_id: str, user_id: str) -> _Call[list[dict[str, Any]]]:
        path = f"/api/tenants/{_seg(tenant_id)}/users/{_seg(user_id)}/enrollments"
        return self._key("GET", path, list)

    def delete_enrollment(self, tenant_id: str, enrollment_id: str) -> _Call[None]:
        path = f"/api/tenants/{_seg(tenant_id)}/enrollments/{_seg(enrollment_id)}"
        return self._key("DELETE", path, _none)

    def regenerate_recovery_code(self, tenant_id: str, user_id: str) -> _Call[str]:
        path = f"/api/tenants/{_seg(tenant_id)}/users/{_seg(user_id)}/recovery-code-regeneration"
        return self._key("POST", path, lambda b: str(b["recovery_code"]), {})

    def errors(self) -> _Call[list[dict[str, Any]]]:
        return _Call("GET", "/api/errors", list)

    def jwks(self) -> _Call[dict[str, Any]]:
        return _Call("GET", "/.well-known/jwks.json", dict)

    # transactions -------------------------------------------------------------

    @staticmethod
    def start_flow(
        request_token: str | RequestToken | None, ticket: str | EnrollmentTicket | None
    ) -> _Call[Transaction]:
        if (request_token is None) == (ticket is None):
            raise ValueError("start_flow takes exactly one of request_token and ticket")
        if isinstance(request_token, RequestToken):
            request_token = request_token.token
        if isinstance(ticket, EnrollmentTicket):
            ticket = ticket.ticket_id
        auth = f"Bearer {request_token}" if ticket is None else f'Ticket id="{ticket}"'
        body = {"state_transport": "polling"}
        return _Call("POST", "/api/start-flow", _transaction, body, auth)

    @staticmethod
    def _tx(
        path: str, tx: str | Transaction, parse: Callable[[Json], T], json: Json = None
    ) -> _Call[T]:
        return _Call("POST", path, parse, json, f"Bearer {_tx_token(tx)}")

    def transaction_state(self, tx: str | Transaction) -> _Call[TransactionState]:
        return self._tx("/api/transaction-state", tx, _state)

    def verify_otp(self, tx: str | Transaction, code: str) -> _Call[None]:
        return self._tx("/api/verify-otp", tx, _none, {"type": "manual_input", "code": code})

    def recover_account(self, tx: str | Transaction, recovery_code: str) -> _Call[str]:
        body = {"recovery_code": recovery_code}
        return self._tx("/api/recover-account", tx, lambda b: str(b["recovery_code"]), body)

    def sms_enroll(
        self, tx: str | Transaction, enrollment_id: str, phone_number: str
    ) -> _Call[None]:
        path = f"/api/device-accounts/{_seg(enrollment_id)}/sms-enroll"
        return self._tx(path, tx, _none, {"phone_number": phone_number})

    def send_sms(self, tx: str | Transaction) -> _Call[None]:
        return self._tx("/api/send-sms", tx, _none)


def _headers() -> dict[str, str]:
    return {"User-Agent": f"mfa-client/{__version__}", "Accept": "application/json"}


class _JwksCache:
    """The JWKS a client verified with last, refreshed when a token names a new key."""

    def __init__(self) -> None:
        self.jwks: dict[str, Any] | None = None
        self.fetched_at = float("-inf")

    def needs_fetch(self, token: str) -> bool:
        if self.jwks is None:
            return True
        stale = time.monotonic() - self.fetched_at >= JWKS_REFRESH_SECONDS
        return stale and _jwk_for(token, self.jwks) is None

    def store(self, jwks: dict[str, Any]) -> dict[str, Any]:
        self.jwks, self.fetched_at = jwks, time.monotonic()
        return jwks


# --------------------------------------------------------------------------- clients


class AsyncClient:
    """The mfa HTTP API for async code.

    ``api_key`` authenticates the backend API (operator or tenant key); the
    transaction calls use the tokens they are given instead, so a client without a
    key can still drive flows and fetch the JWKS. ``transport`` replaces the
    network (``httpx.ASGITransport(app=…)`` for an in-process app, or any httpx
    transport for proxies and retries). Use as ``async with AsyncClient(…) as c:``
    or call :meth:`aclose`.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._calls = _Calls(api_key)
        self._jwks = _JwksCache()
        self._http = httpx.AsyncClient(
            base_url=base_url, transport=transport, timeout=timeout, headers=_headers()
        )

    async def _run(self, call: _Call[T]) -> T:
        request = call.request(self._http)
        try:
            response = await self._http.send(request)
        except httpx.TransportError as exc:
            raise _unavailable(exc) from exc
        return _interpret(call, response)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<AsyncClient {self._http.base_url}>"

    # backend API ------------------------------------------------------------

    async def create_tenant(self, tenant_id: str, name: str) -> dict[str, Any]:
        """Create a tenant (operator key, ``tenants:write``); answers its settings."""
        return await self._run(self._calls.create_tenant(tenant_id, name))

    async def get_tenant(self, tenant_id: str) -> dict[str, Any]:
        """The tenant with its factor toggles, features, quotas and SMS code length."""
        return await self._run(self._calls.get_tenant(tenant_id))

    async def list_tenants(self) -> list[dict[str, Any]]:
        """Every tenant the key may read."""
        return await self._run(self._calls.list_tenants())

    async def delete_tenant(self, tenant_id: str) -> None:
        """Delete a tenant with all its enrollments, keys and live transactions."""
        await self._run(self._calls.delete_tenant(tenant_id))

    async def create_api_key(self, tenant_id: str, name: str, scopes: list[str]) -> NewApiKey:
        """A key bound to ``tenant_id`` with ``scopes`` (no more than the caller's own:
        keys cannot escalate). The secret is in the result and nowhere else."""
        return await self._run(self._calls.create_api_key(tenant_id, name, scopes))

    async def revoke_api_key(self, tenant_id: str, key_id: str) -> None:
        """Revoke at once; the next request with that key gets ``InvalidToken``."""
        await self._run(self._calls.revoke_api_key(tenant_id, key_id))

    async def list_factors(self, tenant_id: str) -> list[dict[str, Any]]:
        """``[{name, enabled, available}]``: ``available`` also reflects the operator's
        deployment-wide switches, so it is what users will actually be offered."""
        return await self._run(self._calls.list_factors(tenant_id))

    async def set_factor(self, tenant_id: str, name: str, enabled: bool) -> dict[str, Any]:
        """The tenant admin's toggle of a factor (``otp``, ``sms``, ``push``,
        ``recovery-code``)."""
        return await self._run(self._calls.set_factor(tenant_id, name, enabled))

    async def set_feature(self, tenant_id: str, name: str, enabled: bool) -> dict[str, Any]:
        """Switch ``enrollment`` (self-service) or ``device_management`` on or off."""
        return await self._run(self._calls.set_feature(tenant_id, name, enabled))

    async def get_quotas(self, tenant_id: str) -> dict[str, Quota]:
        """The four SMS/push quotas, by name (``sms_per_user``, …)."""
        return await self._run(self._calls.get_quotas(tenant_id))

    async def set_quotas(self, tenant_id: str, **quotas: QuotaLike) -> dict[str, Quota]:
        """Change any subset, e.g. ``set_quotas("acme", sms_per_user=(5, 3600))``;
        answers all four."""
        return await self._run(self._calls.set_quotas(tenant_id, quotas))

    async def set_sms_otp_length(self, tenant_id: str, length: int) -> int:
        """Digits of the tenant's SMS codes (4 to 10)."""
        return await self._run(self._calls.set_sms_otp_length(tenant_id, length))

    async def request_token(self, tenant_id: str, user_id: str) -> RequestToken:
        """The token that lets the browser (or :meth:`start_flow`) open one MFA
        transaction for this user; issue one per login attempt."""
        return await self._run(self._calls.request_token(tenant_id, user_id))

    async def enrollment_ticket(self, tenant_id: str, user_id: str) -> EnrollmentTicket:
        """An invitation to enroll, e.g. sent by e-mail; usable once."""
        return await self._run(self._calls.enrollment_ticket(tenant_id, user_id))

    async def list_enrollments(self, tenant_id: str, user_id: str) -> list[dict[str, Any]]:
        """The user's enrollments (phone numbers masked); empty when not enrolled."""
        return await self._run(self._calls.list_enrollments(tenant_id, user_id))

    async def delete_enrollment(self, tenant_id: str, enrollment_id: str) -> None:
        """Reset a user's MFA (lost phone): their next login enrolls afresh."""
        await self._run(self._calls.delete_enrollment(tenant_id, enrollment_id))

    async def regenerate_recovery_code(self, tenant_id: str, user_id: str) -> str:
        """A new recovery code for the user; the old one stops working at once."""
        return await self._run(self._calls.regenerate_recovery_code(tenant_id, user_id))

    async def errors(self) -> list[dict[str, Any]]:
        """The error catalogue: codes, statuses, user-facing messages, causes, fixes."""
        return await self._run(self._calls.errors())

    async def jwks(self) -> dict[str, Any]:
        """The public keys result signatures are verified with (no key needed)."""
        return await self._run(self._calls.jwks())

    # transactions -------------------------------------------------------------

    async def start_flow(
        self,
        request_token: str | RequestToken | None = None,
        ticket: str | EnrollmentTicket | None = None,
    ) -> Transaction:
        """Open a transaction as the browser does, with exactly one of a request token
        or an enrollment ticket. For hosts that run the factor UI themselves."""
        return await self._run(self._calls.start_flow(request_token, ticket))

    async def transaction_state(self, tx: str | Transaction) -> TransactionState:
        """Poll the transaction; once accepted it carries the result signature."""
        return await self._run(self._calls.transaction_state(tx))

    async def verify_otp(self, tx: str | Transaction, code: str) -> None:
        """Check a TOTP or SMS code: it confirms a pending enrollment or completes a
        login. Raises ``InvalidOtp`` (and ends the transaction after too many)."""
        await self._run(self._calls.verify_otp(tx, code))

    async def recover_account(self, tx: str | Transaction, recovery_code: str) -> str:
        """Log in with the recovery code; answers the NEW code, which the user must
        be shown, since the one just used no longer works."""
        return await self._run(self._calls.recover_account(tx, recovery_code))

    async def sms_enroll(
        self, tx: str | Transaction, enrollment_id: str, phone_number: str
    ) -> None:
        """Give a pending enrollment its phone number (E.164) and text it a code,
        which :meth:`verify_otp` then confirms."""
        await self._run(self._calls.sms_enroll(tx, enrollment_id, phone_number))

    async def send_sms(self, tx: str | Transaction) -> None:
        """Text a fresh login code to the enrolled phone (subject to the quotas)."""
        await self._run(self._calls.send_sms(tx))

    # results ----------------------------------------------------------------

    async def verify_result(
        self,
        token: str,
        *,
        user_id: str,
        tenant_id: str,
        txid: str | None = None,
        leeway: float = 0,
        now: float | None = None,
    ) -> VerifiedResult:
        """:func:`verify_result` with this service's JWKS, fetched once and cached;
        fetched again when a signature names a key the cache lacks (key rotation)."""
        if self._jwks.needs_fetch(token):
            self._jwks.store(await self.jwks())
        jwks = self._jwks.jwks or {}
        return verify_result(
            token, jwks, user_id=user_id, tenant_id=tenant_id, txid=txid, leeway=leeway, now=now
        )


class Client:
    """The blocking twin of :class:`AsyncClient`: the same methods, the same results
    and exceptions (see there for what each does). Use as ``with Client(…) as c:``
    or call :meth:`close`."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._calls = _Calls(api_key)
        self._jwks = _JwksCache()
        self._http = httpx.Client(
            base_url=base_url, transport=transport, timeout=timeout, headers=_headers()
        )

    def _run(self, call: _Call[T]) -> T:
        request = call.request(self._http)
        try:
            response = self._http.send(request)
        except httpx.TransportError as exc:
            raise _unavailable(exc) from exc
        return _interpret(call, response)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Client {self._http.base_url}>"

    # backend API ------------------------------------------------------------

    def create_tenant(self, tenant_id: str, name: str) -> dict[str, Any]:
        """See :meth:`AsyncClient.create_tenant`."""
        return self._run(self._calls.create_tenant(tenant_id, name))

    def get_tenant(self, tenant_id: str) -> dict[str, Any]:
        """See :meth:`AsyncClient.get_tenant`."""
        return self._run(self._calls.get_tenant(tenant_id))

    def list_tenants(self) -> list[dict[str, Any]]:
        """See :meth:`AsyncClient.list_tenants`."""
        return self._run(self._calls.list_tenants())

    def delete_tenant(self, tenant_id: str) -> None:
        """See :meth:`AsyncClient.delete_tenant`."""
        self._run(self._calls.delete_tenant(tenant_id))

    def create_api_key(self, tenant_id: str, name: str, scopes: list[str]) -> NewApiKey:
        """See :meth:`AsyncClient.create_api_key`."""
        return self._run(self._calls.create_api_key(tenant_id, name, scopes))

    def revoke_api_key(self, tenant_id: str, key_id: str) -> None:
        """See :meth:`AsyncClient.revoke_api_key`."""
        self._run(self._calls.revoke_api_key(tenant_id, key_id))

    def list_factors(self, tenant_id: str) -> list[dict[str, Any]]:
        """See :meth:`AsyncClient.list_factors`."""
        return self._run(self._calls.list_factors(tenant_id))

    def set_factor(self, tenant_id: str, name: str, enabled: bool) -> dict[str, Any]:
        """See :meth:`AsyncClient.set_factor`."""
        return self._run(self._calls.set_factor(tenant_id, name, enabled))

    def set_feature(self, tenant_id: str, name: str, enabled: bool) -> dict[str, Any]:
        """See :meth:`AsyncClient.set_feature`."""
        return self._run(self._calls.set_feature(tenant_id, name, enabled))

    def get_quotas(self, tenant_id: str) -> dict[str, Quota]:
        """See :meth:`AsyncClient.get_quotas`."""
        return self._run(self._calls.get_quotas(tenant_id))

    def set_quotas(self, tenant_id: str, **quotas: QuotaLike) -> dict[str, Quota]:
        """See :meth:`AsyncClient.set_quotas`."""
        return self._run(self._calls.set_quotas(tenant_id, quotas))

    def set_sms_otp_length(self, tenant_id: str, length: int) -> int:
        """See :meth:`AsyncClient.set_sms_otp_length`."""
        return self._run(self._calls.set_sms_otp_length(tenant_id, length))

    def request_token(self, tenant_id: str, user_id: str) -> RequestToken:
        """See :meth:`AsyncClient.request_token`."""
        return self._run(self._calls.request_token(tenant_id, user_id))

    def enrollment_ticket(self, tenant_id: str, user_id: str) -> EnrollmentTicket:
        """See :meth:`AsyncClient.enrollment_ticket`."""
        return self._run(self._calls.enrollment_ticket(tenant_id, user_id))

    def list_enrollments(self, tenant_id: str, user_id: str) -> list[dict[str, Any]]:
        """See :meth:`AsyncClient.list_enrollments`."""
        return self._run(self._calls.list_enrollments(tenant_id, user_id))

    def delete_enrollment(self, tenant_id: str, enrollment_id: str) -> None:
        """See :meth:`AsyncClient.delete_enrollment`."""
        self._run(self._calls.delete_enrollment(tenant_id, enrollment_id))

    def regenerate_recovery_code(self, tenant_id: str, user_id: str) -> str:
        """See :meth:`AsyncClient.regenerate_recovery_code`."""
        return self._run(self._calls.regenerate_recovery_code(tenant_id, user_id))

    def errors(self) -> list[dict[str, Any]]:
        """See :meth:`AsyncClient.errors`."""
        return self._run(self._calls.errors())

    def jwks(self) -> dict[str, Any]:
        """See :meth:`AsyncClient.jwks`."""
        return self._run(self._calls.jwks())

    # transactions -------------------------------------------------------------

    def start_flow(
        self,
        request_token: str | RequestToken | None = None,
        ticket: str | EnrollmentTicket | None = None,
    ) -> Transaction:
        """See :meth:`AsyncClient.start_flow`."""
        return self._run(self._calls.start_flow(request_token, ticket))

    def transaction_state(self, tx: str | Transaction) -> TransactionState:
        """See :meth:`AsyncClient.transaction_state`."""
        return self._run(self._calls.transaction_state(tx))

    def verify_otp(self, tx: str | Transaction, code: str) -> None:
        """See :meth:`AsyncClient.verify_otp`."""
        self._run(self._calls.verify_otp(tx, code))

    def recover_account(self, tx: str | Transaction, recovery_code: str) -> str:
        """See :meth:`AsyncClient.recover_account`."""
        return self._run(self._calls.recover_account(tx, recovery_code))

    def sms_enroll(self, tx: str | Transaction, enrollment_id: str, phone_number: str) -> None:
        """See :meth:`AsyncClient.sms_enroll`."""
        self._run(self._calls.sms_enroll(tx, enrollment_id, phone_number))

    def send_sms(self, tx: str | Transaction) -> None:
        """See :meth:`AsyncClient.send_sms`."""
        self._run(self._calls.send_sms(tx))

    # results ----------------------------------------------------------------

    def verify_result(
        self,
        token: str,
        *,
        user_id: str,
        tenant_id: str,
        txid: str | None = None,
        leeway: float = 0,
        now: float | None = None,
    ) -> VerifiedResult:
        """See :meth:`AsyncClient.verify_result`."""
        if self._jwks.needs_fetch(token):
            self._jwks.store(self.jwks())
        jwks = self._jwks.jwks or {}
        return verify_result(
            token, jwks, user_id=user_id, tenant_id=tenant_id, txid=txid, leeway=leeway, now=now
        )
