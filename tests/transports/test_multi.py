"""MultiPushTransport, and the transport entry points it builds its children from."""

from __future__ import annotations

import json
from importlib.metadata import entry_points

import pytest

from mfa import delivery
from mfa.delivery import PushMessage, PushTransport
from mfa.errors import ErrorSendingPushNotification, PnEndpointDisabled
from mfa.settings import Settings, SettingsError
from tests.stubs import apns_stub as apns_tokens
from tests.stubs import fcm_stub as fcm_tokens
from tests.stubs.apns_stub import ApnsStub
from tests.stubs.fcm_stub import FcmStub
from transports.apns import ApnsPushTransport
from transports.fcm import FcmPushTransport
from transports.multi import ENTRY_POINT_GROUP, MultiPushTransport, load_from_entry_points
from transports.outbox import PushOutbox

pytestmark = pytest.mark.anyio

PAYLOAD = {"dai": "dev_1", "txtkn": "tx", "c": "ch", "sh": "mfa.example.com", "d": "2026"}


def push(service: str, device_token: str) -> PushMessage:
    return PushMessage(
        service=service, device_token=device_token, payload=PAYLOAD, tenant_id="acme"
    )


async def test_one_deployment_serves_iphones_and_android(
    apns_stub: ApnsStub, fcm_stub: FcmStub
) -> None:
    settings = Settings(
        **{
            **apns_stub.settings_overrides(),
            **fcm_stub.settings_overrides(json.dumps(fcm_stub.service_account_info())),
            "push_transport": "multi",
        }
    )
    settings.check()
    transport = load_from_entry_points("multi", settings)
    assert isinstance(transport, MultiPushTransport)
    try:
        await transport.send(push("APNS", apns_tokens.GOOD_TOKEN))
        await transport.send(push("GCM", fcm_tokens.GOOD_TOKEN))
        # Each child's errors come through unchanged.
        with pytest.raises(PnEndpointDisabled):
            await transport.send(push("GCM", fcm_tokens.UNREGISTERED))
    finally:
        await transport.aclose()

    [ios] = apns_stub.sent
    assert (ios.http_version, ios.device_token) == ("2", apns_tokens.GOOD_TOKEN)
    [android] = fcm_stub.sent
    assert android.body["message"]["token"] == fcm_tokens.GOOD_TOKEN


async def test_routes_by_service_and_closes_a_shared_child_once() -> None:
    built: list[str] = []
    children: dict[str, PushOutbox] = {}

    def load(name: str, settings: Settings) -> PushTransport:
        built.append(name)
        children[name] = PushOutbox()
        return children[name]

    settings = Settings(push_transport="multi", push_apns_transport="outbox")
    transport = MultiPushTransport.from_settings(
        settings.replace(push_gcm_transport="outbox"), load=load
    )
    assert built == ["outbox"]
    await transport.send(push("APNS", "ios"))
    await transport.send(push("GCM", "android"))
    assert [m.device_token for m in children["outbox"].messages] == ["ios", "android"]

    with pytest.raises(ErrorSendingPushNotification, match="'WNS'"):
        await transport.send(push("WNS", "windows"))

    await transport.aclose()
    await transport.aclose()
    assert children["outbox"].closed
    with pytest.raises(RuntimeError, match="closed"):
        await transport.send(push("APNS", "ios"))


async def test_each_service_has_its_own_child() -> None:
    children: dict[str, PushOutbox] = {}

    def load(name: str, settings: Settings) -> PushTransport:
        children[name] = PushOutbox()
        return children[name]

    settings = Settings(
        push_transport="multi", push_apns_transport="apns", push_gcm_transport="outbox"
    )
    transport = MultiPushTransport.from_settings(settings, load=load)
    await transport.send(push("APNS", "ios"))
    await transport.send(push("GCM", "android"))
    await transport.aclose()
    assert [m.device_token for m in children["apns"].messages] == ["ios"]
    assert [m.device_token for m in children["outbox"].messages] == ["android"]
    assert children["apns"].closed and children["outbox"].closed


def test_settings_of_multi() -> None:
    with pytest.raises(SettingsError, match="MFA_PUSH_GCM_TRANSPORT cannot be multi"):
        Settings(push_transport="multi", push_gcm_transport="multi").check()
    # The default children are apns and fcm, which need their own settings.
    with pytest.raises(SettingsError, match="MFA_APNS_KEY_ID"):
        Settings(push_transport="multi").check()
    Settings(
        push_transport="multi", push_apns_transport="outbox", push_gcm_transport="console"
    ).check()
    with pytest.raises(SettingsError, match="cannot be multi"):
        MultiPushTransport.from_settings(
            Settings(push_transport="multi", push_apns_transport="multi")
        )
    with pytest.raises(SettingsError, match="no push transport named 'carrier-pigeon'"):
        MultiPushTransport.from_settings(
            Settings(push_apns_transport="carrier-pigeon", push_gcm_transport="outbox")
        )


def test_entry_points_name_every_transport() -> None:
    push_eps = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert set(push_eps) == {"console", "outbox", "webhook", "apns", "fcm", "multi"}
    assert push_eps["apns"].load() is ApnsPushTransport
    assert push_eps["fcm"].load() is FcmPushTransport
    assert push_eps["multi"].load() is MultiPushTransport
    # The fallback table for an uninstalled source tree says the same.
    assert {n: ep.value for n, ep in push_eps.items()} == delivery._BUNDLED[delivery.PUSH_GROUP]
    sms_eps = {ep.name: ep.value for ep in entry_points(group="mfa.sms_transports")}
    assert sms_eps == delivery._BUNDLED[delivery.SMS_GROUP]
    for ep in [*push_eps.values(), *entry_points(group="mfa.sms_transports")]:
        assert callable(ep.load().from_settings)
