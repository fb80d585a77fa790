"""The service object: configuration, keys, stores and transports, wired once.

:class:`MFAService` is the in-process API. The HTTP app is a thin layer over it and
a host that mounts the app in its own process can call the same operations
directly (``service.admin`` for the backend API, ``service.flows`` for
transactions), with the same exceptions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from mfa.admin import Admin
from mfa.context import Context
from mfa.delivery import PushTransport, SmsTransport, load_push_transport, load_sms_transport
from mfa.events.admin import EventsAdmin
from mfa.events.relay import EventRelay
from mfa.events.sink import EventSink
from mfa.events.webhooks import RetryPolicy, WebhookDeliverer, render
from mfa.factors.recovery import RecoveryHasher
from mfa.flows import Flows
from mfa.keys import KeyMaterial, load_keys
from mfa.principals import Authenticator
from mfa.results import VerifiedResult, check_result
from mfa.sealing import Sealer
from mfa.settings import Settings
from mfa.storage import durable_store_from_settings, ephemeral_store_from_settings
from mfa.storage.memory import MemoryEphemeralStore
from mfa.storage.protocols import DurableStore, EphemeralStore
from mfa.tenants import TenantCache
from mfa.tokens import TokenCodec
from mfa.totp_steps import TotpStepLog

log = logging.getLogger("mfa")


class MFAService:
    """The composition root: builds the :class:`~mfa.context.Context` from settings
    (or from the collaborators passed in) and hands it to each part."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        durable: DurableStore | None = None,
        ephemeral: EphemeralStore | None = None,
        sms: SmsTransport | None = None,
        push: PushTransport | None = None,
        clock: Callable[[], float] = time.time,
        keys: KeyMaterial | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        keys = keys or load_keys(self.settings)
        # "is None", not "or": an empty Outbox is falsy (it has __len__) and a
        # transport passed in must never be swapped for the configured one.
        if durable is None:
            durable = durable_store_from_settings(self.settings)
        if ephemeral is None:
            ephemeral = ephemeral_store_from_settings(self.settings, clock=clock)
        if sms is None:
            sms = load_sms_transport(self.settings)
        if push is None:
            push = load_push_transport(self.settings)
        sealer = Sealer(keys.encryption)
        self.ctx = Context(
            settings=self.settings,
            clock=clock,
            keys=keys,
            codec=TokenCodec(keys.signing, clock=clock),
            durable=durable,
            ephemeral=ephemeral,
            sms=sms,
            push=push,
            hasher=RecoveryHasher(self.settings.argon2_profile),
            tenants=TenantCache(durable),
            sealer=sealer,
            totp_steps=TotpStepLog(),
            events=EventSink(durable, ephemeral, clock, render),
        )
        # Events (mfa.events): the mover to the audit table and the webhook sender,
        # both background tasks of open()/close().
        s = self.settings
        self.relay = EventRelay(
            self.ctx.events, durable, clock, retention_days=s.events_retention_days
        )
        self.deliverer = WebhookDeliverer(
            durable,
            sealer,
            clock,
            policy=RetryPolicy(
                base_seconds=s.webhook_retry_base_seconds,
                cap_seconds=s.webhook_retry_cap_seconds,
                window_seconds=s.webhook_retry_window_seconds,
            ),
            timeout=s.webhook_timeout_seconds,
        )
        self.events = EventsAdmin(self.ctx, self.deliverer)
        self.admin_key = self.settings.admin_key or keys.admin_key
        self.authenticator = Authenticator(durable, self.admin_key)
        self.admin = Admin(self.ctx)
        self.flows = Flows(self.ctx)
        self._open = False
        self._open_lock = asyncio.Lock()

    # The collaborators, for hosts and tests that reach for them.
    @property
    def clock(self) -> Callable[[], float]:
        return self.ctx.clock

    @property
    def keys(self) -> KeyMaterial:
        return self.ctx.keys

    @property
    def codec(self) -> TokenCodec:
        return self.ctx.codec

    @property
    def durable(self) -> DurableStore:
        return self.ctx.durable

    @property
    def ephemeral(self) -> EphemeralStore:
        return self.ctx.ephemeral

    @property
    def sms(self) -> SmsTransport:
        return self.ctx.sms

    @property
    def push(self) -> PushTransport:
        return self.ctx.push

    @property
    def hasher(self) -> RecoveryHasher:
        return self.ctx.hasher

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        async with self._open_lock:
            if self._open:
                return
            await self.durable.open()
            await self.ephemeral.open()
            self.relay.start()
            self.deliverer.start()
            self.ctx.activity.start()
            self._open = True
            if isinstance(self.ephemeral, MemoryEphemeralStore):
                log.warning(
                    "mfa keeps transactions and quotas in process: ONE process only. Set "
                    "MFA_REDIS_URL (and a shared MFA_DATABASE_URL) to run several workers."
                )

    async def ensure_open(self) -> None:
        if not self._open:
            await self.open()

    async def close(self) -> None:
        async with self._open_lock:
            if not self._open:
                return
            self._open = False
            for closer in (
                self.relay.stop,
                self.deliverer.stop,
                self.ctx.activity.stop,
                self.sms.aclose,
                self.push.aclose,
                self.ephemeral.close,
                self.durable.close,
            ):
                try:
                    await closer()
                except Exception:  # close everything even if one fails
                    log.exception("error while closing %r", closer)

    async def __aenter__(self) -> MFAService:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ results

    def sign_result(self, tenant_id: str, user_id: str, txid: str, method: str) -> str:
        return self.ctx.sign_result(tenant_id, user_id, txid, method)

    def verify_result(
        self,
        token: str,
        *,
        user_id: str | None = None,
        tenant_id: str | None = None,
        txid: str | None = None,
    ) -> VerifiedResult:
        """Check a result signature in one call: signature, kind, expiry, and that it
        names the expected user, tenant and transaction. Returns or raises
        (``invalid_token`` / ``transaction_expired``), never returns False."""
        claims = self.codec.decode(token, "sig")
        return check_result(
            claims,
            now=self.clock(),
            user_id=user_id,
            tenant_id=tenant_id,
            txid=txid,
            issuer=self.codec.issuer,
        )
