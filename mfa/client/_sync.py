"""The blocking client, for scripts, CLIs and sync web frameworks."""

from __future__ import annotations

from types import TracebackType
from typing import Any, TypeVar

import httpx

from mfa.client._async import DEFAULT_TIMEOUT
from mfa.client._call import _Call, _headers, _interpret, _unavailable
from mfa.client._calls import _Calls
from mfa.client._events import _SyncEvents
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


class Client(_SyncEvents):
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

    def create_tenant(self, tenant_id: str, name: str, *, sandbox: bool = False) -> dict[str, Any]:
        """See :meth:`AsyncClient.create_tenant`."""
        return self._run(self._calls.create_tenant(tenant_id, name, sandbox))

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

    def get_enrollment_status(self, tenant_id: str, user_id: str) -> dict[str, Any]:
        """See :meth:`AsyncClient.get_enrollment_status`."""
        return self._run(self._calls.get_enrollment_status(tenant_id, user_id))

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

    def send_push_notification(self, tx: str | Transaction) -> str | None:
        """See :meth:`AsyncClient.send_push_notification`."""
        return self._run(self._calls.send_push_notification(tx))

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

    # hosted pages ------------------------------------------------------------

    def get_hosted_pages(self, tenant_id: str) -> dict[str, Any]:
        """See :meth:`AsyncClient.get_hosted_pages`."""
        return self._run(self._calls.get_hosted_pages(tenant_id))

    def set_hosted_pages(
        self,
        tenant_id: str,
        *,
        allowed_return_urls: list[str],
        logo_url: str | None = None,
        primary_color: str | None = None,
    ) -> dict[str, Any]:
        """See :meth:`AsyncClient.set_hosted_pages`."""
        call = self._calls.set_hosted_pages(tenant_id, allowed_return_urls, logo_url, primary_color)
        return self._run(call)
