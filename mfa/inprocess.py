"""The in-process API: :class:`mfa.client.AsyncClient`'s methods, without HTTP.

A host that runs mfa in its own process (mounted with :func:`mfa.create_app`)
calls the service directly::

    import mfa

    mfa_app = mfa.create_app(mfa.Settings.from_env())
    api = mfa.InProcessClient(mfa_app.state.mfa)
    token = await api.request_token("acme", "alice")          # a RequestToken
    result = await api.verify_result(signature, user_id="alice", tenant_id="acme")

Same method names, same arguments, same return types (the client's dataclasses:
:class:`~mfa.client.RequestToken`, :class:`~mfa.client.Transaction`, …) and the
same exceptions as :class:`~mfa.client.AsyncClient`, so moving the service to its
own process later is a change of constructor. Arguments are checked by the HTTP
API's request schemas (:mod:`mfa.schemas`) and refused with the same catalogue
errors. Answers are built by the HTTP API's views, never parsed back from a wire
body: the transaction calls build the client's models straight from the flows'
records (:func:`client_transaction`, :func:`client_state`), with the nested
dicts the Guardian views give. The caller acts as the operator: there is no API
key in process.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from mfa.admin import Admin
from mfa.client._calls import _quota_wire, _when
from mfa.client._models import (
    EnrollmentTicket,
    NewApiKey,
    QuotaLike,
    RequestToken,
    Transaction,
    TransactionState,
)
from mfa.events.admin import EventsAdmin
from mfa.flows.records import PendingEnrollment, StartedTransaction, TransactionStatus
from mfa.names import Quota
from mfa.results import VerifiedResult
from mfa.schemas import Body
from mfa.schemas.backend import (
    CreateApiKeyBody,
    CreateTenantBody,
    QuotasBody,
    ToggleBody,
    UserBody,
)
from mfa.schemas.guardian import RecoverAccountBody, SmsEnrollBody, VerifyOtpBody
from mfa.tokens import Credential

if TYPE_CHECKING:  # the service is built by the composition root (mfa.service)
    from mfa.service import MFAService

B = TypeVar("B", bound=Body)


def _check(model: type[B], **values: Any) -> B:
    """``values`` as the HTTP API would accept them, or its catalogue error."""
    from mfa.http.endpoint import validation_error

    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise validation_error(model, exc) from None


def _json(view: BaseModel) -> dict[str, Any]:
    return view.model_dump(mode="json")


def _tx(tx: str | Transaction) -> str:
    return tx.transaction_token if isinstance(tx, Transaction) else tx


def client_transaction(started: StartedTransaction) -> Transaction:
    """The client's :class:`~mfa.client.Transaction` of a started transaction; its
    ``device_account`` is the wire's (the same view as start-flow's)."""
    from mfa.http.guardian_views import account_view

    pending = started.enrollment if isinstance(started.enrollment, PendingEnrollment) else None
    return Transaction(
        transaction_token=started.token,
        enrolled=pending is None,
        enrollment_tx_id=None if pending is None else pending.ticket,
        device_account=_json(account_view(started.enrollment)),
        available_enrollment_methods=list(started.enrollable),
        available_authentication_methods=list(started.authenticable),
        otp_length=started.sms_otp_length,
    )


def client_state(status: TransactionStatus) -> TransactionState:
    """The client's :class:`~mfa.client.TransactionState` of one look at a transaction."""
    from mfa.http.guardian_views import confirmed_view

    shown = status.enrollment
    return TransactionState(
        id=status.txid,
        state=status.state,
        enrollment=None if shown is None else _json(confirmed_view(shown)),
        token=status.signature,
    )


class InProcessClient:
    """:class:`~mfa.client.AsyncClient`'s interface on a service in this process."""

    def __init__(self, service: MFAService, *, service_url: str | None = None) -> None:
        """``service_url``: where the service is reachable from phones (the URL it is
        mounted at, e.g. ``https://example.com/mfa``), for push; phones call it back."""
        self.service = service
        self.service_url = service_url

    async def _admin(self) -> Admin:
        await self.service.ensure_open()  # a mounted app may not have had a request yet
        return self.service.admin

    # backend API ------------------------------------------------------------

    async def create_tenant(
        self, tenant_id: str, name: str, *, sandbox: bool = False
    ) -> dict[str, Any]:
        from mfa.http.views import tenant_view

        b = _check(CreateTenantBody, tenant_id=tenant_id, name=name, sandbox=sandbox)
        admin = await self._admin()
        return _json(tenant_view(await admin.create_tenant(b.tenant_id, b.name, sandbox=b.sandbox)))

    async def get_tenant(self, tenant_id: str) -> dict[str, Any]:
        from mfa.http.views import tenant_view

        return _json(tenant_view(await (await self._admin()).get_tenant(tenant_id)))

    async def list_tenants(self) -> list[dict[str, Any]]:
        from mfa.http.views import tenant_view

        return [_json(tenant_view(t)) for t in await (await self._admin()).list_tenants()]

    async def delete_tenant(self, tenant_id: str) -> None:
        await (await self._admin()).delete_tenant(tenant_id)

    async def create_api_key(self, tenant_id: str, name: str, scopes: list[str]) -> NewApiKey:
        b = _check(CreateApiKeyBody, name=name, scopes=list(scopes))
        record, secret = await (await self._admin()).create_api_key(
            tenant_id, b.name, list(b.scopes)
        )
        return NewApiKey(record.key_id, secret, sorted(record.scopes), record.name, tenant_id)

    async def revoke_api_key(self, tenant_id: str, key_id: str) -> None:
        await (await self._admin()).revoke_api_key(tenant_id, key_id)

    async def list_factors(self, tenant_id: str) -> list[dict[str, Any]]:
        from mfa.http.views import factor_view

        return [_json(factor_view(t)) for t in await (await self._admin()).list_factors(tenant_id)]

    async def set_factor(self, tenant_id: str, name: str, enabled: bool) -> dict[str, Any]:
        from mfa.http.views import factor_view

        b = _check(ToggleBody, enabled=enabled)
        return _json(
            factor_view(await (await self._admin()).set_factor(tenant_id, name, b.enabled))
        )

    async def set_feature(self, tenant_id: str, name: str, enabled: bool) -> dict[str, Any]:
        b = _check(ToggleBody, enabled=enabled)
        tenant = await (await self._admin()).set_feature(tenant_id, name, b.enabled)
        return {"name": name, "enabled": tenant.features[name]}

    async def get_quotas(self, tenant_id: str) -> dict[str, Quota]:
        return dict(await (await self._admin()).get_quotas(tenant_id))

    async def set_quotas(self, tenant_id: str, **quotas: QuotaLike) -> dict[str, Quota]:
        wanted = _check(QuotasBody, **{n: _quota_wire(q) for n, q in quotas.items()})
        changes = {n: Quota(q.limit, q.window_seconds) for n, q in wanted if q is not None}
        return dict(await (await self._admin()).set_quotas(tenant_id, changes))

    async def set_sms_otp_length(self, tenant_id: str, length: int) -> int:
        tenant = await (await self._admin()).set_sms_otp_length(tenant_id, length)
        return tenant.sms_otp_length

    async def request_token(self, tenant_id: str, user_id: str) -> RequestToken:
        from mfa.http.views import iso

        user = _check(UserBody, user_id=user_id).user_id
        issued = await (await self._admin()).issue_request_token(tenant_id, user)
        return RequestToken(issued.token, _when(iso(issued.expires_at)))

    async def enrollment_ticket(self, tenant_id: str, user_id: str) -> EnrollmentTicket:
        from mfa.http.views import iso

        user = _check(UserBody, user_id=user_id).user_id
        issued = await (await self._admin()).issue_enrollment_ticket(tenant_id, user)
        return EnrollmentTicket(issued.token, _when(iso(issued.expires_at)))

    async def list_enrollments(self, tenant_id: str, user_id: str) -> list[dict[str, Any]]:
        from mfa.http.views import enrollment_view

        found = await (await self._admin()).list_enrollments(tenant_id, user_id)
        return [_json(enrollment_view(e)) for e in found]

    async def get_enrollment_status(self, tenant_id: str, user_id: str) -> dict[str, Any]:
        from mfa.http.status import enrollment_status_view

        found = await (await self._admin()).enrollment_status(tenant_id, user_id)
        return _json(enrollment_status_view(found))

    async def delete_enrollment(self, tenant_id: str, enrollment_id: str) -> None:
        await (await self._admin()).delete_enrollment(tenant_id, enrollment_id)

    async def regenerate_recovery_code(self, tenant_id: str, user_id: str) -> str:
        return await (await self._admin()).regenerate_recovery_code(tenant_id, user_id)

    async def errors(self) -> list[dict[str, Any]]:
        from mfa.catalogue import catalogue_json

        return list(catalogue_json())

    async def jwks(self) -> dict[str, Any]:
        jwks: dict[str, Any] = self.service.keys.signing.jwks()
        return jwks

    # transactions -------------------------------------------------------------

    async def start_flow(
        self,
        request_token: str | RequestToken | None = None,
        ticket: str | EnrollmentTicket | None = None,
    ) -> Transaction:
        if (request_token is None) == (ticket is None):
            raise ValueError("start_flow takes exactly one of request_token and ticket")
        if ticket is not None:
            value = ticket.ticket_id if isinstance(ticket, EnrollmentTicket) else ticket
            credential = Credential("ticket", value)
        else:
            token = (
                request_token.token if isinstance(request_token, RequestToken) else request_token
            )
            credential = Credential("bearer", str(token))
        await self.service.ensure_open()
        return client_transaction(await self.service.flows.start_flow(credential))

    async def transaction_state(self, tx: str | Transaction) -> TransactionState:
        await self.service.ensure_open()
        return client_state(await self.service.flows.transaction_state(_tx(tx)))

    async def verify_otp(self, tx: str | Transaction, code: str) -> None:
        b = _check(VerifyOtpBody, type="manual_input", code=code)
        await self.service.ensure_open()
        await self.service.flows.verify_otp(_tx(tx), b.code)

    async def recover_account(self, tx: str | Transaction, recovery_code: str) -> str:
        b = _check(RecoverAccountBody, recovery_code=recovery_code)
        await self.service.ensure_open()
        return await self.service.flows.recover_account(_tx(tx), b.recovery_code)

    async def sms_enroll(
        self, tx: str | Transaction, enrollment_id: str, phone_number: str
    ) -> None:
        b = _check(SmsEnrollBody, phone_number=phone_number)
        await self.service.ensure_open()
        await self.service.flows.sms_enroll(_tx(tx), enrollment_id, b.phone_number)

    async def send_sms(self, tx: str | Transaction) -> None:
        await self.service.ensure_open()
        await self.service.flows.send_sms(_tx(tx))

    async def get_hosted_pages(self, tenant_id: str) -> dict[str, Any]:
        from mfa.ui.schemas import hosted_pages_view

        pages = await (await self._admin()).get_hosted_pages(tenant_id)
        return _json(hosted_pages_view(pages))

    async def set_hosted_pages(
        self,
        tenant_id: str,
        *,
        allowed_return_urls: list[str],
        logo_url: str | None = None,
        primary_color: str | None = None,
    ) -> dict[str, Any]:
        from mfa.ui.schemas import HostedPagesBody, hosted_pages_view

        b = _check(
            HostedPagesBody,
            allowed_return_urls=allowed_return_urls,
            logo_url=logo_url,
            primary_color=primary_color,
        )
        pages = await (await self._admin()).set_hosted_pages(tenant_id, b.record())
        return _json(hosted_pages_view(pages))

    async def send_push_notification(self, tx: str | Transaction) -> str | None:
        if self.service_url is None:
            raise TypeError("push needs InProcessClient(service, service_url=...)")
        from mfa.flows.push import Origin

        await self.service.ensure_open()
        origin = Origin(self.service_url.rstrip("/"))
        return await self.service.flows.send_push_notification(_tx(tx), origin)

    # results ----------------------------------------------------------------

    async def verify_result(
        self, token: str, *, user_id: str, tenant_id: str, txid: str | None = None
    ) -> VerifiedResult:
        """Signature, kind, expiry, user, tenant (and ``txid`` when given), in one
        call; raises ``invalid_token`` / ``transaction_expired``, never returns False.
        A coroutine only to match :meth:`AsyncClient.verify_result`: no I/O here."""
        return self.service.verify_result(token, user_id=user_id, tenant_id=tenant_id, txid=txid)

    # events: the audit trail and tenant webhooks ----------------------------------

    async def _events(self) -> EventsAdmin:
        await self.service.ensure_open()
        return self.service.events

    async def list_events(
        self,
        tenant_id: str,
        *,
        user_id: str | None = None,
        type: str | None = None,
        since: str | datetime | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        from mfa.http.events import EventPageResponse, event_view, parse_since

        when = since.timestamp() if isinstance(since, datetime) else parse_since(since)
        page = await (await self._events()).list_events(
            tenant_id,
            user_id=user_id,
            type=type,
            since=when,
            cursor=cursor,
            limit=100 if limit is None else limit,
        )
        view = EventPageResponse(
            events=[event_view(e) for e in page.events], next_cursor=page.next_cursor
        )
        return _json(view)

    async def create_webhook(self, tenant_id: str, url: str, events: list[str]) -> dict[str, Any]:
        from mfa.http.events import CreateWebhookBody, WebhookCreatedResponse, webhook_view

        b = _check(CreateWebhookBody, url=url, events=events)
        endpoint, secret = await (await self._events()).create_webhook(tenant_id, b.url, b.events)
        return _json(WebhookCreatedResponse(**webhook_view(endpoint).model_dump(), secret=secret))

    async def list_webhooks(self, tenant_id: str) -> list[dict[str, Any]]:
        from mfa.http.events import webhook_view

        return [
            _json(webhook_view(e)) for e in await (await self._events()).list_webhooks(tenant_id)
        ]

    async def delete_webhook(self, tenant_id: str, webhook_id: str) -> None:
        await (await self._events()).delete_webhook(tenant_id, webhook_id)

    async def rotate_webhook_secret(self, tenant_id: str, webhook_id: str) -> str:
        return await (await self._events()).rotate_secret(tenant_id, webhook_id)

    async def test_webhook(self, tenant_id: str, webhook_id: str) -> dict[str, Any]:
        from mfa.http.events import delivery_view

        return _json(
            delivery_view(await (await self._events()).test_webhook(tenant_id, webhook_id))
        )

    async def list_webhook_deliveries(
        self, tenant_id: str, webhook_id: str, *, status: str | None = None
    ) -> list[dict[str, Any]]:
        from mfa.http.events import delivery_view

        found = await (await self._events()).list_deliveries(tenant_id, webhook_id, status)
        return [_json(delivery_view(d)) for d in found]

    async def redeliver_webhook(
        self, tenant_id: str, webhook_id: str, delivery_id: str
    ) -> dict[str, Any]:
        from mfa.http.events import delivery_view

        delivery = await (await self._events()).redeliver(tenant_id, webhook_id, delivery_id)
        return _json(delivery_view(delivery))
