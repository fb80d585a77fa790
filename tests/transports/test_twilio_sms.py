"""The real Twilio SDK, through TwilioSmsTransport, against the local Twilio stub."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from twilio.base.exceptions import TwilioRestException, TwilioServiceException

from mfa.delivery import SmsMessage, SmsTransport, load_sms_transport
from mfa.errors import ErrorSendingSms, InvalidPhoneNumber, MFAError
from mfa.settings import Settings, SettingsError
from tests.stubs import twilio_stub as stub_numbers
from tests.stubs.twilio_stub import Scripted, TwilioStub
from transports import twilio_sms
from transports.twilio_sms import TwilioSmsTransport

pytestmark = pytest.mark.anyio

TO = "+14155550123"
CODE = "735201"


def sms(to: str = TO) -> SmsMessage:
    return SmsMessage(to=to, body=f"Your Acme code is {CODE}", code=CODE, tenant_id="acme")


@pytest.fixture
async def twilio(twilio_stub: TwilioStub) -> AsyncIterator[TwilioSmsTransport]:
    transport = TwilioSmsTransport(
        twilio_stub.account_sid,
        twilio_stub.auth_token,
        twilio_stub.from_,
        base_url=twilio_stub.base_url,
        timeout=0.5,
    )
    yield transport
    await transport.aclose()


def assert_nothing_leaked(text: str, *secrets: str) -> None:
    for secret in (TO, CODE, *secrets):
        assert secret not in text


async def test_send_posts_the_message_with_basic_auth(
    twilio: TwilioSmsTransport, twilio_stub: TwilioStub
) -> None:
    await twilio.send(sms())

    [request] = twilio_stub.requests
    assert request.authorized
    assert request.path == f"/2010-04-01/Accounts/{twilio_stub.account_sid}/Messages.json"
    assert request.headers["user-agent"].startswith("twilio-python/")
    [sent] = twilio_stub.sent
    assert (sent.to, sent.from_, sent.body) == (TO, twilio_stub.from_, f"Your Acme code is {CODE}")
    assert sent.form == {"To": TO, "From": twilio_stub.from_, "Body": f"Your Acme code is {CODE}"}


async def test_a_messaging_service_sid_is_sent_as_such(twilio_stub: TwilioStub) -> None:
    service_sid = "MG" + "0" * 32
    transport = TwilioSmsTransport(
        twilio_stub.account_sid, twilio_stub.auth_token, service_sid, base_url=twilio_stub.base_url
    )
    try:
        await transport.send(sms())
    finally:
        await transport.aclose()
    [sent] = twilio_stub.sent
    assert (sent.from_, sent.messaging_service_sid) == (None, service_sid)


async def test_from_settings_through_the_registry(twilio_stub: TwilioStub) -> None:
    transport = load_sms_transport(Settings(**twilio_stub.settings_overrides()))
    assert isinstance(transport, TwilioSmsTransport)
    assert isinstance(transport, SmsTransport)
    try:
        await transport.send(sms())
    finally:
        await transport.aclose()
    assert [m.to for m in twilio_stub.sent] == [TO]


def test_from_settings_needs_the_credentials() -> None:
    with pytest.raises(SettingsError, match="MFA_TWILIO_AUTH_TOKEN"):
        TwilioSmsTransport.from_settings(
            Settings(twilio_account_sid="AC" + "0" * 32, twilio_from="+15005550006")
        )


def test_from_settings_refuses_a_base_url_without_scheme() -> None:
    settings = Settings(
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="token",
        twilio_from="+15005550006",
        twilio_base_url="api.dublin.ie1.twilio.com",
    )
    with pytest.raises(SettingsError, match="MFA_TWILIO_BASE_URL"):
        TwilioSmsTransport.from_settings(settings)


async def test_base_url_keeps_its_path_as_a_prefix(twilio_stub: TwilioStub) -> None:
    transport = TwilioSmsTransport(
        twilio_stub.account_sid,
        twilio_stub.auth_token,
        twilio_stub.from_,
        base_url=twilio_stub.base_url + "/egress/twilio/",
    )
    try:
        # The stub serves no such prefix: Twilio's 404 (20404) comes back.
        with pytest.raises(ErrorSendingSms):
            await transport.send(sms())
    finally:
        await transport.aclose()
    [request] = twilio_stub.requests
    assert (
        request.path
        == f"/egress/twilio/2010-04-01/Accounts/{twilio_stub.account_sid}/Messages.json"
    )


async def test_twilio_edge_and_region_from_the_environment_are_ignored(
    twilio_stub: TwilioStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_EDGE", "sydney")
    monkeypatch.setenv("TWILIO_REGION", "au1")
    transport = TwilioSmsTransport.from_settings(Settings(**twilio_stub.settings_overrides()))
    try:
        await transport.send(sms())
    finally:
        await transport.aclose()
    assert len(twilio_stub.sent) == 1


@pytest.mark.parametrize(
    ("to", "expected", "twilio_code"),
    [
        (stub_numbers.INVALID_NUMBER, InvalidPhoneNumber, 21211),
        (stub_numbers.CANNOT_ROUTE, InvalidPhoneNumber, 21612),
        (stub_numbers.NOT_MOBILE, InvalidPhoneNumber, 21614),
        (stub_numbers.LANDLINE, InvalidPhoneNumber, 21635),
        (stub_numbers.BLOCKED, ErrorSendingSms, 21610),
        (stub_numbers.NO_GEO_PERMISSION, ErrorSendingSms, 21408),
        (stub_numbers.PUMPING_BLOCKED, ErrorSendingSms, 30450),
        (stub_numbers.FROM_NOT_CAPABLE, ErrorSendingSms, 21606),
        (stub_numbers.RATE_LIMITED, ErrorSendingSms, 20429),
        (stub_numbers.SERVER_ERROR, ErrorSendingSms, 20500),
        (stub_numbers.UNAVAILABLE_HTML, ErrorSendingSms, None),
    ],
)
async def test_scripted_failures_map_to_our_errors(
    twilio: TwilioSmsTransport,
    twilio_stub: TwilioStub,
    caplog: pytest.LogCaptureFixture,
    to: str,
    expected: type[MFAError],
    twilio_code: int | None,
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(MFAError) as info:
        await twilio.send(sms(to))

    assert type(info.value) is expected
    assert isinstance(info.value.__cause__, TwilioRestException)
    if twilio_code is not None:
        assert f"Twilio error {twilio_code}" in info.value.message
    # Our message is ours: Twilio's text quotes the number.
    assert_nothing_leaked(info.value.message, to, twilio_stub.auth_token)
    assert_nothing_leaked(caplog.text, to, twilio_stub.auth_token)
    assert twilio_stub.sent == []


# An independent statement of the mapping (the transport's table must agree with it).
EXPECTED_MAPPING: dict[int, tuple[type[MFAError], bool]] = {
    # code: (our error, logged for the operator)
    21211: (InvalidPhoneNumber, False),
    21217: (InvalidPhoneNumber, False),
    21265: (InvalidPhoneNumber, False),
    21401: (InvalidPhoneNumber, False),
    21407: (InvalidPhoneNumber, False),
    21612: (InvalidPhoneNumber, False),
    21614: (InvalidPhoneNumber, False),
    21635: (InvalidPhoneNumber, False),
    21610: (ErrorSendingSms, False),
    21611: (ErrorSendingSms, False),
    30450: (ErrorSendingSms, False),
    30453: (ErrorSendingSms, False),
    20429: (ErrorSendingSms, False),
    20003: (ErrorSendingSms, True),
    20005: (ErrorSendingSms, True),
    20404: (ErrorSendingSms, True),
    21212: (ErrorSendingSms, True),
    21408: (ErrorSendingSms, True),
    21606: (ErrorSendingSms, True),
    21608: (ErrorSendingSms, True),
    21659: (ErrorSendingSms, True),
    21660: (ErrorSendingSms, True),
    # Not in the table: a code we do not know is a plain send failure.
    21999: (ErrorSendingSms, False),
}


def test_the_mapping_table_is_the_tested_one() -> None:
    table = twilio_sms._TWILIO_CODES
    assert set(table) == set(EXPECTED_MAPPING) - {21999}
    for code, rule in table.items():
        assert (rule.error, rule.operator_hint is not None) == EXPECTED_MAPPING[code]


@pytest.mark.parametrize("problem", [False, True], ids=["legacy-body", "rfc9457-body"])
@pytest.mark.parametrize("twilio_code", sorted(EXPECTED_MAPPING))
async def test_every_mapped_code(
    twilio: TwilioSmsTransport,
    twilio_stub: TwilioStub,
    caplog: pytest.LogCaptureFixture,
    twilio_code: int,
    problem: bool,
) -> None:
    status = {20003: 401, 20404: 404, 20429: 429}.get(twilio_code, 400)
    twilio_stub.scripted[TO] = Scripted(status, twilio_code, "rejected {to}", problem=problem)
    expected, logged = EXPECTED_MAPPING[twilio_code]

    with caplog.at_level(logging.DEBUG), pytest.raises(MFAError) as info:
        await twilio.send(sms())

    assert type(info.value) is expected
    vendor = TwilioServiceException if problem else TwilioRestException
    assert isinstance(info.value.__cause__, vendor)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == (1 if logged else 0)
    assert all(r.name == "mfa.transports.twilio" for r in errors)
    assert_nothing_leaked(info.value.message + caplog.text, twilio_stub.auth_token)


async def test_wrong_credentials_log_one_operator_line(
    twilio_stub: TwilioStub, caplog: pytest.LogCaptureFixture
) -> None:
    wrong_token = "f" * 32
    transport = TwilioSmsTransport(
        twilio_stub.account_sid, wrong_token, twilio_stub.from_, base_url=twilio_stub.base_url
    )
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(ErrorSendingSms) as info:
            await transport.send(sms())
    finally:
        await transport.aclose()

    assert type(info.value) is ErrorSendingSms
    assert [r.authorized for r in twilio_stub.requests] == [False]
    [line] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert line.name == "mfa.transports.twilio"
    assert line.levelno == logging.ERROR
    message = line.getMessage()
    assert "20003" in message and "MFA_TWILIO_AUTH_TOKEN" in message
    assert_nothing_leaked(caplog.text + info.value.message, wrong_token, twilio_stub.auth_token)


async def test_a_slow_twilio_is_cut_off_at_the_timeout(twilio: TwilioSmsTransport) -> None:
    started = time.monotonic()
    with pytest.raises(ErrorSendingSms, match=r"did not answer within 0\.5 s") as info:
        await twilio.send(sms(stub_numbers.SLOW))
    assert 0.4 < time.monotonic() - started < 2.0
    assert isinstance(info.value.__cause__, TimeoutError)


async def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on that port any more.
    transport = TwilioSmsTransport(
        "AC" + "0" * 32, "token", "+15005550006", base_url=f"http://127.0.0.1:{port}"
    )
    try:
        with pytest.raises(ErrorSendingSms, match="Could not connect") as info:
            await transport.send(sms())
    finally:
        await transport.aclose()
    assert isinstance(info.value.__cause__, aiohttp.ClientConnectionError)


async def test_aclose_closes_the_session_and_later_sends_fail(
    twilio_stub: TwilioStub,
) -> None:
    transport = TwilioSmsTransport.from_settings(Settings(**twilio_stub.settings_overrides()))
    await transport.send(sms())
    session = transport._http.session
    assert session is not None and not session.closed
    await transport.aclose()
    assert session.closed
    await transport.aclose()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await transport.send(sms())


async def test_aclose_without_any_send() -> None:
    transport = TwilioSmsTransport("AC" + "0" * 32, "token", "+15005550006")
    await transport.aclose()
