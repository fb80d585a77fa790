"""Push under a host's mount: the phone must be told the URL it can reach us at.

The sub-app is mounted at ``/mfa`` in a host app (the README's way, and the
hosted pages' example). The phone learns the service URL from what enroll
answers and from the push payload's ``sh``; both must keep ``/mfa``, or the
phone's approval goes to the host and is lost.
"""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from mfa import create_app
from mfa.testing import FrozenClock
from tests.conftest import Api
from tests.http.test_push_flows import new_phone
from transports.outbox import PushOutbox

pytestmark = pytest.mark.anyio

BASE = "http://host.test/mfa"


async def test_a_mounted_service_gives_the_phone_its_own_url(
    api: Api, clock: FrozenClock, push_outbox: PushOutbox
) -> None:
    await api.tenant()
    host = Starlette(routes=[Mount("/mfa", app=create_app(service=api.service))])
    transport = httpx.ASGITransport(app=host)
    async with httpx.AsyncClient(transport=transport, base_url="http://host.test") as http:
        start = await api.start("acme", "alice")
        phone = new_phone(clock)
        phone.base_url = BASE
        r = await http.send(phone.enroll_request(start["enrollment_tx_id"]))
        assert r.status_code == 200, r.text
        assert phone.enrolled(r).url == BASE + "/"
        tx = start["transaction_token"]
        r = await http.post(
            "/mfa/api/send-push-notification", headers={"Authorization": f"Bearer {tx}"}
        )
        assert r.status_code == 204, r.text
        (message,) = push_outbox.messages
        assert message.payload["sh"] == BASE
        # The phone answers where sh says, through /appliance-mfa as the SDKs do.
        answer = phone.resolve_request(message.payload, accept=True)
        assert str(answer.url) == BASE + "/appliance-mfa/api/resolve-transaction"
        r = await http.send(answer)
        assert r.status_code == 204, r.text
        r = await http.post("/mfa/api/transaction-state", headers={"Authorization": f"Bearer {tx}"})
        assert r.json()["state"] == "accepted"
