"""The durable half of events on SQLite and PostgreSQL: idempotent inserts, the
deliveries queued with each event, leases, the cursor order, retention."""

from __future__ import annotations

import asyncio

import pytest

from mfa.events.record import Event, WebhookEndpoint, WebhookSecret
from mfa.events.webhooks import render
from mfa.storage.base import Tenant
from mfa.storage.sql import SqlDurableStore

pytestmark = pytest.mark.anyio

T0 = 1_800_000_000.0


def event(n: int, type: str = "auth.failed", tenant: str = "acme") -> Event:
    return Event(f"evt_{n}", tenant, type, T0 + n, user_id="alice", error_code="invalid_otp")


async def setup(durable: SqlDurableStore) -> None:
    await durable.create_tenant(Tenant("acme", "Acme"))
    hook = WebhookEndpoint(
        "ep_1", "acme", "https://h.test/", ("auth.failed",), (WebhookSecret(b"s"),), T0
    )
    await durable.create_webhook(hook)


async def test_an_event_is_stored_and_queued_once(durable: SqlDurableStore) -> None:
    await setup(durable)
    await durable.insert_events([event(1), event(2, "auth.succeeded")], render, T0)
    # Moved again (a relay died before acknowledging), with a repeat inside the
    # batch too: nothing new, no second delivery.
    await durable.insert_events([event(1), event(2, "auth.succeeded"), event(1)], render, T0)
    found = await durable.list_events("acme")
    assert [e.event_id for e in found] == ["evt_1", "evt_2"]
    (delivery,) = await durable.list_deliveries("acme", "ep_1")
    assert delivery.event_id == "evt_1" and delivery.payload == render(event(1))


async def test_concurrent_moves_of_the_same_events_insert_them_once(
    durable: SqlDurableStore,
) -> None:
    await setup(durable)
    batch = [event(n) for n in range(20)]
    await asyncio.gather(*(durable.insert_events(batch, render, T0) for _ in range(4)))
    assert len(await durable.list_events("acme", limit=500)) == 20
    assert len(await durable.list_deliveries("acme", "ep_1", limit=500)) == 20


async def test_cursor_filters_and_retention(durable: SqlDurableStore) -> None:
    await setup(durable)
    await durable.insert_events([event(3), event(1, "user.locked"), event(2)], render, T0)
    everything = await durable.list_events("acme")
    assert [e.event_id for e in everything] == ["evt_3", "evt_1", "evt_2"]  # arrival order
    after = await durable.list_events("acme", after_seq=everything[0].seq)
    assert [e.event_id for e in after] == ["evt_1", "evt_2"]
    assert [e.event_id for e in await durable.list_events("acme", type="user.locked")] == ["evt_1"]
    assert [e.event_id for e in await durable.list_events("acme", since=T0 + 2)] == [
        "evt_3",
        "evt_2",
    ]
    assert await durable.list_events("other") == []
    assert await durable.prune_events(T0 + 2.5) == 2
    assert [e.event_id for e in await durable.list_events("acme")] == ["evt_3"]


async def test_a_due_delivery_is_leased_to_one_claimer(durable: SqlDurableStore) -> None:
    await setup(durable)
    await durable.insert_events([event(1)], render, T0)
    claims = await asyncio.gather(*(durable.claim_deliveries(T0 + 1, 30, 10) for _ in range(3)))
    assert sorted(len(c) for c in claims) == [0, 0, 1]
    assert await durable.claim_deliveries(T0 + 10, 30, 10) == []  # leased
    (again,) = await durable.claim_deliveries(T0 + 32, 30, 10)  # the claimer died
    assert again[1].url == "https://h.test/"


async def test_a_lockout_end_is_recorded_once_when_due(durable: SqlDurableStore) -> None:
    await durable.create_tenant(Tenant("acme", "Acme"))
    hook = WebhookEndpoint(
        "ep_1", "acme", "https://h.test/", ("user.unlocked",), (WebhookSecret(b"s"),), T0
    )
    await durable.create_webhook(hook)
    locked = Event(
        "evt_9.lock",
        "acme",
        "user.locked",
        T0,
        user_id="alice",
        method="otp",
        data={"locked_until": T0 + 900},
    )
    await durable.insert_events([locked], render, T0)
    await durable.insert_events([locked], render, T0)  # moved twice: one end scheduled
    assert await durable.end_lockouts(T0 + 899, render) == 0
    # Two workers' movers at once: one event, one delivery.
    ended = await asyncio.gather(*(durable.end_lockouts(T0 + 901, render) for _ in range(3)))
    assert sum(ended) >= 1
    (unlocked,) = await durable.list_events("acme", type="user.unlocked")
    assert unlocked.event_id == "evt_9.unlock" and unlocked.time == T0 + 900
    assert unlocked.user_id == "alice" and unlocked.data == {"lock_event_id": "evt_9.lock"}
    (delivery,) = await durable.list_deliveries("acme", "ep_1")
    assert delivery.event_id == "evt_9.unlock"
    assert await durable.end_lockouts(T0 + 5000, render) == 0  # nothing left to end
