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

from typing import TYPE_CHECKING

from mfa.client._models import EnrollmentTicket, RequestToken, Transaction, TransactionState
from mfa.flows.records import PendingEnrollment, StartedTransaction, TransactionStatus
from mfa.inprocess_backend import _InProcessBackend, as_json, check
from mfa.inprocess_events import _InProcessEvents
from mfa.results import VerifiedResult
from mfa.schemas.guardian import RecoverAccountBody, SmsEnrollBody, VerifyOtpBody
from mfa.tokens import Credential

if TYPE_CHECKING:  # the service is built by the composition root (mfa.service)
    from mfa.service import MFAService


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
        device_account=as_json(account_view(started.enrollment)),
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
        enrollment=None if shown is None else as_json(confirmed_view(shown)),
        token=status.signature,
    )


class InProcessClient(_InProcessBackend, _InProcessEvents):
    """:class:`~mfa.client.AsyncClient`'s interface on a service in this process.

    The backend API's calls are in :mod:`mfa.inprocess_backend`, the audit trail's
    and the webhooks' in :mod:`mfa.inprocess_events`; the transaction calls, the
    point of calling in process, are here."""

    def __init__(self, service: MFAService, *, service_url: str | None = None) -> None:
        """``service_url``: where the service is reachable from phones (the URL it is
        mounted at, e.g. ``https://example.com/mfa``), for push; phones call it back."""
        self.service = service
        self.service_url = service_url

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
        b = check(VerifyOtpBody, type="manual_input", code=code)
        await self.service.ensure_open()
        await self.service.flows.verify_otp(_tx(tx), b.code)

    async def recover_account(self, tx: str | Transaction, recovery_code: str) -> str:
        b = check(RecoverAccountBody, recovery_code=recovery_code)
        await self.service.ensure_open()
        return await self.service.flows.recover_account(_tx(tx), b.recovery_code)

    async def sms_enroll(
        self, tx: str | Transaction, enrollment_id: str, phone_number: str
    ) -> None:
        b = check(SmsEnrollBody, phone_number=phone_number)
        await self.service.ensure_open()
        await self.service.flows.sms_enroll(_tx(tx), enrollment_id, b.phone_number)

    async def send_sms(self, tx: str | Transaction) -> None:
        await self.service.ensure_open()
        await self.service.flows.send_sms(_tx(tx))

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
