"""The in-memory outboxes shipped for users' tests."""

from __future__ import annotations

import anyio
import pytest

from mfa.delivery import (
    PushMessage,
    PushTransport,
    SmsMessage,
    SmsTransport,
    load_push_transport,
    load_sms_transport,
)
from mfa.errors import ErrorSendingSms, InvalidPhoneNumber, PnEndpointDisabled
from mfa.settings import Settings
from transports.outbox import Outbox, PushOutbox

pytestmark = pytest.mark.anyio


def sms(to: str = "+14155550123", code: str = "111111", tenant_id: str = "acme") -> SmsMessage:
    return SmsMessage(to=to, body=f"code {code}", code=code, tenant_id=tenant_id)


def push(token: str = "tok-1") -> PushMessage:
    return PushMessage(service="APNS", device_token=token, payload={"c": "x"}, tenant_id="acme")


async def test_keeps_messages_in_order_and_finds_the_last_code() -> None:
    outbox = Outbox()
    assert outbox.last_code() is None
    await outbox.send(sms(code="111111"))
    await outbox.send(sms(to="+33612345678", code="222222"))
    await outbox.send(sms(code="333333"))
    assert [m.code for m in outbox.messages] == ["111111", "222222", "333333"]
    assert len(outbox) == 3
    assert outbox.last_code() == "333333"
    assert outbox.last_code("+33612345678") == "222222"
    assert outbox.last_code("+10000000000") is None
    last = outbox.last("+14155550123")
    assert last is not None and last.code == "333333"
    outbox.clear()
    assert outbox.messages == [] and outbox.last_code() is None


async def test_wait_for_returns_a_message_already_there() -> None:
    outbox = Outbox()
    await outbox.send(sms(code="111111"))
    assert (await outbox.wait_for(timeout=0.1)).code == "111111"


async def test_wait_for_waits_for_a_matching_send() -> None:
    outbox = Outbox()

    async def later() -> None:
        await anyio.sleep(0.01)
        await outbox.send(sms(tenant_id="other", code="111111"))
        await anyio.sleep(0.01)
        await outbox.send(sms(tenant_id="acme", code="222222"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(later)
        found = await outbox.wait_for(lambda m: m.tenant_id == "acme", timeout=2)
    assert found.code == "222222"


async def test_wait_for_times_out() -> None:
    outbox = Outbox()
    with pytest.raises(TimeoutError):
        await outbox.wait_for(timeout=0.05)
    assert outbox._waiters == set()


async def test_fail_with_an_instance_a_class_or_a_function() -> None:
    outbox = Outbox(fail_with=ErrorSendingSms("provider down"))
    for _ in range(2):
        with pytest.raises(ErrorSendingSms, match="provider down"):
            await outbox.send(sms())
    assert outbox.messages == []

    outbox.fail_with = InvalidPhoneNumber
    with pytest.raises(InvalidPhoneNumber):
        await outbox.send(sms())

    outbox.fail_with = lambda m: InvalidPhoneNumber() if m.to.endswith("0000") else None
    with pytest.raises(InvalidPhoneNumber):
        await outbox.send(sms(to="+14155550000"))
    await outbox.send(sms(to="+14155550123"))
    assert [m.to for m in outbox.messages] == ["+14155550123"]

    outbox.fail_with = None
    await outbox.send(sms())
    assert len(outbox) == 2


async def test_push_outbox() -> None:
    outbox = PushOutbox(
        fail_with=lambda m: PnEndpointDisabled() if m.device_token == "dead" else None
    )
    await outbox.send(push("tok-1"))
    await outbox.send(push("tok-2"))
    with pytest.raises(PnEndpointDisabled):
        await outbox.send(push("dead"))
    last = outbox.last()
    assert last is not None and last.device_token == "tok-2"
    first = outbox.last("tok-1")
    assert first is not None and first.device_token == "tok-1"
    assert (await outbox.wait_for(lambda m: m.device_token == "tok-1", timeout=0.1)) is first


async def test_from_settings_returns_fresh_instances_that_satisfy_the_protocols() -> None:
    settings = Settings(sms_transport="outbox", push_transport="outbox")
    a, b = load_sms_transport(settings), load_sms_transport(settings)
    assert isinstance(a, Outbox) and isinstance(a, SmsTransport)
    assert isinstance(b, Outbox) and a is not b
    p = load_push_transport(settings)
    assert isinstance(p, PushOutbox) and isinstance(p, PushTransport)
    await a.send(sms())
    assert b.messages == []
    for transport in (a, b, p):
        await transport.aclose()


async def test_send_after_aclose_is_a_bug() -> None:
    outbox = Outbox()
    await outbox.aclose()
    assert outbox.closed
    with pytest.raises(RuntimeError, match="closed"):
        await outbox.send(sms())
