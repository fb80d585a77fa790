"""Pytest fixtures for the stub servers; import them into a conftest to use them.

One server of each kind runs for the whole session (starting uvicorn costs tens of
milliseconds); the function-scoped fixtures reset it around each test, so tests
see an empty record and the default scripts::

    def test_sms(twilio_stub: TwilioStub) -> None:
        settings = Settings(**twilio_stub.settings_overrides())
        ...
        assert twilio_stub.sent[0].to == "+14155550123"
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stubs.twilio_stub import TwilioStub
from tests.stubs.webhook_receiver import WebhookReceiver

__all__ = [
    "twilio_stub",
    "twilio_stub_server",
    "webhook_receiver",
    "webhook_receiver_server",
]


@pytest.fixture(scope="session")
def twilio_stub_server() -> Iterator[TwilioStub]:
    with TwilioStub() as stub:
        yield stub


@pytest.fixture
def twilio_stub(twilio_stub_server: TwilioStub) -> Iterator[TwilioStub]:
    twilio_stub_server.reset()
    yield twilio_stub_server
    twilio_stub_server.reset()


@pytest.fixture(scope="session")
def webhook_receiver_server() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def webhook_receiver(webhook_receiver_server: WebhookReceiver) -> Iterator[WebhookReceiver]:
    webhook_receiver_server.reset()
    yield webhook_receiver_server
    webhook_receiver_server.reset()
