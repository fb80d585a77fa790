"""Sandbox tenants: every code an integrator can meet, on demand, and no message out.

A tenant created with ``sandbox: true`` runs the same flows as any other; only
its delivery is swapped (:meth:`mfa.context.Context.sms_for` and
:meth:`~mfa.context.Context.push_for`) for the transports below, which

- never reach the configured SMS or push provider: every message lands in the
  **sandbox outbox**, kept in the ephemeral store (so every worker sees it) and
  read through ``GET /api/tenants/{tid}/sandbox/messages?to=<recipient>``: an
  integrator's test reads the SMS code or the push payload there;
- answer the **magic inputs** of :data:`MAGIC_PHONE_NUMBERS` and
  :data:`MAGIC_PUSH_TOKENS` with the error they name, as a real provider would.

One rule lives in the code check rather than in delivery: in a sandbox tenant a
code of all ``0`` always passes and a code of all ``9`` always fails
(:func:`fixed_code`). A tenant that is not a sandbox never sees any of this.

The outbox keeps the last :data:`KEEP_PER_RECIPIENT` messages of each recipient
for :data:`MESSAGE_TTL_SECONDS`, in one entry per recipient written read-modify-
write: two sends to one recipient in the same instant may keep only one of the
two. Good enough for tests; not a delivery log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mfa.delivery import PushMessage, SmsMessage
from mfa.errors import ERROR_CLASSES
from mfa.storage.base import Tenant
from mfa.storage.protocols import EphemeralStore

# Fictional numbers (555-01xx is reserved for fiction), valid E.164 mobiles for
# libphonenumber, so each passes the input check and fails at the "provider".
MAGIC_PHONE_NUMBERS: dict[str, str] = {
    "+14155550101": "invalid_phone_number",
    "+14155550102": "error_sending_sms",
    "+14155550103": "service_unavailable",
    "+14155550104": "internal_error",
}
# Push tokens a phone can register (enroll or PATCH) to have the next push refused.
MAGIC_PUSH_TOKENS: dict[str, str] = {
    "sandbox-pn-endpoint-disabled": "pn_endpoint_disabled",
    "sandbox-push-wrong-credentials": "push_notification_wrong_credentials",
    "sandbox-error-sending-push": "error_sending_push_notification",
}
PASSING_DIGIT = "0"
FAILING_DIGIT = "9"
KEEP_PER_RECIPIENT = 20
MESSAGE_TTL_SECONDS = 3600


def fixed_code(tenant: Tenant, code: str) -> bool | None:
    """True for a code that always passes, False for one that always fails, None
    otherwise — and always None outside a sandbox tenant."""
    if not tenant.sandbox or not code:
        return None
    if code == PASSING_DIGIT * len(code):
        return True
    if code == FAILING_DIGIT * len(code):
        return False
    return None


def _raise_magic(table: dict[str, str], key: str) -> None:
    code = table.get(key)
    if code is not None:
        raise ERROR_CLASSES[code](f"Sandbox: {key} always answers {code}.")


def _entry_id(tenant_id: str, recipient: str) -> str:
    # The tenant after the dot keeps the entry in the tenant's slot (Redis Cluster).
    digest = hashlib.sha256(recipient.encode()).hexdigest()[:32]
    return f"sbx_{digest}.{tenant_id}"


class SandboxOutbox:
    """Where sandbox tenants' messages go, per tenant and recipient."""

    def __init__(self, store: EphemeralStore, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock

    async def put(self, tenant_id: str, recipient: str, message: dict[str, Any]) -> None:
        entry = _entry_id(tenant_id, recipient)
        held = await self._store.peek_ticket(entry) or {}
        sent_at = datetime.fromtimestamp(self._clock(), UTC).isoformat().replace("+00:00", "Z")
        messages = [*held.get("messages", []), {**message, "to": recipient, "sent_at": sent_at}]
        value = {"messages": messages[-KEEP_PER_RECIPIENT:]}
        await self._store.put_ticket(entry, value, MESSAGE_TTL_SECONDS)

    async def read(self, tenant_id: str, recipient: str) -> list[dict[str, Any]]:
        """The recipient's messages, oldest first."""
        held = await self._store.peek_ticket(_entry_id(tenant_id, recipient)) or {}
        return list(held.get("messages", []))


class SandboxSmsTransport:
    def __init__(self, outbox: SandboxOutbox) -> None:
        self._outbox = outbox

    async def send(self, message: SmsMessage) -> None:
        _raise_magic(MAGIC_PHONE_NUMBERS, message.to)
        record = {"channel": "sms", "body": message.body, "code": message.code}
        await self._outbox.put(message.tenant_id, message.to, record)

    async def aclose(self) -> None:
        return None


class SandboxPushTransport:
    def __init__(self, outbox: SandboxOutbox) -> None:
        self._outbox = outbox

    async def send(self, message: PushMessage) -> None:
        _raise_magic(MAGIC_PUSH_TOKENS, message.device_token)
        record = {"channel": "push", "service": message.service, "payload": message.payload}
        await self._outbox.put(message.tenant_id, message.device_token, record)

    async def aclose(self) -> None:
        return None
