"""The service object: configuration, keys, stores and transports, wired once.

:class:`MFAService` is the in-process API. The HTTP app is a thin layer over it and
a host that mounts the app in its own process can call the same operations
directly (``service.admin`` for the backend API, ``service.flows`` for
transactions), with the same exceptions.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from mfa.delivery import PushTransport, SmsTransport, load_push_transport, load_sms_transport
from mfa.errors import FeatureDisabled, TenantNotFound
from mfa.factors.recovery import RecoveryHasher
from mfa.keys import KeyMaterial, load_keys
from mfa.results import VerifiedResult, check_result
from mfa.settings import Settings
from mfa.storage import durable_store_from_settings, ephemeral_store_from_settings
from mfa.storage.base import DurableStore, EphemeralStore, Tenant
from mfa.storage.memory import MemoryEphemeralStore
from mfa.tokens import TokenCodec

log = logging.getLogger("mfa")

# How long a tenant's settings are reused before being read again. Writes through
# this process invalidate at once; other workers see a toggle within this delay.
TENANT_CACHE_SECONDS = 1.0


class MFAService:
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
        self.clock = clock
        self.keys = keys or load_keys(self.settings)
        self.codec = TokenCodec(self.keys.signing, clock=clock)
        self.durable = durable or durable_store_from_settings(self.settings)
        self.ephemeral = ephemeral or ephemeral_store_from_settings(self.settings, clock=clock)
        self.sms = sms or load_sms_transport(self.settings)
        self.push = push or load_push_transport(self.settings)
        self.hasher = RecoveryHasher(self.settings.argon2_profile)
        self.admin_key = self.settings.admin_key or self.keys.admin_key
        self._sms_secret = hmac.new(
            self.keys.signing.newest.hmac_secret, b"sms codes", hashlib.sha256
        ).digest()
        self._tenants: dict[str, tuple[float, Tenant]] = {}
        self._tenant_loads: dict[str, asyncio.Future[Tenant]] = {}
        self._open = False
        self._open_lock = asyncio.Lock()

        # Imported here: both modules use this one, and they are the service's halves.
        from mfa.admin import Admin
        from mfa.flows import Flows

        self.admin = Admin(self)
        self.flows = Flows(self)

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        async with self._open_lock:
            if self._open:
                return
            await self.durable.open()
            await self.ephemeral.open()
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

    # ------------------------------------------------------------------ tenants

    async def tenant(self, tenant_id: str) -> Tenant:
        """The tenant's settings, read at most once a second per process.

        One read is in flight per tenant at a time: when the entry expires under
        load, requests that find a stale entry keep using it while one refresh
        runs, instead of all of them reading the database at once.
        """
        cached = self._tenants.get(tenant_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        loading = self._tenant_loads.get(tenant_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load_tenant(tenant_id))
            self._tenant_loads[tenant_id] = loading
            loading.add_done_callback(lambda f: self._loaded(tenant_id, f))
        elif cached is not None:
            return cached[1]
        return await asyncio.shield(loading)

    async def _load_tenant(self, tenant_id: str) -> Tenant:
        tenant = await self.durable.get_tenant(tenant_id)
        if tenant is None:
            self._tenants.pop(tenant_id, None)
            raise TenantNotFound()
        self._tenants[tenant_id] = (time.monotonic() + TENANT_CACHE_SECONDS, tenant)
        return tenant

    def _loaded(self, tenant_id: str, future: asyncio.Future[Tenant]) -> None:
        if self._tenant_loads.get(tenant_id) is future:
            del self._tenant_loads[tenant_id]
        if not future.cancelled():
            future.exception()  # retrieved here, so a failure nobody awaited is not logged

    def forget_tenant(self, tenant_id: str) -> None:
        self._tenants.pop(tenant_id, None)
        self._tenant_loads.pop(tenant_id, None)

    def factor_available(self, tenant: Tenant, factor: str) -> bool:
        """Switched on by the tenant admin and not switched off by the operator."""
        return tenant.factors.get(factor, False) and factor not in self.settings.disabled_factors

    def require_global(self, factor: str) -> None:
        if factor in self.settings.disabled_factors:
            raise FeatureDisabled(method=factor)

    # ------------------------------------------------------------------ secrets

    @staticmethod
    def _aad(tenant_id: str, enrollment_id: str, purpose: str) -> bytes:
        return f"{tenant_id}/{enrollment_id}/{purpose}".encode()

    def seal(self, tenant_id: str, enrollment_id: str, purpose: str, plaintext: str) -> bytes:
        aad = self._aad(tenant_id, enrollment_id, purpose)
        return self.keys.encryption.encrypt(plaintext.encode(), aad)

    def unseal(self, tenant_id: str, enrollment_id: str, purpose: str, blob: bytes) -> str:
        aad = self._aad(tenant_id, enrollment_id, purpose)
        return self.keys.encryption.decrypt(blob, aad).decode()

    @staticmethod
    def b64(blob: bytes) -> str:
        return base64.b64encode(blob).decode()

    @staticmethod
    def unb64(text: str) -> bytes:
        return base64.b64decode(text)

    def sms_code_hash(self, txid: str, code: str) -> str:
        """Keyed hash binding an SMS code to its transaction (the code never rests)."""
        return hmac.new(self._sms_secret, f"{txid}:{code}".encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def new_id(prefix: str, nbytes: int = 12) -> str:
        return f"{prefix}_{secrets.token_urlsafe(nbytes)}"

    # ------------------------------------------------------------------ results

    def sign_result(self, tenant_id: str, user_id: str, txid: str, method: str) -> str:
        claims: dict[str, Any] = {
            "sub": user_id,
            "tid": tenant_id,
            "txid": txid,
            "amr": ["mfa", method],
            "auth0_guardian_method": method,
            "auth0_guardian_accepted": True,
        }
        return self.codec.issue("sig", claims, self.settings.transaction_ttl_seconds)

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
