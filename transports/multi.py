"""One push transport per device service, so one deployment serves iPhones and Android.

Configuration (see ``contract/API.md``)::

    MFA_PUSH_TRANSPORT=multi
    MFA_PUSH_APNS_TRANSPORT=apns   # for devices that enrolled with service "APNS"
    MFA_PUSH_GCM_TRANSPORT=fcm     # for "GCM" (Android, FCM)

plus each child's own settings. A child is any transport of the
``mfa.push_transports`` entry-point group except ``multi`` itself (``webhook``,
``outbox``, a third party's), so the same lookup that picks ``MFA_PUSH_TRANSPORT``
picks the children. A name used for both services is built once and shared.
Errors come from the children unchanged; a service with no route gives
``error_sending_push_notification``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Final

from mfa.delivery import PushMessage, PushTransport
from mfa.errors import ErrorSendingPushNotification
from mfa.settings import Settings, SettingsError

__all__ = ["ENTRY_POINT_GROUP", "MultiPushTransport", "load_from_entry_points"]

ENTRY_POINT_GROUP: Final = "mfa.push_transports"

Loader = Callable[[str, Settings], PushTransport]


def load_from_entry_points(name: str, settings: Settings) -> PushTransport:
    """Build the push transport registered as ``name`` in :data:`ENTRY_POINT_GROUP`."""
    found = entry_points(group=ENTRY_POINT_GROUP, name=name)
    if not found:
        known = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
        raise SettingsError(f"no push transport named {name!r}; known: {', '.join(known)}")
    cls = next(iter(found)).load()
    transport: PushTransport = cls.from_settings(settings)
    return transport


class MultiPushTransport:
    """Sends each message through the transport of its device's service."""

    def __init__(self, routes: Mapping[str, PushTransport]) -> None:
        self._routes = dict(routes)
        self._closed = False

    @classmethod
    def from_settings(
        cls, settings: Settings, *, load: Loader = load_from_entry_points
    ) -> MultiPushTransport:
        """Build the children; ``load`` replaces the entry-point lookup (the app's registry)."""
        names = {"APNS": settings.push_apns_transport, "GCM": settings.push_gcm_transport}
        if "multi" in names.values():
            raise SettingsError("a child of the multi push transport cannot be multi")
        # If the second child fails, the first is dropped unclosed: no transport
        # opens a connection before its first send, so nothing leaks.
        built = {name: load(name, settings) for name in dict.fromkeys(names.values())}
        return cls({service: built[name] for service, name in names.items()})

    async def send(self, message: PushMessage) -> None:
        if self._closed:
            raise RuntimeError("the multi push transport is closed")
        transport = self._routes.get(message.service)
        if transport is None:
            raise ErrorSendingPushNotification(
                f"No push transport for devices of service {message.service!r}."
            )
        await transport.send(message)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        # A transport shared by both services is closed once.
        unique = {id(t): t for t in self._routes.values()}
        for transport in unique.values():
            await transport.aclose()

    def __repr__(self) -> str:
        routes = ", ".join(f"{s}={t!r}" for s, t in self._routes.items())
        return f"<MultiPushTransport {routes}>"
