"""Backend operations: tenants, API keys, toggles, quotas, tokens, enrollments.

What the host app's backend and tenant admins do, with API keys. Every operation
takes the caller's :class:`Principal` and checks scope and tenant first, so the
HTTP routes, the CLI and in-process callers share one set of rules.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, get_args

import anyio.to_thread

from mfa.errors import (
    FeatureDisabled,
    InsufficientScope,
    InvalidBody,
    InvalidToken,
    MethodNotFound,
    NotEnrolled,
    NotFound,
    TenantNotFound,
)
from mfa.factors import recovery
from mfa.keys import new_api_key
from mfa.names import Quota
from mfa.schemas import Scope
from mfa.settings import FACTORS, FEATURES
from mfa.storage.base import ApiKey, Conflict, Enrollment, Tenant

if TYPE_CHECKING:
    from mfa.service import MFAService

ALL_SCOPES: frozenset[str] = frozenset(get_args(Scope))
OPERATOR_ONLY: frozenset[str] = frozenset({"tenants:write"})
QUOTA_NAMES: tuple[str, ...] = ("sms_per_user", "pn_per_user", "sms_per_tenant", "pn_per_tenant")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who calls the backend API: the operator (``tenant_id`` None) or a tenant key."""

    key_id: str
    tenant_id: str | None
    scopes: frozenset[str]

    @property
    def is_operator(self) -> bool:
        return self.tenant_id is None


OPERATOR = Principal("operator", None, ALL_SCOPES)


def key_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


class Admin:
    def __init__(self, service: MFAService) -> None:
        self.service = service
        self._admin_hash = key_hash(service.admin_key) if service.admin_key else None

    # ------------------------------------------------------------------ auth

    async def authenticate(self, secret: str) -> Principal:
        digest = key_hash(secret)
        if self._admin_hash is not None and hmac.compare_digest(digest, self._admin_hash):
            return OPERATOR
        record = await self.service.durable.find_api_key(digest)
        if record is None:
            raise InvalidToken("Unknown or revoked API key.")
        return Principal(record.key_id, record.tenant_id, record.scopes)

    @staticmethod
    def require(principal: Principal, scope: str, tenant_id: str | None = None) -> None:
        if scope not in principal.scopes:
            raise InsufficientScope(f"The key lacks the {scope!r} scope.")
        if principal.tenant_id is not None and principal.tenant_id != tenant_id:
            raise InsufficientScope("The key belongs to another tenant.")

    async def _tenant(self, tenant_id: str) -> Tenant:
        tenant = await self.service.durable.get_tenant(tenant_id)
        if tenant is None:
            raise TenantNotFound()
        return tenant

    # ------------------------------------------------------------------ tenants

    async def create_tenant(self, who: Principal, tenant_id: str, name: str) -> Tenant:
        self.require(who, "tenants:write")
        try:
            return await self.service.durable.create_tenant(Tenant(tenant_id=tenant_id, name=name))
        except Conflict:
            raise InvalidBody(f"A tenant with tenant_id {tenant_id!r} exists.") from None

    async def get_tenant(self, who: Principal, tenant_id: str) -> Tenant:
        self.require(who, "tenants:read", tenant_id)
        return await self._tenant(tenant_id)

    async def list_tenants(self, who: Principal) -> list[Tenant]:
        self.require(who, "tenants:read")
        return await self.service.durable.list_tenants()

    async def delete_tenant(self, who: Principal, tenant_id: str) -> None:
        self.require(who, "tenants:write")
        if not await self.service.durable.delete_tenant(tenant_id):
            raise TenantNotFound()
        self.service.forget_tenant(tenant_id)
        await self.service.ephemeral.delete_tenant_data(tenant_id)

    # ------------------------------------------------------------------ keys

    async def create_api_key(
        self, who: Principal, tenant_id: str | None, name: str, scopes: list[str]
    ) -> tuple[ApiKey, str]:
        self.require(who, "keys:write", tenant_id)
        wanted = frozenset(scopes)
        unknown = wanted - ALL_SCOPES
        if unknown:
            raise InvalidBody(f"Unknown scopes {sorted(unknown)}.")
        if tenant_id is not None:
            await self._tenant(tenant_id)
            if wanted & OPERATOR_ONLY:
                raise InvalidBody("tenants:write is for operator keys only.")
        if not wanted <= who.scopes:
            # No key can mint a key stronger than itself.
            raise InsufficientScope("A key cannot grant scopes it does not hold.")
        secret = new_api_key()
        record = ApiKey(
            key_id=self.service.new_id("key", 9),
            tenant_id=tenant_id,
            name=name,
            scopes=wanted,
            key_hash=key_hash(secret),
            created_at=datetime.now(UTC),
        )
        await self.service.durable.create_api_key(record)
        return record, secret

    async def revoke_api_key(self, who: Principal, tenant_id: str | None, key_id: str) -> None:
        self.require(who, "keys:write", tenant_id)
        if not await self.service.durable.delete_api_key(tenant_id, key_id):
            raise NotFound("No API key with this id for this tenant.")

    # ------------------------------------------------------------------ toggles

    async def list_factors(self, who: Principal, tenant_id: str) -> list[dict[str, Any]]:
        self.require(who, "factors:read", tenant_id)
        tenant = await self._tenant(tenant_id)
        return [
            {
                "name": f,
                "enabled": tenant.factors.get(f, False),
                "available": self.service.factor_available(tenant, f),
            }
            for f in FACTORS
        ]

    async def set_factor(self, who: Principal, tenant_id: str, name: str, enabled: bool) -> Tenant:
        self.require(who, "factors:write", tenant_id)
        if name not in FACTORS:
            raise MethodNotFound(f"No factor named {name[:40]!r}.")
        if enabled and name in self.service.settings.disabled_factors:
            raise FeatureDisabled(f"The operator switched {name!r} off for this deployment.")
        return await self._update(tenant_id, factors={name: enabled})

    async def set_feature(self, who: Principal, tenant_id: str, name: str, enabled: bool) -> Tenant:
        self.require(who, "factors:write", tenant_id)
        if name not in FEATURES:
            raise NotFound(f"No feature named {name[:40]!r}; known: {', '.join(FEATURES)}.")
        return await self._update(tenant_id, features={name: enabled})

    async def get_quotas(self, who: Principal, tenant_id: str) -> dict[str, Quota]:
        self.require(who, "quotas:read", tenant_id)
        return (await self._tenant(tenant_id)).quotas

    async def set_quotas(
        self, who: Principal, tenant_id: str, quotas: dict[str, Quota]
    ) -> dict[str, Quota]:
        self.require(who, "quotas:write", tenant_id)
        unknown = set(quotas) - set(QUOTA_NAMES)
        if unknown:
            raise InvalidBody(f"Unknown quotas {sorted(unknown)}.")
        return (await self._update(tenant_id, quotas=quotas)).quotas

    async def set_sms_otp_length(self, who: Principal, tenant_id: str, length: int) -> Tenant:
        self.require(who, "factors:write", tenant_id)
        if not 4 <= length <= 10:
            raise InvalidBody("sms_otp_length must be within 4..10.")
        return await self._update(tenant_id, sms_otp_length=length)

    async def _update(self, tenant_id: str, **changes: Any) -> Tenant:
        tenant = await self.service.durable.update_tenant(tenant_id, **changes)
        if tenant is None:
            raise TenantNotFound()
        self.service.forget_tenant(tenant_id)
        return tenant

    # ------------------------------------------------------------------ transactions

    async def issue_request_token(
        self, who: Principal, tenant_id: str, user_id: str
    ) -> tuple[str, float]:
        """A JWT that opens one start-flow for this user (one-time: its ``jti`` is a
        ticket that start-flow takes)."""
        self.require(who, "transactions:create", tenant_id)
        await self.service.tenant(tenant_id)  # the cached read: hosts call this per login
        ttl = self.service.settings.request_token_ttl_seconds
        jti = self.service.new_id("req", 12)
        token = self.service.codec.issue(
            "request", {"tid": tenant_id, "sub": user_id, "jti": jti}, ttl
        )
        await self.service.ephemeral.put_ticket(
            "req:" + jti, {"tenant_id": tenant_id, "user_id": user_id}, ttl
        )
        return token, self.service.clock() + ttl

    async def issue_enrollment_ticket(
        self, who: Principal, tenant_id: str, user_id: str
    ) -> tuple[str, float]:
        self.require(who, "transactions:create", tenant_id)
        await self._tenant(tenant_id)
        ttl = self.service.settings.enrollment_ticket_ttl_seconds
        ticket = self.service.new_id("tkt", 18)
        await self.service.ephemeral.put_ticket(
            "enroll:" + ticket, {"tenant_id": tenant_id, "user_id": user_id}, ttl
        )
        return ticket, self.service.clock() + ttl

    # ------------------------------------------------------------------ enrollments

    async def list_enrollments(
        self, who: Principal, tenant_id: str, user_id: str
    ) -> list[Enrollment]:
        self.require(who, "enrollments:read", tenant_id)
        await self._tenant(tenant_id)
        found = await self.service.durable.get_user_enrollment(tenant_id, user_id)
        return [found] if found else []

    async def delete_enrollment(self, who: Principal, tenant_id: str, enrollment_id: str) -> None:
        self.require(who, "enrollments:write", tenant_id)
        await self._tenant(tenant_id)
        if not await self.service.durable.delete_enrollment(tenant_id, enrollment_id):
            raise NotFound("No enrollment with this id for this tenant.")

    async def regenerate_recovery_code(self, who: Principal, tenant_id: str, user_id: str) -> str:
        self.require(who, "enrollments:write", tenant_id)
        await self._tenant(tenant_id)
        enrollment = await self.service.durable.get_user_enrollment(tenant_id, user_id)
        if enrollment is None:
            raise NotEnrolled()
        code = recovery.new_code()
        digest = await anyio.to_thread.run_sync(self.service.hasher.hash, code)
        await self.service.durable.update_enrollment(
            tenant_id, enrollment.enrollment_id, {"recovery_code_hash": digest}
        )
        return code


def tenant_view(tenant: Tenant) -> dict[str, Any]:
    return {
        "tenant_id": tenant.tenant_id,
        "name": tenant.name,
        "factors": dict(tenant.factors),
        "features": dict(tenant.features),
        "quotas": quotas_view(tenant.quotas),
        "sms_otp_length": tenant.sms_otp_length,
    }


def quotas_view(quotas: dict[str, Quota]) -> dict[str, dict[str, int]]:
    return {
        name: {"limit": quotas[name].limit, "window_seconds": quotas[name].window_seconds}
        for name in QUOTA_NAMES
        if name in quotas
    }


def enrollment_view(e: Enrollment) -> dict[str, Any]:
    return {
        "id": e.enrollment_id,
        "user_id": e.user_id,
        "status": e.status,
        "methods": list(e.methods),
        "phone_number": e.phone_masked,
        "name": e.name,
        "created_at": e.created_at.isoformat() if e.created_at else None,
    }
