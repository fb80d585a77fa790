"""Backend operations: tenants, API keys, toggles, quotas, tokens, enrollments.

What the host app's backend and tenant admins do. The operations return data
(store records); the HTTP layer and the CLI shape their own views of it.
Authorization is not done here: the HTTP layer authorizes each call from the
route's declared scope before it reaches an operation (:mod:`mfa.principals`),
and in-process callers act as the operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mfa.context import Context
from mfa.enrollment_status import EnrollmentStatus
from mfa.enrollment_status import derive as derive_status
from mfa.errors import (
    FeatureDisabled,
    InsufficientScope,
    InvalidBody,
    MethodNotFound,
    NotEnrolled,
    NotFound,
    TenantNotFound,
)
from mfa.events.record import EventType
from mfa.factors import recovery
from mfa.keys import new_api_key
from mfa.names import Factor, Feature, Quota, QuotaName
from mfa.principals import ALL_SCOPES, OPERATOR_ONLY, key_hash
from mfa.storage.base import ApiKey, Conflict, Enrollment, HostedPages, Tenant
from mfa.ui.policy import check_hosted_pages


@dataclass(frozen=True, slots=True)
class FactorToggle:
    name: str
    enabled: bool  # switched on by the tenant admin
    available: bool  # and not switched off by the operator


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: float  # epoch seconds


class Admin:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def _tenant(self, tenant_id: str) -> Tenant:
        tenant = await self._ctx.durable.get_tenant(tenant_id)
        if tenant is None:
            raise TenantNotFound()
        return tenant

    # ------------------------------------------------------------------ tenants

    async def create_tenant(self, tenant_id: str, name: str, *, sandbox: bool = False) -> Tenant:
        record = Tenant(tenant_id=tenant_id, name=name, sandbox=sandbox)
        try:
            return await self._ctx.durable.create_tenant(record)
        except Conflict:
            raise InvalidBody(f"A tenant with tenant_id {tenant_id!r} exists.") from None

    async def get_tenant(self, tenant_id: str) -> Tenant:
        return await self._tenant(tenant_id)

    async def list_tenants(self) -> list[Tenant]:
        return await self._ctx.durable.list_tenants()

    async def delete_tenant(self, tenant_id: str) -> None:
        if not await self._ctx.durable.delete_tenant(tenant_id):
            raise TenantNotFound()
        self._ctx.tenants.forget(tenant_id)
        await self._ctx.ephemeral.delete_tenant_data(tenant_id)

    # ------------------------------------------------------------------ keys

    async def create_api_key(
        self,
        tenant_id: str | None,
        name: str,
        scopes: list[str],
        *,
        granted_by: frozenset[str] = ALL_SCOPES,
    ) -> tuple[ApiKey, str]:
        """A new key and its secret (shown once). ``granted_by`` is the scopes of
        the key asking: no key can mint a key stronger than itself."""
        wanted = frozenset(scopes)
        unknown = wanted - ALL_SCOPES
        if unknown:
            raise InvalidBody(f"Unknown scopes {sorted(unknown)}.")
        if tenant_id is not None:
            await self._tenant(tenant_id)
            if wanted & OPERATOR_ONLY:
                raise InvalidBody("tenants:write is for operator keys only.")
        if not wanted <= granted_by:
            raise InsufficientScope("A key cannot grant scopes it does not hold.")
        secret = new_api_key()
        record = ApiKey(
            key_id=self._ctx.new_id("key", 9),
            tenant_id=tenant_id,
            name=name,
            scopes=wanted,
            key_hash=key_hash(secret),
            created_at=datetime.now(UTC),
        )
        await self._ctx.durable.create_api_key(record)
        if tenant_id is not None:  # the audit trail is per tenant
            data = {"key_id": record.key_id, "scopes": sorted(wanted)}
            await self._event(tenant_id, EventType.API_KEY_CREATED, data)
        return record, secret

    async def revoke_api_key(self, tenant_id: str | None, key_id: str) -> None:
        if not await self._ctx.durable.delete_api_key(tenant_id, key_id):
            raise NotFound("No API key with this id for this tenant.")
        if tenant_id is not None:
            await self._event(tenant_id, EventType.API_KEY_REVOKED, {"key_id": key_id})

    async def _event(
        self,
        tenant_id: str,
        type: EventType,
        data: dict[str, Any],
        *,
        user_id: str | None = None,
        enrollment_id: str | None = None,
    ) -> None:
        """The audit event of a backend operation, written after its durable write and
        before the answer (mfa.events.sink tells what that gives up). The acting API
        key comes from the request (``actor``)."""
        event = self._ctx.events.make(
            tenant_id,
            type,
            user_id=user_id,
            enrollment_id=enrollment_id,
            outcome="done",
            data=data,
        )
        await self._ctx.events.record(event)

    # ------------------------------------------------------------------ toggles

    async def list_factors(self, tenant_id: str) -> list[FactorToggle]:
        return self._toggles(await self._tenant(tenant_id))

    def _toggles(self, tenant: Tenant) -> list[FactorToggle]:
        return [
            FactorToggle(
                f.value, tenant.factors.get(f, False), self._ctx.factor_available(tenant, f)
            )
            for f in Factor
        ]

    async def set_factor(self, tenant_id: str, name: str, enabled: bool) -> FactorToggle:
        if name not in Factor.__members__.values():
            raise MethodNotFound(f"No factor named {name[:40]!r}.")
        if enabled and name in self._ctx.settings.disabled_factors:
            raise FeatureDisabled(f"The operator switched {name!r} off for this deployment.")
        tenant = await self._update(tenant_id, factors={name: enabled})
        return next(t for t in self._toggles(tenant) if t.name == name)

    async def set_feature(self, tenant_id: str, name: str, enabled: bool) -> Tenant:
        if name not in Feature.__members__.values():
            known = ", ".join(f.value for f in Feature)
            raise NotFound(f"No feature named {name[:40]!r}; known: {known}.")
        return await self._update(tenant_id, features={name: enabled})

    async def get_quotas(self, tenant_id: str) -> dict[str, Quota]:
        return (await self._tenant(tenant_id)).quotas

    async def set_quotas(self, tenant_id: str, quotas: dict[str, Quota]) -> dict[str, Quota]:
        unknown = set(quotas) - set(QuotaName.__members__.values())
        if unknown:
            raise InvalidBody(f"Unknown quotas {sorted(unknown)}.")
        return (await self._update(tenant_id, quotas=quotas)).quotas

    async def set_sms_otp_length(self, tenant_id: str, length: int) -> Tenant:
        if not 4 <= length <= 10:
            raise InvalidBody("sms_otp_length must be within 4..10.")
        return await self._update(tenant_id, sms_otp_length=length)

    async def _update(self, tenant_id: str, **changes: Any) -> Tenant:
        tenant = await self._ctx.durable.update_tenant(tenant_id, **changes)
        if tenant is None:
            raise TenantNotFound()
        self._ctx.tenants.forget(tenant_id)
        await self._event(tenant_id, EventType.TENANT_SETTINGS_CHANGED, _changed(changes))
        return tenant

    # ------------------------------------------------------------------ transactions

    async def issue_request_token(self, tenant_id: str, user_id: str) -> IssuedToken:
        """A JWT that opens one start-flow for this user (one-time: its ``jti`` is a
        ticket that start-flow takes)."""
        await self._ctx.tenants.get(tenant_id)  # the cached read: hosts call this per login
        ttl = self._ctx.settings.request_token_ttl_seconds
        jti = self._ctx.new_id("req", 12, tenant_id=tenant_id)
        token = self._ctx.codec.issue(
            "request", {"tid": tenant_id, "sub": user_id, "jti": jti}, ttl
        )
        await self._ctx.ephemeral.put_ticket(
            "req:" + jti, {"tenant_id": tenant_id, "user_id": user_id}, ttl
        )
        return IssuedToken(token, self._ctx.clock() + ttl)

    async def issue_enrollment_ticket(self, tenant_id: str, user_id: str) -> IssuedToken:
        await self._tenant(tenant_id)
        ttl = self._ctx.settings.enrollment_ticket_ttl_seconds
        ticket = self._ctx.new_id("tkt", 18, tenant_id=tenant_id)
        await self._ctx.ephemeral.put_ticket(
            "enroll:" + ticket, {"tenant_id": tenant_id, "user_id": user_id}, ttl
        )
        return IssuedToken(ticket, self._ctx.clock() + ttl)

    # ------------------------------------------------------------------ enrollments

    async def list_enrollments(self, tenant_id: str, user_id: str) -> list[Enrollment]:
        await self._tenant(tenant_id)
        found = await self._ctx.durable.get_user_enrollment(tenant_id, user_id)
        return [found] if found else []

    async def delete_enrollment(self, tenant_id: str, enrollment_id: str) -> None:
        await self._tenant(tenant_id)
        found = await self._ctx.durable.get_enrollment(tenant_id, enrollment_id)
        if found is None or not await self._ctx.durable.delete_enrollment(tenant_id, enrollment_id):
            raise NotFound("No enrollment with this id for this tenant.")
        await self._event(
            tenant_id,
            EventType.ENROLLMENT_DELETED,
            {},
            user_id=found.user_id,
            enrollment_id=enrollment_id,
        )

    async def regenerate_recovery_code(self, tenant_id: str, user_id: str) -> str:
        await self._tenant(tenant_id)
        enrollment = await self._ctx.durable.get_user_enrollment(tenant_id, user_id)
        if enrollment is None:
            raise NotEnrolled()
        code = recovery.new_code()
        digest = await self._ctx.hasher.hash_async(code)
        # One write that also drops any pending handover (mfa.flows.recovery): the
        # code used before this one must not claim an older replacement.
        await self._ctx.durable.reset_recovery_code(tenant_id, enrollment.enrollment_id, digest)
        await self._event(
            tenant_id,
            EventType.RECOVERY_CODE_REGENERATED,
            {},
            user_id=user_id,
            enrollment_id=enrollment.enrollment_id,
        )
        return code

    # ------------------------------------------------------------------ hosted pages
    # (mfa.ui: the /ui/ pages read this setting; the rules live in mfa.ui.policy)

    async def get_hosted_pages(self, tenant_id: str) -> HostedPages:
        return (await self._tenant(tenant_id)).hosted_pages

    async def set_hosted_pages(self, tenant_id: str, pages: HostedPages) -> HostedPages:
        """Replace the tenant's hosted-pages setting (return-URL allowlist, logo,
        colour); ``invalid_body`` for a URL or colour the pages could not use safely."""
        checked = check_hosted_pages(pages)
        return (await self._update(tenant_id, hosted_pages=checked)).hosted_pages

    # ------------------------------------------------------------------ sandbox

    async def sandbox_messages(self, tenant_id: str, recipient: str) -> list[dict[str, Any]]:
        """What the sandbox outbox holds for one phone number or push token, oldest
        first (mfa.sandbox). Only a sandbox tenant has an outbox."""
        tenant = await self._tenant(tenant_id)
        if not tenant.sandbox:
            raise NotFound("The tenant is not a sandbox tenant: its messages are delivered.")
        return await self._ctx.sandbox_outbox.read(tenant_id, recipient)

    # ------------------------------------------------------------------ status

    async def enrollment_status(self, tenant_id: str, user_id: str) -> EnrollmentStatus:
        """The user's enrollment with its derived status, last error and last use
        (mfa.enrollment_status); ``not_enrolled`` when the user has none."""
        tenant = await self._tenant(tenant_id)
        found = await self._ctx.durable.get_user_enrollment(tenant_id, user_id)
        if found is None:
            raise NotEnrolled("The user has no enrollment.")
        remaining = await self._ctx.ephemeral.lockout_remaining(tenant_id, user_id)
        return derive_status(found, tenant, remaining, self._ctx.clock())


def _changed(changes: dict[str, Any]) -> dict[str, Any]:
    """What a settings change set, as plain JSON (no secret is among tenant settings;
    the hosted pages are named, not copied: URLs can be long)."""
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if value is None:
            continue
        if name == "quotas":
            out[name] = {
                k: {"limit": q.limit, "window_seconds": q.window_seconds} for k, q in value.items()
            }
        elif name == "hosted_pages":
            out[name] = "replaced"
        else:
            out[name] = value
    return out
