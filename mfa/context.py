"""The context every part of the service receives: what it may use, built once.

:class:`Context` is a plain record of the service's collaborators (settings,
clock, keys and token codec, stores, transports, the tenant cache, sealing, the
recovery-code hasher) plus the few rules that several parts share. The
transaction engine (:mod:`mfa.flows`) and the backend operations
(:mod:`mfa.admin`) take one and nothing else, so neither knows how the service
is assembled; only :mod:`mfa.service`, the composition root, builds it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mfa.activity import EnrollmentActivity
from mfa.delivery import PushTransport, SmsTransport
from mfa.errors import FeatureDisabled
from mfa.events.sink import EventSink
from mfa.factors.recovery import RecoveryHasher
from mfa.keys import KeyMaterial
from mfa.metrics import MeteredPush, MeteredSms, Metrics
from mfa.names import TxKind
from mfa.sandbox import SandboxOutbox, SandboxPushTransport, SandboxSmsTransport
from mfa.sealing import Sealer
from mfa.settings import Settings
from mfa.storage.base import AttemptLimits, Tenant
from mfa.storage.protocols import DurableStore, EphemeralStore
from mfa.tenants import TenantCache
from mfa.tokens import TokenCodec
from mfa.totp_steps import TotpStepLog


@dataclass(eq=False)
class Context:
    settings: Settings
    clock: Callable[[], float]
    keys: KeyMaterial
    codec: TokenCodec
    durable: DurableStore
    ephemeral: EphemeralStore
    sms: SmsTransport
    push: PushTransport
    hasher: RecoveryHasher
    tenants: TenantCache
    sealer: Sealer
    totp_steps: TotpStepLog
    events: EventSink  # mfa.events: where flows and operations hand their events
    limits: AttemptLimits = field(init=False)
    sandbox_outbox: SandboxOutbox = field(init=False)
    activity: EnrollmentActivity = field(init=False)
    metrics: Metrics = field(init=False)
    _sms_metered: SmsTransport = field(init=False, repr=False)
    _push_metered: PushTransport = field(init=False, repr=False)
    _sandbox_sms: SmsTransport = field(init=False, repr=False)
    _sandbox_push: PushTransport = field(init=False, repr=False)
    _sms_secret: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.limits = AttemptLimits(
            per_transaction=s.otp_attempts_per_transaction,
            per_user=s.user_failed_attempts_limit,
            lockout_seconds=s.user_lockout_seconds,
        )
        self._sms_secret = hmac.new(
            self.keys.signing.newest.hmac_secret, b"sms codes", hashlib.sha256
        ).digest()
        self.sandbox_outbox = SandboxOutbox(self.ephemeral, self.clock)
        self.activity = EnrollmentActivity(self.durable, self.clock, steps=self.totp_steps)
        # Deliveries are counted by transport name (mfa.metrics).
        self.metrics = Metrics()
        self._sms_metered = MeteredSms(self.sms, s.sms_transport, self.metrics)
        self._push_metered = MeteredPush(self.push, s.push_transport, self.metrics)
        outbox = self.sandbox_outbox
        self._sandbox_sms = MeteredSms(SandboxSmsTransport(outbox), "sandbox", self.metrics)
        self._sandbox_push = MeteredPush(SandboxPushTransport(outbox), "sandbox", self.metrics)

    # ------------------------------------------------------------------ delivery

    def sms_for(self, tenant: Tenant) -> SmsTransport:
        """The tenant's SMS transport: the sandbox's for a sandbox tenant, which
        never reaches the configured provider (mfa.sandbox)."""
        return self._sandbox_sms if tenant.sandbox else self._sms_metered

    def push_for(self, tenant: Tenant) -> PushTransport:
        """The tenant's push transport, as :meth:`sms_for`."""
        return self._sandbox_push if tenant.sandbox else self._push_metered

    # ------------------------------------------------------------------ factors

    def factor_available(self, tenant: Tenant, factor: str) -> bool:
        """Switched on by the tenant admin and not switched off by the operator."""
        return tenant.factors.get(factor, False) and factor not in self.settings.disabled_factors

    def require_global(self, factor: str) -> None:
        if factor in self.settings.disabled_factors:
            raise FeatureDisabled(method=factor)

    # ------------------------------------------------------------------ secrets

    def sms_code_hash(self, txid: str, code: str) -> str:
        """Keyed hash binding an SMS code to its transaction (the code never rests)."""
        return hmac.new(self._sms_secret, f"{txid}:{code}".encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def new_id(prefix: str, nbytes: int = 12, *, tenant_id: str | None = None) -> str:
        """A random id; with ``tenant_id``, the tenant rides after a dot. One-time
        tickets are named by such ids, and the Redis store keeps a ticket in its
        tenant's slot (``ticket_shard``): on a cluster, a node that is down then
        stops only its own tenants' logins."""
        rand = secrets.token_urlsafe(nbytes)
        return f"{prefix}_{rand}" if tenant_id is None else f"{prefix}_{rand}.{tenant_id}"

    # ------------------------------------------------------------------ results

    def sign_result(self, tenant_id: str, user_id: str, txid: str, method: str) -> str:
        """The result signature a host verifies (ES256, against the JWKS)."""
        claims: dict[str, Any] = {
            "sub": user_id,
            "tid": tenant_id,
            "txid": txid,
            "amr": ["mfa", method],
            "auth0_guardian_method": method,
            "auth0_guardian_accepted": True,
        }
        return self.codec.issue("sig", claims, self.settings.transaction_ttl_seconds)

    def tx_token(self, tenant_id: str, user_id: str, txid: str, kind: TxKind) -> str:
        claims = {"tid": tenant_id, "sub": user_id, "txid": txid, "k": kind.value}
        return self.codec.issue("tx", claims, self.settings.transaction_ttl_seconds)
