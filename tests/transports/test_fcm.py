"""FcmPushTransport, with google-auth's real token refresh, against the local FCM stub."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mfa.delivery import PushMessage, PushTransport
from mfa.errors import (
    ErrorSendingPushNotification,
    MFAError,
    PushNotificationWrongCredentials,
)
from mfa.settings import Settings, SettingsError
from tests.stubs import fcm_stub as tokens
from tests.stubs.fcm_stub import FcmStub, Scripted
from transports._push import DeadDeviceToken
from transports.fcm import FCM_CODES, FCM_SCOPE, FcmPushTransport

pytestmark = pytest.mark.anyio

PAYLOAD = {
    "dai": "dev_d7f1cc19",
    "txtkn": "tx-token-secret",
    "c": "challenge-123",
    "sh": "https://mfa.example.com",
    "d": "2026-01-01T12:00:00.000Z",
    "s": {"b": {"n": "Firefox", "v": "120"}, "os": {"n": "Linux", "v": "6"}},
    "txlnkid": 42,
}


def push(device_token: str = tokens.GOOD_TOKEN) -> PushMessage:
    return PushMessage(service="GCM", device_token=device_token, payload=PAYLOAD, tenant_id="acme")


def settings_for(stub: FcmStub, **changes: object) -> Settings:
    credentials = json.dumps(stub.service_account_info())
    return Settings(**{**stub.settings_overrides(credentials), **changes})


@pytest.fixture
async def fcm(fcm_stub: FcmStub) -> AsyncIterator[FcmPushTransport]:
    transport = FcmPushTransport.from_settings(settings_for(fcm_stub))
    yield transport
    await transport.aclose()


def assert_nothing_leaked(text: str, stub: FcmStub, *more: str) -> None:
    for secret in (tokens.GOOD_TOKEN, PAYLOAD["txtkn"], stub.key_pem.splitlines()[1], *more):
        assert secret not in text
    assert "ya29." not in text  # no access token
    assert "eyJ" not in text  # no JWT assertion


async def test_sends_a_data_message_with_string_values_and_an_oauth_token(
    fcm: FcmPushTransport, fcm_stub: FcmStub
) -> None:
    await fcm.send(push())
    await fcm.send(push())

    # One token grant, at the overridden token URL (the stub's), for the FCM scope; reused.
    [grant] = fcm_stub.grants
    assert (grant["iss"], grant["scope"]) == (fcm_stub.client_email, FCM_SCOPE)
    first, second = fcm_stub.sent
    assert first.path == f"/v1/projects/{fcm_stub.project_id}/messages:send"
    assert first.headers["authorization"] == second.headers["authorization"]
    message = first.body["message"]
    assert message["token"] == tokens.GOOD_TOKEN
    assert message["android"] == {"priority": "high", "ttl": "300s"}
    assert "notification" not in message  # a data message: the app builds the alert
    data = message["data"]
    assert all(isinstance(v, str) for v in data.values())
    assert json.loads(data["s"]) == PAYLOAD["s"]
    assert (data["dai"], data["c"], data["txlnkid"]) == ("dev_d7f1cc19", "challenge-123", "42")


async def test_the_token_refresh_leaves_the_event_loop_free(
    fcm: FcmPushTransport, fcm_stub: FcmStub
) -> None:
    fcm_stub.token_delay = 0.3
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0.01)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(tick)
        await fcm.send(push())
        tasks.cancel_scope.cancel()
    # google-auth's refresh is synchronous: on the loop, it would stop the ticks.
    assert ticks >= 10
    assert len(fcm_stub.sent) == 1


async def test_a_refused_access_token_is_refreshed_once(
    fcm: FcmPushTransport, fcm_stub: FcmStub, caplog: pytest.LogCaptureFixture
) -> None:
    await fcm.send(push())
    fcm_stub.revoke_access_tokens()
    caplog.set_level(logging.DEBUG)
    await fcm.send(push())

    assert [r.status for r in fcm_stub.requests] == [200, 401, 200]
    assert len(fcm_stub.grants) == 2
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert_nothing_leaked(caplog.text, fcm_stub)


async def test_an_access_token_refused_twice_is_wrong_credentials(
    fcm: FcmPushTransport, fcm_stub: FcmStub, caplog: pytest.LogCaptureFixture
) -> None:
    await fcm.send(push())
    fcm_stub.access_tokens = _Never()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PushNotificationWrongCredentials, match="UNAUTHENTICATED"):
        await fcm.send(push())
    assert [r.status for r in fcm_stub.requests] == [200, 401, 401]
    [line] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "MFA_FCM_CREDENTIALS" in line.getMessage()


class _Never(set[str]):
    def __contains__(self, item: object) -> bool:
        return False


@pytest.mark.parametrize(
    ("device_token", "expected", "logged"),
    [
        (tokens.UNREGISTERED, DeadDeviceToken, False),
        (tokens.INVALID_TOKEN, DeadDeviceToken, False),
        (tokens.SENDER_ID_MISMATCH, PushNotificationWrongCredentials, True),
        (tokens.QUOTA_EXCEEDED, ErrorSendingPushNotification, False),
        (tokens.UNAVAILABLE, ErrorSendingPushNotification, False),
        (tokens.INTERNAL, ErrorSendingPushNotification, False),
    ],
)
async def test_vendor_errors_are_mapped(
    fcm: FcmPushTransport,
    fcm_stub: FcmStub,
    caplog: pytest.LogCaptureFixture,
    device_token: str,
    expected: type[MFAError],
    logged: bool,
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(MFAError) as info:
        await fcm.send(push(device_token))
    assert type(info.value) is expected
    assert len(fcm_stub.requests) == 1  # no retry
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == (1 if logged else 0)
    if isinstance(info.value, DeadDeviceToken):
        assert info.value.code == "pn_endpoint_disabled"
        assert info.value.vendor == "fcm"
        assert info.value.reason in ("UNREGISTERED", "INVALID_ARGUMENT")
    assert_nothing_leaked(caplog.text + info.value.message, fcm_stub, device_token)


async def test_an_invalid_argument_not_about_the_token_does_not_disable_the_device(
    fcm: FcmPushTransport, fcm_stub: FcmStub
) -> None:
    fcm_stub.scripted[tokens.GOOD_TOKEN] = Scripted(
        400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Invalid android.ttl", bad_field="android.ttl"
    )
    with pytest.raises(MFAError) as info:
        await fcm.send(push())
    assert type(info.value) is ErrorSendingPushNotification


def test_the_table_names_the_issues_codes() -> None:
    assert FCM_CODES["UNREGISTERED"].outcome == "dead"
    assert FCM_CODES["UNAUTHENTICATED"].outcome == "credentials"
    assert FCM_CODES["SENDER_ID_MISMATCH"].outcome == "credentials"
    for code in ("INVALID_ARGUMENT", "QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL"):
        assert FCM_CODES[code].outcome == "failed"
    for rule in FCM_CODES.values():
        assert (rule.outcome == "credentials") <= (rule.operator_hint is not None)


async def test_a_refused_service_account_is_wrong_credentials(
    fcm_stub: FcmStub, caplog: pytest.LogCaptureFixture
) -> None:
    # Another key signs the assertion; the stub knows only its own.
    other_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode("ascii")
    )
    info = {**fcm_stub.service_account_info(), "private_key": other_pem}
    settings = settings_for(fcm_stub, fcm_credentials=json.dumps(info))
    transport = FcmPushTransport.from_settings(settings)
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(PushNotificationWrongCredentials) as raised:
            await transport.send(push())
    finally:
        await transport.aclose()
    assert fcm_stub.requests == []
    [line] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert line.name == "mfa.transports.fcm"
    assert "invalid_grant" in line.getMessage() and "MFA_FCM_CREDENTIALS" in line.getMessage()
    assert_nothing_leaked(caplog.text + raised.value.message, fcm_stub, other_pem.split()[3])


async def test_a_wrong_project_is_wrong_credentials(fcm_stub: FcmStub) -> None:
    transport = FcmPushTransport.from_settings(settings_for(fcm_stub, fcm_project_id="other"))
    try:
        with pytest.raises(PushNotificationWrongCredentials, match="PERMISSION_DENIED"):
            await transport.send(push())
    finally:
        await transport.aclose()


async def test_an_unreachable_token_url_is_an_error_sending(fcm_stub: FcmStub) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = settings_for(fcm_stub, fcm_token_url=f"http://127.0.0.1:{port}/token")
    transport = FcmPushTransport.from_settings(settings)
    try:
        with pytest.raises(ErrorSendingPushNotification, match="access token"):
            await transport.send(push())
    finally:
        await transport.aclose()


async def test_aclose_is_idempotent_and_later_sends_fail(fcm: FcmPushTransport) -> None:
    await fcm.send(push())
    await fcm.aclose()
    await fcm.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await fcm.send(push())


async def test_settings(fcm_stub: FcmStub, tmp_path: Path) -> None:
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps(fcm_stub.service_account_info()))
    transport = FcmPushTransport.from_settings(
        settings_for(fcm_stub, fcm_credentials=str(key_file))
    )
    assert isinstance(transport, PushTransport)
    assert fcm_stub.project_id in repr(transport)
    await transport.aclose()

    with pytest.raises(SettingsError, match="MFA_FCM_CREDENTIALS"):
        Settings(push_transport="fcm").check()
    with pytest.raises(SettingsError, match="MFA_FCM_TOKEN_URL"):
        settings_for(fcm_stub, fcm_token_url="file:///etc/passwd").check()
    with pytest.raises(SettingsError, match="neither") as raised:
        FcmPushTransport.from_settings(settings_for(fcm_stub, fcm_credentials='{"type": "x"}'))
    assert raised.value.__cause__ is None
