"""Console transports: the code is shown, the number masked, nothing is sent."""

from __future__ import annotations

import io
import logging

import pytest

from mfa.delivery import (
    PushMessage,
    PushTransport,
    SmsMessage,
    SmsTransport,
    load_push_transport,
    load_sms_transport,
)
from mfa.settings import Settings
from transports.console import ConsolePushTransport, ConsoleSmsTransport, mask

pytestmark = pytest.mark.anyio

SMS = SmsMessage(to="+14155550123", body="Your code is 735201", code="735201", tenant_id="acme")
PUSH = PushMessage(
    service="GCM",
    device_token="fcm-token-0123456789",
    payload={"dai": "dev_1", "txtkn": "secret.tx.token", "c": "challenge"},
    tenant_id="acme",
)


async def test_sms_is_logged_with_masked_number_and_code(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mfa.transports.console")
    stream = io.StringIO()
    await ConsoleSmsTransport(stream=stream).send(SMS)
    [record] = caplog.records
    assert (record.name, record.levelno) == ("mfa.transports.console", logging.INFO)
    line = record.getMessage()
    assert "735201" in line and "+14*******23" in line and "acme" in line
    assert "+14155550123" not in line
    assert stream.getvalue() == ""


async def test_falls_back_to_the_stream_when_logging_would_not_show_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="mfa.transports.console")
    stream = io.StringIO()
    await ConsoleSmsTransport(stream=stream).send(SMS)
    assert caplog.records == []
    output = stream.getvalue()
    assert output.count("\n") == 1
    assert "735201" in output and "+14*******23" in output and "+14155550123" not in output


async def test_falls_back_to_stderr_by_default(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.WARNING, logger="mfa.transports.console")
    await ConsoleSmsTransport().send(SMS)
    assert "735201" in capsys.readouterr().err


async def test_push_shows_masked_token_and_payload_keys_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mfa.transports.console")
    await ConsolePushTransport().send(PUSH)
    line = caplog.records[0].getMessage()
    assert "service=GCM" in line and "payload_keys=c,dai,txtkn" in line
    assert "fcm-" in line and "6789" in line
    assert "fcm-token-0123456789" not in line and "secret.tx.token" not in line


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("+14155550123", "+14*******23"),
        ("+4412", "*****"),
        ("", ""),
        ("+33612345678", "+33*******78"),
    ],
)
def test_mask(value: str, masked: str) -> None:
    assert mask(value) == masked


async def test_console_is_the_default_and_satisfies_the_protocols() -> None:
    settings = Settings()
    sms, push = load_sms_transport(settings), load_push_transport(settings)
    assert isinstance(sms, ConsoleSmsTransport) and isinstance(sms, SmsTransport)
    assert isinstance(push, ConsolePushTransport) and isinstance(push, PushTransport)
    await sms.aclose()
    await push.aclose()
