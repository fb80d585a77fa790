"""Every operation as data: its method, path and body, and the parser of its answer.

The sync and async clients share everything but the sending: :class:`_Calls` turns
each operation into a :class:`~mfa.client._call._Call` and
:func:`~mfa.client._call._interpret` reads every response, so a fix to either
applies to both clients.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from mfa.client._call import Json, _Call
from mfa.client._models import (
    EnrollmentTicket,
    NewApiKey,
    QuotaLike,
    RequestToken,
    Transaction,
    TransactionState,
)
from mfa.names import Quota

T = TypeVar("T")


def _seg(value: str) -> str:
    """One path segment, percent-encoded (ids come from users and from the service)."""
    return quote(value, safe="")


def _when(text: Json) -> datetime:
    return datetime.fromisoformat(str(text))


def _none(_: Json) -> None:
    return None


def _push_number(body: Json) -> str | None:
    # 204 normally; 200 {"number"} when the tenant has number matching on.
    return str(body["number"]) if isinstance(body, dict) and "number" in body else None


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

    def create_tenant(
        self, tenant_id: str, name: str, sandbox: bool = False
    ) -> _Call[dict[str, Any]]:
        body = {"tenant_id": tenant_id, "name": name, "sandbox": sandbox}
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

    def get_enrollment_status(self, tenant_id: str, user_id: str) -> _Call[dict[str, Any]]:
        path = f"/api/tenants/{_seg(tenant_id)}/users/{_seg(user_id)}/enrollment-status"
        return self._key("GET", path, dict)

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

    def send_push_notification(self, tx: str | Transaction) -> _Call[str | None]:
        return self._tx("/api/send-push-notification", tx, _push_number)

    # hosted pages (mfa.ui) ------------------------------------------------------

    def get_hosted_pages(self, tenant_id: str) -> _Call[dict[str, Any]]:
        path = f"/api/tenants/{_seg(tenant_id)}/hosted-pages"
        return self._key("GET", path, dict)

    def set_hosted_pages(
        self,
        tenant_id: str,
        allowed_return_urls: list[str],
        logo_url: str | None,
        primary_color: str | None,
    ) -> _Call[dict[str, Any]]:
        path = f"/api/tenants/{_seg(tenant_id)}/hosted-pages"
        body = {
            "allowed_return_urls": allowed_return_urls,
            "logo_url": logo_url,
            "primary_color": primary_color,
        }
        return self._key("PUT", path, dict, body)

    # events: the audit trail and tenant webhooks (mfa.events) -------------------

    def list_events(self, tenant_id: str, query: dict[str, str]) -> _Call[dict[str, Any]]:
        path = f"/api/tenants/{_seg(tenant_id)}/events"
        return self._key("GET", path + ("?" + urlencode(query) if query else ""), dict)

    def _hook(self, tenant_id: str, webhook_id: str | None = None) -> str:
        path = f"/api/tenants/{_seg(tenant_id)}/webhooks"
        return path if webhook_id is None else f"{path}/{_seg(webhook_id)}"

    def create_webhook(self, tenant_id: str, url: str, events: list[str]) -> _Call[dict[str, Any]]:
        return self._key("POST", self._hook(tenant_id), dict, {"url": url, "events": events})

    def list_webhooks(self, tenant_id: str) -> _Call[list[dict[str, Any]]]:
        return self._key("GET", self._hook(tenant_id), lambda b: list(b["webhooks"]))

    def delete_webhook(self, tenant_id: str, webhook_id: str) -> _Call[None]:
        return self._key("DELETE", self._hook(tenant_id, webhook_id), _none)

    def rotate_webhook_secret(self, tenant_id: str, webhook_id: str) -> _Call[str]:
        path = self._hook(tenant_id, webhook_id) + "/secret-rotation"
        return self._key("POST", path, lambda b: str(b["secret"]), {})

    def test_webhook(self, tenant_id: str, webhook_id: str) -> _Call[dict[str, Any]]:
        return self._key("POST", self._hook(tenant_id, webhook_id) + "/test", dict, {})

    def list_webhook_deliveries(
        self, tenant_id: str, webhook_id: str, status: str | None
    ) -> _Call[list[dict[str, Any]]]:
        path = self._hook(tenant_id, webhook_id) + "/deliveries"
        if status is not None:
            path += "?" + urlencode({"status": status})
        return self._key("GET", path, lambda b: list(b["deliveries"]))

    def redeliver_webhook(
        self, tenant_id: str, webhook_id: str, delivery_id: str
    ) -> _Call[dict[str, Any]]:
        path = f"{self._hook(tenant_id, webhook_id)}/deliveries/{_seg(delivery_id)}/redelivery"
        return self._key("POST", path, dict, {})
