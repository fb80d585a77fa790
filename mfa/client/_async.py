"""The client for async code (asyncio or anyio)."""

from __future__ import annotations

from types import TracebackType
from typing import Any, TypeVar

import httpx

from mfa.client._call import _Call, _headers, _interpret, _unavailable
from mfa.client._calls import _Calls
from mfa.client._events import _AsyncEvents
from mfa.client._models import (
    EnrollmentTicket,
    NewApiKey,
    QuotaLike,
    RequestToken,
    Transaction,
    TransactionState,
)
from mfa.client._verify import _JwksCache, verify_result
from mfa.names import Quota
from mfa.results import VerifiedResult

T = TypeVar("T")
DEFAULT_TIMEOUT = 10.0


class AsyncClient(_AsyncEvents):
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

    async def create_tenant(
        self, tenant_id: str, name: str, *, sandbox: bool = False
    ) -> dict[str, Any]:
        """Create a tenant (operator key, ``tenants:write``); answers its settings.
        ``sandbox``: no message leaves the service, magic inputs answer every code
        (docs/errors.md)."""
        return await self._run(self._calls.create_tenant(tenant_id, name, sandbox))

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
        answers them all (``pn_unanswered_per_user``: the push-fatigue bound, limit 0
        = off)."""
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
        """The user's enrollments (phone numbers masked); empty when not enrolled.

        A push enrollment carries ``device``: identifier, name, push service,
        whether it has a push token and whether the provider disabled its endpoint
        (when and why) — never the push token itself."""
        return await self._run(self._calls.list_enrollments(tenant_id, user_id))

    async def get_enrollment_status(self, tenant_id: str, user_id: str) -> dict[str, Any]:
        """The user's enrollment status object: ``status`` (``confirmed``,
        ``disabled`` for a dead push endpoint, ``locked`` while a lockout runs,
        with ``locked_until``), ``last_error`` (code, messages, time),
        ``last_used_at``, ``updated_at``, methods, device, masked phone.
        Raises ``NotEnrolled`` when the user has no enrollment."""
        return await self._run(self._calls.get_enrollment_status(tenant_id, user_id))

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

    async def send_push_notification(self, tx: str | Transaction) -> str | None:
        """Ask the enrolled phone to approve this login (subject to the quotas).

        Answers the two-digit number to show the user when the tenant has push
        number matching on (the phone must sign it back), else None. The phone's
        answer shows in :meth:`transaction_state`: accepted or rejected."""
        return await self._run(self._calls.send_push_notification(tx))

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

    # hosted pages ------------------------------------------------------------

    async def get_hosted_pages(self, tenant_id: str) -> dict[str, Any]:
        """The tenant's hosted-pages setting: ``allowed_return_urls``, ``logo_url``,
        ``primary_color``."""
        return await self._run(self._calls.get_hosted_pages(tenant_id))

    async def set_hosted_pages(
        self,
        tenant_id: str,
        *,
        allowed_return_urls: list[str],
        logo_url: str | None = None,
        primary_color: str | None = None,
    ) -> dict[str, Any]:
        """Replace the hosted-pages setting. ``/ui/`` sends a browser back only to one
        of ``allowed_return_urls`` (exact match: no open redirect)."""
        call = self._calls.set_hosted_pages(tenant_id, allowed_return_urls, logo_url, primary_color)
        return await self._run(call)
