"""The Python client's push calls, with a phone (mfa.testing_phone) on the same service."""

from __future__ import annotations

import httpx
import pytest

from mfa import MFAService, create_app
from mfa.client import AsyncClient
from mfa.errors import PnEndpointDisabled, TooManyPn
from mfa.names import Quota
from mfa.testing import FrozenClock
from mfa.testing_phone import Phone
from tests.client.conftest import BASE_URL
from transports.outbox import PushOutbox

pytestmark = pytest.mark.anyio

TID = "acme"


async def test_push_login_through_the_client(
    client: AsyncClient, service: MFAService, push_outbox: PushOutbox, clock: FrozenClock
) -> None:
    await client.create_tenant(TID, "Acme")
    phone = Phone(BASE_URL, name="Pixel", clock=clock)
    transport = httpx.ASGITransport(app=create_app(service=service))
    async with httpx.AsyncClient(transport=transport) as device_http:
        tx = await client.start_flow(await client.request_token(TID, "alice"))
        assert tx.enrollment_tx_id is not None
        phone.enrolled(await device_http.send(phone.enroll_request(tx.enrollment_tx_id)))
        (enrollment,) = await client.list_enrollments(TID, "alice")
        device = enrollment["device"]
        assert device["name"] == "Pixel" and device["push_service"] == "GCM"
        assert device["has_push_token"] is True and device["push_endpoint_disabled"] is False
        assert phone.push_token not in str(enrollment)

        login = await client.start_flow(await client.request_token(TID, "alice"))
        assert login.available_authenticator_types[0] == "push"
        assert await client.send_push_notification(login) is None  # no number matching
        payload = push_outbox.messages[-1].payload
        r = await device_http.send(phone.resolve_request(payload, accept=True))
        assert r.status_code == 204
        state = await client.transaction_state(login)
        assert state.accepted and state.token is not None
        result = await client.verify_result(state.token, user_id="alice", tenant_id=TID)
        assert result.method == "push"

        # Number matching: the client hands back the number to show.
        await client.set_feature(TID, "push_number_matching", True)
        login = await client.start_flow(await client.request_token(TID, "alice"))
        number = await client.send_push_notification(login)
        assert number is not None and len(number) == 2

        await client.set_quotas(TID, pn_per_user=Quota(0, 60))
        with pytest.raises(TooManyPn) as refused:
            await client.send_push_notification(login)
        assert refused.value.retry_after is not None

        await client.set_quotas(TID, pn_per_user=Quota(10, 60))
        push_outbox.fail_with = PnEndpointDisabled
        with pytest.raises(PnEndpointDisabled):
            await client.send_push_notification(login)
        (enrollment,) = await client.list_enrollments(TID, "alice")
        assert enrollment["status"] == "pn_disabled"
        assert enrollment["device"]["push_endpoint_disabled"] is True
