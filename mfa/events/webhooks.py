"""Tenant webhooks: Standard Webhooks signing and the background deliverer.

Every event a tenant's endpoint subscribes to becomes a row of the delivery
outbox (queued with the event, in the same transaction: see
:meth:`mfa.storage.sql_events.SqlEvents.insert_events`). The deliverer, one per
worker, claims due rows (a lease: of several workers one sends each row), POSTs
the stored body, and records the result:

- a 2xx answer: delivered;
- anything else (an error status, a timeout, a refused connection): tried again
  after an exponential backoff (``base * 2**(attempt-1)``, capped), until the
  retry window (a day by default) has passed since the delivery was queued;
  then it is marked failed, and can be queued again through the API.

Signing follows the Standard Webhooks specification: the headers
``webhook-id`` (the delivery's id, the same on every attempt, so receivers can
drop duplicates), ``webhook-timestamp`` (this attempt, epoch seconds) and
``webhook-signature`` (``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``
under the base64-decoded part of the ``whsec_`` secret). After a rotation the
old secret signs too, beside the new one, until it expires, so a receiver can
switch over without losing a delivery.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from mfa.events.record import Event, WebhookDelivery, WebhookEndpoint, iso, public
from mfa.periodic import Periodic
from mfa.sealing import Sealer
from mfa.storage.protocols import DurableStore

log = logging.getLogger("mfa.events.webhooks")

SECRET_PREFIX = "whsec_"
SEAL_PURPOSE = "webhook"


def new_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes (the spec allows 24 to 64)."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(32)).decode()


def signature(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The ``v1,…`` signature of one message under one ``whsec_`` secret."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def render(event: Event) -> str:
    """The webhook body of an event (the Standard Webhooks envelope: type,
    timestamp, data). Stored once per delivery and sent byte for byte."""
    envelope = {"type": event.type, "timestamp": iso(event.time), "data": public(event)}
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_seconds: float = 30.0
    cap_seconds: float = 4 * 3600.0
    window_seconds: float = 86400.0  # retried at least this long after being queued

    def delay(self, attempts: int) -> float:
        """Seconds before the next try, after ``attempts`` failed ones."""
        return float(min(self.base_seconds * 2 ** min(attempts - 1, 60), self.cap_seconds))


@dataclass(frozen=True, slots=True)
class AttemptResult:
    ok: bool
    status_code: int | None
    error: str | None


class WebhookDeliverer(Periodic):
    """Claims due deliveries and sends them, at most ``concurrency`` at a time.

    ``clock`` schedules retries (tests inject a frozen one and move it);
    ``wall`` stamps ``webhook-timestamp``, which receivers check against their
    own clocks, so it is always real time.
    """

    def __init__(
        self,
        durable: DurableStore,
        sealer: Sealer,
        clock: Callable[[], float],
        *,
        policy: RetryPolicy,
        concurrency: int = 8,
        timeout: float = 10.0,
        interval: float = 1.0,
        wall: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._durable = durable
        self._sealer = sealer
        self._clock = clock
        self.policy = policy
        self._concurrency = concurrency
        self._timeout = timeout
        super().__init__(interval, log, "deliver webhooks")
        self._wall = wall
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        # Leased long enough for one attempt and its bookkeeping.
        self._lease = timeout * 3 + 5

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self._timeout,
                follow_redirects=False,  # a redirect is an answer, not a delivery
                transport=self._transport,
                headers={"user-agent": "mfa-webhooks/1"},
            )
        return self._client

    def secrets(self, endpoint: WebhookEndpoint) -> list[str]:
        """The endpoint's signing secrets still in force, newest first."""
        now = self._clock()
        return [
            self._sealer.unseal(endpoint.tenant_id, endpoint.endpoint_id, SEAL_PURPOSE, s.sealed)
            for s in endpoint.secrets
            if s.expires_at is None or s.expires_at > now
        ]

    def headers(self, delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> dict[str, str]:
        stamp = int(self._wall())
        signatures = " ".join(
            signature(s, delivery.delivery_id, stamp, delivery.payload)
            for s in self.secrets(endpoint)
        )
        return {
            "content-type": "application/json",
            "webhook-id": delivery.delivery_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": signatures,
        }

    async def send(self, delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> AttemptResult:
        """One POST; never raises for what the receiver or the network does."""
        try:
            response = await self._http().post(
                endpoint.url,
                content=delivery.payload.encode(),
                headers=self.headers(delivery, endpoint),
            )
        except httpx.HTTPError as exc:
            return AttemptResult(False, None, f"{type(exc).__name__}: {exc}"[:300])
        if 200 <= response.status_code < 300:
            return AttemptResult(True, response.status_code, None)
        return AttemptResult(False, response.status_code, f"HTTP {response.status_code}")

    async def attempt(self, delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> AttemptResult:
        """Send once and record the result (delivered, retry later, or failed)."""
        result = await self.send(delivery, endpoint)
        now = self._clock()
        attempts = delivery.attempts + 1
        if result.ok:
            status, next_at, done = "delivered", now, now
        elif now - delivery.created_at >= self.policy.window_seconds:
            status, next_at, done = "failed", now, None
        else:
            status, next_at, done = "pending", now + self.policy.delay(attempts), None
        await self._durable.record_delivery_attempt(
            delivery.delivery_id,
            status=status,
            attempts=attempts,
            next_attempt_at=next_at,
            last_error=result.error,
            last_status_code=result.status_code,
            delivered_at=done,
        )
        return result

    async def run_once(self) -> int:
        """Send every delivery due now (in batches); how many were tried."""
        tried = 0
        gate = asyncio.Semaphore(self._concurrency)

        async def one(delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> None:
            async with gate:
                await self.attempt(delivery, endpoint)

        while True:
            due = await self._durable.claim_deliveries(
                self._clock(), self._lease, self._concurrency * 4
            )
            if not due:
                return tried
            tried += len(due)
            await asyncio.gather(*(one(d, e) for d, e in due))

    async def tick(self) -> None:
        await self.run_once()

    async def on_stop(self) -> None:
        # No last round: a delivery due now waits in the database for the next
        # worker, rather than holding this one's shutdown for a receiver's timeout.
        if self._client is not None:
            await self._client.aclose()
            self._client = None
