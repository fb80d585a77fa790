"""The transaction engine: the factor protocol of :mod:`mfa.http.guardian`, without HTTP.

One module per step — :mod:`~mfa.flows.start` (start-flow),
:mod:`~mfa.flows.otp` (verify-otp), :mod:`~mfa.flows.sms` (sms-enroll,
send-sms), :mod:`~mfa.flows.recovery` (recover-account),
:mod:`~mfa.flows.push` (send-push-notification, resolve-transaction) and
:mod:`~mfa.flows.device` (the phone's enroll and device-account calls) — over
the helpers they share in
:mod:`~mfa.flows._common`. Each step takes the :class:`~mfa.context.Context`
and the raw credential the browser sent, and returns data — the typed records
of :mod:`~mfa.flows.records`, never a wire body — or raises a catalogue error.
:class:`Flows` is the in-process face of them all; :mod:`mfa.http.guardian_views`
shapes its answers into the Guardian wire.
"""

from __future__ import annotations

from collections.abc import Collection

from mfa.context import Context
from mfa.flows import device, otp, push, recovery, sms, start
from mfa.flows._common import status
from mfa.flows.records import (
    PhoneEnrollment,
    RegisteredDevice,
    StartedTransaction,
    TransactionStatus,
)
from mfa.tokens import Credential


class Flows:
    """Transactions as a host calls them in process: ``service.flows``."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def start_flow(self, credential: Credential) -> StartedTransaction:
        return await start.start_flow(self._ctx, credential)

    async def transaction_state(self, token: str) -> TransactionStatus:
        return await status(self._ctx, token)

    async def verify_otp(self, token: str, code: str) -> None:
        await otp.verify_otp(self._ctx, token, code)

    async def recover_account(self, token: str, code: str) -> str:
        return await recovery.recover_account(self._ctx, token, code)

    async def sms_enroll(self, token: str, enrollment_id: str, phone_number: str) -> None:
        await sms.sms_enroll(self._ctx, token, enrollment_id, phone_number)

    async def send_sms(self, token: str) -> None:
        await sms.send_sms(self._ctx, token)

    async def send_push_notification(self, token: str, origin: push.Origin) -> str | None:
        return await push.send_push_notification(self._ctx, token, origin)

    async def resolve_transaction(
        self, token: str, challenge_response: str, audiences: Collection[str]
    ) -> None:
        await push.resolve_transaction(self._ctx, token, challenge_response, audiences)

    async def enroll_device(
        self, ticket: str, device_info: device.Device, service_url: str
    ) -> PhoneEnrollment:
        return await device.enroll(self._ctx, ticket, device_info, service_url)

    async def update_device(
        self,
        credential: Credential,
        enrollment_id: str,
        device_info: device.Device,
        audiences: Collection[str],
    ) -> RegisteredDevice:
        return await device.update_device(
            self._ctx, credential, enrollment_id, device_info, audiences
        )

    async def delete_device(
        self, credential: Credential, enrollment_id: str, audiences: Collection[str]
    ) -> None:
        await device.delete_device(self._ctx, credential, enrollment_id, audiences)
