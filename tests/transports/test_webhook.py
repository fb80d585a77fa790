"""Webhook transports: signing, the receiver's contract, retries and bounds."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from mfa.delivery import (
    PushMessage,
    PushTransport,
    SmsMessage,
    SmsTransport,
    load_push_transport,
    load_sms_transport,
)
from mfa.errors import (
    ErrorSendingPushNotification,
    ErrorSendingSms,
    InvalidPhoneNumber,
    MFAError,
    PnEndpointDisabled,
    PushNotificationWrongCredentials,
)
from mfa.settings import Settings, SettingsError
from tests.stubs.webhook_receiver import Answer, WebhookReceiver
from transports.webhook import (
    DELIVERY_ID_HEADER,
    SIGNATURE_HEADER,
    WebhookPushTransport,
    WebhookSmsTransport,
    sign,
    verify_signature,
)

pytestmark = pytest.mark.anyio

SECRET = "whsec-unit-test"
URL = "https://relay.test/hook"
TO = "+14155550123"
CODE = "735201"
SMS = SmsMessage(to=TO, body=f"Your code is {CODE}", code=CODE, tenant_id="acme", locale="fr")
PUSH = PushMessage(
    service="APNS",
    device_token="tok-abc",
    payload={"dai": "dev_1", "txtkn": "tx.jwt", "c": "chal"},
    tenant_id="acme",
    extra={"k": 1},
)


class Recorder:
    """An httpx.MockTransport handler answering a script, recording every request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if self.answers else httpx.Response(200)
        if isinstance(answer, Exception):
            raise answer
        return answer


def sms_transport(recorder: Recorder, total_timeout: float = 10.0) -> WebhookSmsTransport:
    return WebhookSmsTransport(
        URL,
        SECRET,
        backoff=0.001,
        total_timeout=total_timeout,
        transport=httpx.MockTransport(recorder),
    )


def push_transport(recorder: Recorder) -> WebhookPushTransport:
    return WebhookPushTransport(URL, SECRET, backoff=0.001, transport=httpx.MockTransport(recorder))


# --- the request ---------------------------------------------------------------------


async def test_sms_request_body_and_headers() -> None:
    recorder = Recorder()
    transport = WebhookSmsTransport(
        URL, SECRET, transport=httpx.MockTransport(recorder), clock=lambda: 1_700_000_000.5
    )
    await transport.send(SMS)
    await transport.aclose()

    [request] = recorder.requests
    assert (request.method, str(request.url)) == ("POST", URL)
    assert request.headers["content-type"] == "application/json"
    body = json.loads(request.content)
    assert body == {
        "type": "sms",
        "id": body["id"],
        "to": TO,
        "body": f"Your code is {CODE}",
        "code": CODE,
        "tenant_id": "acme",
        "locale": "fr",
    }
    assert request.headers[DELIVERY_ID_HEADER] == body["id"]
    signature = request.headers[SIGNATURE_HEADER]
    assert signature == sign(SECRET, request.content, 1_700_000_000)
    assert signature.startswith("t=1700000000,v1=")
    assert verify_signature(SECRET, signature, request.content, now=1_700_000_010)


async def test_push_request_body() -> None:
    recorder = Recorder()
    transport = push_transport(recorder)
    await transport.send(PUSH)
    await transport.aclose()
    body = json.loads(recorder.requests[0].content)
    assert body == {
        "type": "push",
        "id": body["id"],
        "service": "APNS",
        "device_token": "tok-abc",
        "payload": {"dai": "dev_1", "txtkn": "tx.jwt", "c": "chal"},
        "tenant_id": "acme",
        "extra": {"k": 1},
    }


async def test_each_message_gets_its_own_delivery_id() -> None:
    recorder = Recorder()
    transport = sms_transport(recorder)
    await transport.send(SMS)
    await transport.send(SMS)
    await transport.aclose()
    ids = {r.headers[DELIVERY_ID_HEADER] for r in recorder.requests}
    assert len(ids) == 2


# --- retries -------------------------------------------------------------------------


async def test_retries_5xx_and_429_with_the_same_delivery_id_then_succeeds() -> None:
    recorder = Recorder(httpx.Response(503), httpx.Response(429, headers={"Retry-After": "0"}))
    transport = sms_transport(recorder)
    await transport.send(SMS)
    await transport.aclose()
    assert len(recorder.requests) == 3
    assert len({r.headers[DELIVERY_ID_HEADER] for r in recorder.requests}) == 1
    assert len({r.content for r in recorder.requests}) == 1


async def test_retries_connection_errors_and_timeouts() -> None:
    recorder = Recorder(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"))
    transport = sms_transport(recorder)
    await transport.send(SMS)
    await transport.aclose()
    assert len(recorder.requests) == 3


async def test_gives_up_after_three_attempts() -> None:
    recorder = Recorder(*[httpx.Response(500)] * 5)
    transport = sms_transport(recorder)
    with pytest.raises(ErrorSendingSms, match="HTTP 500"):
        await transport.send(SMS)
    await transport.aclose()
    assert len(recorder.requests) == 3


async def test_gives_up_on_connection_errors_with_the_cause() -> None:
    recorder = Recorder(*[httpx.ConnectError("refused")] * 3)
    transport = sms_transport(recorder)
    with pytest.raises(ErrorSendingSms, match="Could not reach") as info:
        await transport.send(SMS)
    await transport.aclose()
    assert isinstance(info.value.__cause__, httpx.ConnectError)


@pytest.mark.parametrize("status", [400, 404, 409, 413, 422])
async def test_no_retry_on_other_4xx(status: int) -> None:
    recorder = Recorder(httpx.Response(status), httpx.Response(200))
    transport = sms_transport(recorder)
    with pytest.raises(ErrorSendingSms, match=f"HTTP {status}"):
        await transport.send(SMS)
    await transport.aclose()
    assert len(recorder.requests) == 1


async def test_no_redirects_are_followed() -> None:
    recorder = Recorder(httpx.Response(307, headers={"Location": "https://elsewhere.test/"}))
    transport = sms_transport(recorder)
    with pytest.raises(ErrorSendingSms, match="HTTP 307"):
        await transport.send(SMS)
    await transport.aclose()
    assert len(recorder.requests) == 1


async def test_backoff_is_bounded_by_the_total_timeout() -> None:
    # Retry-After asks for 2 s, more than the whole send may take: give up at once.
    recorder = Recorder(httpx.Response(503, headers={"Retry-After": "2"}), httpx.Response(200))
    transport = sms_transport(recorder, total_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(ErrorSendingSms):
        await transport.send(SMS)
    await transport.aclose()
    assert time.monotonic() - started < 0.5
    assert len(recorder.requests) == 1


# --- the receiver's answers ----------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(422, json={"error": "invalid_phone_number"}), InvalidPhoneNumber),
        (httpx.Response(422, json={"error": "something_else"}), ErrorSendingSms),
        (httpx.Response(422, text="invalid_phone_number"), ErrorSendingSms),
        (httpx.Response(400, json={"error": "invalid_phone_number"}), ErrorSendingSms),
        (httpx.Response(410), ErrorSendingSms),
    ],
)
async def test_sms_answers(response: httpx.Response, expected: type[MFAError]) -> None:
    transport = sms_transport(Recorder(response))
    with pytest.raises(MFAError) as info:
        await transport.send(SMS)
    await transport.aclose()
    assert type(info.value) is expected
    assert TO not in info.value.message and CODE not in info.value.message


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(410), PnEndpointDisabled),
        (httpx.Response(422, json={"error": "pn_endpoint_disabled"}), PnEndpointDisabled),
        (
            httpx.Response(422, json={"error": "push_notification_wrong_credentials"}),
            PushNotificationWrongCredentials,
        ),
        (httpx.Response(422, json={"error": "invalid_phone_number"}), ErrorSendingPushNotification),
        (httpx.Response(400), ErrorSendingPushNotification),
        (httpx.Response(502), ErrorSendingPushNotification),
    ],
)
async def test_push_answers(response: httpx.Response, expected: type[MFAError]) -> None:
    recorder = Recorder(response, response, response)
    transport = push_transport(recorder)
    with pytest.raises(MFAError) as info:
        await transport.send(PUSH)
    await transport.aclose()
    assert type(info.value) is expected


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_signature_is_logged_once_for_the_operator(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    recorder = Recorder(httpx.Response(status))
    transport = sms_transport(recorder)
    with pytest.raises(ErrorSendingSms):
        await transport.send(SMS)
    await transport.aclose()
    [line] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert line.name == "mfa.transports.webhook"
    assert "MFA_WEBHOOK_SECRET" in line.getMessage()
    for secret in (TO, CODE, SECRET):
        assert secret not in caplog.text


# --- over a real socket --------------------------------------------------------------


@pytest.fixture
async def real_sms(webhook_receiver: WebhookReceiver) -> AsyncIterator[WebhookSmsTransport]:
    transport = WebhookSmsTransport(
        webhook_receiver.url, webhook_receiver.secret, timeout=0.3, backoff=0.01
    )
    yield transport
    await transport.aclose()


async def test_real_receiver_verifies_the_signature(
    real_sms: WebhookSmsTransport, webhook_receiver: WebhookReceiver
) -> None:
    await real_sms.send(SMS)
    [delivery] = webhook_receiver.deliveries
    assert delivery.signature_ok
    assert delivery.json["code"] == CODE
    assert delivery.delivery_id == delivery.json["id"]


async def test_real_receiver_503_then_success(
    real_sms: WebhookSmsTransport, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.answer(503, 503)
    await real_sms.send(SMS)
    assert len(webhook_receiver.deliveries) == 3
    assert all(d.signature_ok for d in webhook_receiver.deliveries)
    assert len({d.delivery_id for d in webhook_receiver.deliveries}) == 1


async def test_real_receiver_no_retry_on_400(
    real_sms: WebhookSmsTransport, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.answer(400)
    with pytest.raises(ErrorSendingSms):
        await real_sms.send(SMS)
    assert len(webhook_receiver.deliveries) == 1


async def test_real_receiver_invalid_number(
    real_sms: WebhookSmsTransport, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.answer(Answer(422, {"error": "invalid_phone_number"}))
    with pytest.raises(InvalidPhoneNumber):
        await real_sms.send(SMS)


async def test_real_receiver_with_another_secret_refuses(
    webhook_receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    transport = WebhookSmsTransport(webhook_receiver.url, "not-the-secret")
    with pytest.raises(ErrorSendingSms, match="HTTP 401"):
        await transport.send(SMS)
    await transport.aclose()
    assert [d.signature_ok for d in webhook_receiver.deliveries] == [False]
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1


async def test_real_receiver_timeout_is_bounded(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.answer(*[Answer(200, delay=5)] * 3)
    transport = WebhookSmsTransport(
        webhook_receiver.url, webhook_receiver.secret, timeout=0.2, total_timeout=0.5, backoff=0.01
    )
    started = time.monotonic()
    with pytest.raises(ErrorSendingSms, match="did not answer in time") as info:
        await transport.send(SMS)
    elapsed = time.monotonic() - started
    await transport.aclose()
    assert elapsed < 1.0
    assert isinstance(info.value.__cause__, httpx.TimeoutException)
    # 0.2 s, 0.2 s, then what is left of the 0.5 s budget.
    assert 2 <= len(webhook_receiver.deliveries) <= 3


async def test_connection_refused_is_retried_then_fails() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    transport = WebhookSmsTransport(f"http://127.0.0.1:{port}/hook", SECRET, backoff=0.01)
    with pytest.raises(ErrorSendingSms, match="Could not reach"):
        await transport.send(SMS)
    await transport.aclose()


# --- verify_signature ----------------------------------------------------------------

BODY = b'{"type":"sms","code":"735201"}'
T = 1_700_000_000


def test_verify_signature_accepts_a_good_one() -> None:
    assert verify_signature(SECRET, sign(SECRET, BODY, T), BODY, now=T)
    assert verify_signature(SECRET.encode(), sign(SECRET, BODY, T), BODY.decode(), now=T + 300)


@pytest.mark.parametrize(
    ("header", "body", "secret", "now"),
    [
        (sign(SECRET, BODY, T), BODY + b" ", SECRET, T),  # tampered body
        (sign(SECRET, BODY, T), BODY, "other", T),  # wrong secret
        (sign(SECRET, BODY, T), BODY, SECRET, T + 301),  # replayed too late
        (sign(SECRET, BODY, T), BODY, SECRET, T - 301),  # from the future
        (sign(SECRET, BODY, T).replace(f"t={T}", f"t={T + 1}"), BODY, SECRET, T),
        ("", BODY, SECRET, T),
        ("garbage", BODY, SECRET, T),
        (f"t={T}", BODY, SECRET, T),
        (f"t=abc,v1={'0' * 64}", BODY, SECRET, T),
        (f"t={T},v1=é", BODY, SECRET, T),
    ],
)
def test_verify_signature_refuses(header: str, body: bytes, secret: str, now: int) -> None:
    assert not verify_signature(secret, header, body, now=now)


def test_verify_signature_accepts_any_of_several_v1() -> None:
    good = sign(SECRET, BODY, T)
    header = f"t={T},v1={'0' * 64}, {good.split(',')[1]}"
    assert verify_signature(SECRET, header, BODY, now=T)


def test_verify_signature_custom_tolerance() -> None:
    header = sign(SECRET, BODY, T)
    assert not verify_signature(SECRET, header, BODY, tolerance=10, now=T + 11)
    assert verify_signature(SECRET, header, BODY, tolerance=10, now=T + 10)


def test_verify_signature_defaults_to_the_current_time() -> None:
    assert verify_signature(SECRET, sign(SECRET, BODY), BODY)
    assert not verify_signature(SECRET, sign(SECRET, BODY, int(time.time()) - 3600), BODY)


# --- configuration and lifecycle -----------------------------------------------------


async def test_from_settings_through_the_registry() -> None:
    settings = Settings(
        sms_transport="webhook",
        push_transport="webhook",
        sms_webhook_url=URL,
        push_webhook_url=URL + "/push",
        webhook_secret=SECRET,
    )
    sms = load_sms_transport(settings)
    push = load_push_transport(settings)
    assert isinstance(sms, WebhookSmsTransport) and isinstance(sms, SmsTransport)
    assert isinstance(push, WebhookPushTransport) and isinstance(push, PushTransport)
    await sms.aclose()
    await push.aclose()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sms_webhook_url": URL}, "MFA_WEBHOOK_SECRET"),
        ({"webhook_secret": SECRET}, "MFA_SMS_WEBHOOK_URL"),
        ({"sms_webhook_url": "ftp://relay.test/", "webhook_secret": SECRET}, "http or https"),
        ({"sms_webhook_url": "http://[::1", "webhook_secret": SECRET}, "http or https"),
    ],
)
def test_from_settings_refuses_incomplete_configuration(
    overrides: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        WebhookSmsTransport.from_settings(Settings().replace(**overrides))


def test_push_from_settings_needs_its_own_url() -> None:
    settings = Settings(sms_webhook_url=URL, webhook_secret=SECRET)
    with pytest.raises(SettingsError, match="MFA_PUSH_WEBHOOK_URL"):
        WebhookPushTransport.from_settings(settings)


async def test_aclose_closes_the_http_client() -> None:
    transport = WebhookSmsTransport(URL, SECRET)
    client = transport._poster._client
    assert not client.is_closed
    await transport.aclose()
    assert client.is_closed
    with pytest.raises(RuntimeError, match="closed"):
        await transport.send(SMS)
