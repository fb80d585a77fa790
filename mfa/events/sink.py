"""Where the flows and backend operations hand their events.

Three ways an event travels, by where its decision is made:

- **In a Lua script** (a code checked, a lockout begun, a send refused by a
  quota): the flow passes an :class:`~mfa.storage.base.AttemptEvent` to
  ``record_attempt``, or a :class:`~mfa.storage.base.QuotaEvent` to
  ``consume_quota``, and the script appends the event to the tenant's stream in
  the call that decides. No extra round trip, and no decision without its event.
- **In Python, with no durable write** (an enrollment transaction started, a
  push rejected): :meth:`EventSink.emit` appends it to the stream (one ``XADD``)
  before the answer goes out.
- **With a durable write** (an API key created, an enrollment deleted, settings
  changed): :meth:`EventSink.record` writes it to the audit table right after
  that write and before the answer. What this gives up: a process that dies
  between the two statements loses the event of an action whose caller got no
  answer (a connection error), never one that was answered.

On the Redis store, :mod:`mfa.events.relay` moves the stream to the durable
store. On the in-process store there is no worker to survive, and
:meth:`EventSink.settle` moves the request's events to the durable store before
the answer ("written directly").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from mfa.events.record import Event, EventType, new_event_id, request_meta
from mfa.names import TxKind
from mfa.storage.base import AttemptEvent, BackendUnavailable, QuotaEvent, Transaction
from mfa.storage.protocols import DurableStore, EphemeralStore

log = logging.getLogger("mfa.events")

MOVE_BATCH = 500


class EventSink:
    def __init__(
        self,
        durable: DurableStore,
        ephemeral: EphemeralStore,
        clock: Callable[[], float],
        render: Callable[[Event], str],
    ) -> None:
        self._durable = durable
        self._ephemeral = ephemeral
        self._clock = clock
        self._render = render
        self.direct = bool(getattr(ephemeral, "in_process", False))

    # ------------------------------------------------------------------ making

    def make(self, tenant_id: str, type: EventType, **fields: Any) -> Event:
        """An event stamped with the time and the current request's metadata."""
        meta = request_meta()
        return Event(
            event_id=new_event_id(),
            tenant_id=tenant_id,
            type=type.value,
            time=self._clock(),
            request_id=meta.request_id,
            client_ip=meta.client_ip,
            user_agent=meta.user_agent,
            actor=meta.actor,
            **fields,
        )

    def attempt(self, tx: Transaction, method: str, failure_code: str) -> AttemptEvent:
        """The event ``record_attempt`` writes with its decision on ``tx``."""
        meta = request_meta()
        # A phone enrolled on this transaction already (push): an answer is a login.
        enroll = tx.kind == TxKind.ENROLL.value and not tx.data.get("enrolled")
        fields = {
            "user_id": tx.user_id,
            "enrollment_id": str(tx.data.get("enrollment_id") or ""),
            "method": method,
            "request_id": meta.request_id or "",
            "client_ip": meta.client_ip or "",
            "user_agent": meta.user_agent or "",
            "actor": meta.actor or "",
        }
        return AttemptEvent(
            event_id=new_event_id(),
            time=self._clock(),
            success_type=(
                EventType.ENROLLMENT_CONFIRMED if enroll else EventType.AUTH_SUCCEEDED
            ).value,
            failure_type=(EventType.ENROLLMENT_FAILED if enroll else EventType.AUTH_FAILED).value,
            failure_code=failure_code,
            fields={k: v for k, v in fields.items() if v},
        )

    def refusal(self, tx: Transaction, method: str, user_code: str, tenant_code: str) -> QuotaEvent:
        """The event ``consume_quota`` writes if a quota refuses a send for ``tx``'s
        user; its error code names which quota (``user_code`` or ``tenant_code``)."""
        fields = self.make(
            tx.tenant_id,
            EventType.QUOTA_REFUSED,
            user_id=tx.user_id,
            enrollment_id=tx.data.get("enrollment_id"),
            method=method,
            outcome="refused",
        ).wire()
        del fields["error_code"]  # the script sets it, by the quota that refuses
        return QuotaEvent(user_code=user_code, tenant_code=tenant_code, fields=fields)

    # ------------------------------------------------------------------ writing

    async def emit(self, event: Event) -> None:
        """An event decided in Python: onto the tenant's stream, before the answer."""
        await self._ephemeral.append_event(event.tenant_id, event.wire())
        await self.settle(event.tenant_id)

    async def record(self, event: Event) -> None:
        """An event of a durable write: straight into the audit table."""
        await self._durable.insert_events([event], self._render, self._clock())

    async def settle(self, tenant_id: str) -> None:
        """In-process store: move the tenant's events to the durable store now. A
        database that is down leaves them for the relay, without failing a request
        whose decision is made."""
        if not self.direct:
            return
        try:
            await self.move(tenant_id, "in-process")
        except BackendUnavailable:
            log.warning("could not store events of tenant %r yet; will retry", tenant_id)

    async def move(self, tenant_id: str, consumer: str, count: int = MOVE_BATCH) -> int:
        """Move up to ``count`` entries of the tenant's stream to the durable store:
        read, insert (idempotent by event id), then acknowledge. A crash between
        the insert and the acknowledgement makes a second insert, which is a no-op."""
        entries = await self._ephemeral.read_events(tenant_id, consumer, count)
        if not entries:
            return 0
        batch: list[Event] = []
        for entry_id, fields in entries:
            try:
                batch.append(Event.from_wire(tenant_id, fields))
            except (KeyError, ValueError):
                log.error("dropping a malformed event entry %s of tenant %r", entry_id, tenant_id)
        await self._durable.insert_events(batch, self._render, self._clock())
        await self._ephemeral.ack_events(tenant_id, [entry_id for entry_id, _ in entries])
        return len(entries)

    async def end_lockouts(self) -> int:
        """Record the end of the lockouts that have run out (``user.unlocked``). A
        lockout ends by time, with no request to notice, so the relay asks each round."""
        return await self._durable.end_lockouts(self._clock(), self._render)
