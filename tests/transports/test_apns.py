"""ApnsPushTransport, over real HTTP/2, against the local APNs stub."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mfa.delivery import PushMessage, PushTransport
from mfa.errors import (
    ErrorSendingPushNotification,
    MFAError,
    PnEndpointDisabled,
    PushNotificationWrongCredentials,
)
from mfa.settings import Settings, SettingsError
from tests.stubs import apns_stub as tokens
from tests.stubs.apns_stub import ApnsStub, Scripted
from transports._push import GUARDIAN_CATEGORY, DeadDeviceToken
from transports.apns import APNS_REASONS, APNS_SANDBOX, ApnsPushTransport, ProviderToken

pytestmark = pytest.mark.anyio

PAYLOAD = {
    "dai": "dev_d7f1cc19",
    "txtkn": "tx-token-secret",
    "c": "challenge-123",
    "sh": "https://mfa.example.com",
    "d": "2026-01-01T12:00:00.000Z",
    "s": {"b": {"n": "Firefox", "v": "120"}, "os": {"n": "Linux", "v": "6"}},
    "l": '{"n": "Paris", "lat": "48.85", "long": "2.35"}',
}


def push(device_token: str = tokens.GOOD_TOKEN) -> PushMessage:
    return PushMessage(service="APNS", device_token=device_token, payload=PAYLOAD, tenant_id="acme")


@pytest.fixture
async def apns(apns_stub: ApnsStub) -> AsyncIterator[ApnsPushTransport]:
    settings = Settings(**apns_stub.settings_overrides())
    transport = ApnsPushTransport.from_settings(settings)
    transport._timeout = 0.5
    yield transport
    await transport.aclose()


def assert_nothing_leaked(text: str, stub: ApnsStub, *more: str) -> None:
    for secret in (tokens.GOOD_TOKEN, PAYLOAD["txtkn"], stub.key_pem.splitlines()[1], *more):
        assert secret not in text
    assert "eyJ" not in text  # no JWT


async def test_sends_one_alert_over_http2_with_a_verified_provider_token(
    apns: ApnsPushTransport, apns_stub: ApnsStub
) -> None:
    before = int(time.time())
    await apns.send(push())

    [request] = apns_stub.sent
    assert request.http_version == "2"
    assert request.device_token == tokens.GOOD_TOKEN
    assert request.claims is not None and request.claims["iss"] == apns_stub.team_id
    assert request.headers["apns-topic"] == apns_stub.topic
    assert request.headers["apns-push-type"] == "alert"
    assert request.headers["apns-priority"] == "10"
    assert before + 300 <= int(request.headers["apns-expiration"]) <= before + 302
    aps = request.body["aps"]
    assert aps["category"] == GUARDIAN_CATEGORY
    assert "acme" in aps["alert"]["body"]
    # The Guardian iOS SDK reads userInfo["mfa"], with s and l as objects.
    assert request.body["mfa"] == {
        **PAYLOAD,
        "l": {"n": "Paris", "lat": "48.85", "long": "2.35"},
    }


def test_the_provider_token_is_reused_then_renewed_after_40_minutes(
    apns_stub: ApnsStub,
) -> None:
    now = [1_767_268_800.0]
    provider = ProviderToken(
        apns_stub.key, apns_stub.key_id, apns_stub.team_id, clock=lambda: now[0]
    )
    first = provider.get()
    now[0] += 39 * 60
    assert provider.get() == first
    provider.renew("some other token")  # another send already renewed it: keep ours
    assert provider.get() == first
    now[0] += 2 * 60
    second = provider.get()
    assert second != first
    assert jwt.decode(second, options={"verify_signature": False})["iat"] == int(now[0])
    assert jwt.get_unverified_header(second) == {"alg": "ES256", "kid": "STUBKEY123", "typ": "JWT"}


async def test_an_expired_provider_token_is_renewed_and_the_send_retried_once(
    apns: ApnsPushTransport, apns_stub: ApnsStub, caplog: pytest.LogCaptureFixture
) -> None:
    await apns.send(push())
    apns_stub.expire_provider_tokens()
    caplog.set_level(logging.DEBUG)
    await apns.send(push())

    assert [r.status for r in apns_stub.requests] == [200, 403, 200]
    first, refused, retried = (r.headers["authorization"] for r in apns_stub.requests)
    assert first == refused != retried
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert_nothing_leaked(caplog.text, apns_stub)


async def test_a_provider_token_refused_twice_is_wrong_credentials(
    apns: ApnsPushTransport, apns_stub: ApnsStub
) -> None:
    apns_stub.expire_all = True  # even the new one
    with pytest.raises(PushNotificationWrongCredentials):
        await apns.send(push())
    assert [r.status for r in apns_stub.requests] == [403, 403]


@pytest.mark.parametrize(
    ("device_token", "expected", "reason"),
    [
        (tokens.UNREGISTERED, DeadDeviceToken, "Unregistered"),
        (tokens.BAD_DEVICE_TOKEN, DeadDeviceToken, "BadDeviceToken"),
        ("not-hex", DeadDeviceToken, "BadDeviceToken"),
        (tokens.TOO_MANY_REQUESTS, ErrorSendingPushNotification, None),
        (tokens.SERVER_ERROR, ErrorSendingPushNotification, None),
        (tokens.UNAVAILABLE, ErrorSendingPushNotification, None),
        (tokens.NOT_JSON, ErrorSendingPushNotification, None),
    ],
)
async def test_vendor_errors_are_mapped(
    apns: ApnsPushTransport,
    apns_stub: ApnsStub,
    caplog: pytest.LogCaptureFixture,
    device_token: str,
    expected: type[MFAError],
    reason: str | None,
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(MFAError) as info:
        await apns.send(push(device_token))
    assert type(info.value) is expected
    assert len(apns_stub.requests) == 1  # no retry
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    if reason is not None:
        assert isinstance(info.value, PnEndpointDisabled)
        assert info.value.code == "pn_endpoint_disabled"
        assert (info.value.vendor, info.value.reason) == ("apns", reason)
    assert_nothing_leaked(caplog.text + info.value.message, apns_stub, device_token)


async def test_a_dead_token_carries_apples_timestamp(apns: ApnsPushTransport) -> None:
    with pytest.raises(DeadDeviceToken) as info:
        await apns.send(push(tokens.UNREGISTERED))
    assert info.value.at == datetime(2026, 1, 1, 12, tzinfo=UTC)


async def test_a_wrong_key_is_wrong_credentials_with_one_operator_line(
    apns_stub: ApnsStub, caplog: pytest.LogCaptureFixture
) -> None:
    other_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode("ascii")
    )
    settings = Settings(**{**apns_stub.settings_overrides(), "apns_key": other_pem})
    transport = ApnsPushTransport.from_settings(settings)
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(PushNotificationWrongCredentials) as info:
            await transport.send(push())
    finally:
        await transport.aclose()
    [line] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert line.name == "mfa.transports.apns"
    assert "InvalidProviderToken" in line.getMessage() and "MFA_APNS_KEY" in line.getMessage()
    assert_nothing_leaked(caplog.text + info.value.message, apns_stub, other_pem.splitlines()[1])


async def test_a_wrong_topic_is_wrong_credentials(apns_stub: ApnsStub) -> None:
    settings = Settings(**{**apns_stub.settings_overrides(), "apns_topic": "com.other.app"})
    transport = ApnsPushTransport.from_settings(settings)
    try:
        with pytest.raises(PushNotificationWrongCredentials, match="DeviceTokenNotForTopic"):
            await transport.send(push())
    finally:
        await transport.aclose()


def _status(reason: str) -> int:
    statuses = {"Unregistered": 410, "ExpiredToken": 410, "TooManyRequests": 429}
    statuses |= {"InternalServerError": 500, "ServiceUnavailable": 503, "Shutdown": 503}
    if APNS_REASONS[reason].outcome == "credentials" and reason != "DeviceTokenNotForTopic":
        return 403
    return statuses.get(reason, 400)


EXPECTED = {
    "dead": PnEndpointDisabled,
    "credentials": PushNotificationWrongCredentials,
    "failed": ErrorSendingPushNotification,
}


@pytest.mark.parametrize("reason", sorted(APNS_REASONS))
async def test_every_mapped_reason(
    apns: ApnsPushTransport,
    apns_stub: ApnsStub,
    caplog: pytest.LogCaptureFixture,
    reason: str,
) -> None:
    rule = APNS_REASONS[reason]
    apns_stub.scripted[tokens.GOOD_TOKEN] = Scripted(_status(reason), reason)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(MFAError) as info:
        await apns.send(push())
    expected = DeadDeviceToken if rule.outcome == "dead" else EXPECTED[rule.outcome]
    assert type(info.value) is expected
    assert reason in info.value.message
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == (1 if rule.operator_hint else 0)
    assert_nothing_leaked(caplog.text + info.value.message, apns_stub)


def test_every_reason_has_one_outcome() -> None:
    dead = {r for r, rule in APNS_REASONS.items() if rule.outcome == "dead"}
    assert dead == {"BadDeviceToken", "Unregistered", "ExpiredToken"}
    for rule in APNS_REASONS.values():
        # Only what the operator can fix is logged at ERROR.
        assert (rule.outcome == "credentials") <= (rule.operator_hint is not None)


async def test_a_slow_apns_is_cut_off_at_the_timeout(apns: ApnsPushTransport) -> None:
    started = time.monotonic()
    with pytest.raises(ErrorSendingPushNotification, match=r"within 0\.5 s") as info:
        await apns.send(push(tokens.SLOW))
    assert 0.4 < time.monotonic() - started < 2.0
    assert isinstance(info.value.__cause__, httpx.TimeoutException)


async def test_connection_refused(apns_stub: ApnsStub) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(
        **{**apns_stub.settings_overrides(), "apns_base_url": f"http://127.0.0.1:{port}"}
    )
    transport = ApnsPushTransport.from_settings(settings)
    try:
        with pytest.raises(ErrorSendingPushNotification, match="Could not connect"):
            await transport.send(push())
    finally:
        await transport.aclose()


async def test_aclose_is_idempotent_and_later_sends_fail(apns: ApnsPushTransport) -> None:
    await apns.send(push())
    await apns.aclose()
    await apns.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await apns.send(push())


def _self_signed(directory: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 that is its own CA, and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "apns-stub")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


async def test_https_negotiates_h2_by_alpn_and_verifies_the_certificate(tmp_path: Path) -> None:
    cert_file, key_file = _self_signed(tmp_path)
    with ApnsStub(tls=(cert_file, key_file)) as tls_stub:
        settings = Settings(**{**tls_stub.settings_overrides(), "apns_ca_file": cert_file})
        transport = ApnsPushTransport.from_settings(settings)
        try:
            await transport.send(push())
        finally:
            await transport.aclose()
        [request] = tls_stub.sent
        assert (request.scheme, request.http_version) == ("https", "2")

        # Without the CA, the stub's certificate is not trusted.
        untrusting = ApnsPushTransport.from_settings(Settings(**tls_stub.settings_overrides()))
        try:
            with pytest.raises(ErrorSendingPushNotification, match="Could not connect") as info:
                await untrusting.send(push())
        finally:
            await untrusting.aclose()
        assert isinstance(info.value.__cause__, httpx.ConnectError)
        assert len(tls_stub.requests) == 1


async def test_settings(apns_stub: ApnsStub, tmp_path: Path) -> None:
    key_file = tmp_path / "AuthKey.p8"
    key_file.write_text(apns_stub.key_pem)
    overrides = {**apns_stub.settings_overrides(), "apns_key": str(key_file)}
    overrides["apns_base_url"] = "sandbox"
    transport = ApnsPushTransport.from_settings(Settings(**overrides))
    assert isinstance(transport, PushTransport)
    assert repr(transport).startswith(f"<ApnsPushTransport {APNS_SANDBOX} ")
    await transport.aclose()

    with pytest.raises(SettingsError, match="MFA_APNS_TOPIC"):
        Settings(**{**overrides, "apns_topic": None}).check()
    with pytest.raises(SettingsError, match="MFA_APNS_BASE_URL"):
        Settings(**{**overrides, "apns_base_url": "ftp://x"}).check()
    with pytest.raises(SettingsError, match="MFA_APNS_KEY is neither") as info:
        ApnsPushTransport.from_settings(Settings(**{**overrides, "apns_key": "/nonexistent.p8"}))
    assert info.value.__cause__ is None
    with pytest.raises(SettingsError, match="MFA_APNS_CA_FILE"):
        ApnsPushTransport.from_settings(
            Settings(**{**overrides, "apns_ca_file": str(tmp_path / "missing.pem")})
        )
    env = {"MFA_" + k.upper(): v for k, v in overrides.items()}
    assert Settings.from_env(env).apns_key == str(key_file)
