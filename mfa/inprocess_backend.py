"""The in-process client's backend API calls: what an operator does, without HTTP.

:class:`mfa.InProcessClient` inherits these. Arguments are checked by the HTTP
API's request schemas and refused with the same catalogue errors (:func:`check`);
answers are built by the same views (:mod:`mfa.http.views`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from mfa.admin import Admin
from mfa.client._calls import _quota_wire, _when
from mfa.client._models import EnrollmentTicket, NewApiKey, QuotaLike, RequestToken
from mfa.names import Quota
from mfa.schemas import Body
from mfa.schemas.backend import (
    CreateApiKeyBody,
    CreateTenantBody,
    QuotasBody,
    ToggleBody,
    UserBody,
)

if TYPE_CHECKING:  # the service is built by the composition root (mfa.service)
    from mfa.service import MFAService

B = TypeVar("B", bound=Body)


def check(model: type[B], **values: Any) -> B:
    """``values`` as the HTTP API would accept them, or its catalogue error."""
    from mfa.http.endpoint import validation_error

    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise validation_error(model, exc) from None


def as_json(view: BaseModel) -> dict[str, Any]:
    return view.model_dump(mode="json")


class _InProcessBackend:
    service: MFAService

    async def _admin(self) -> Admin:
        await self.service.ensure_open()  # a mounted app may not have had a request yet
        return self.service.admin

    async def create_tenant(
        self, tenant_id: str, name: str, *, sandbox: bool = False
    ) -> dict[str, Any]:
        from mfa.http.views import tenant_view

        b = check(CreateTenantBody, tenant_id=tenant_id, name=name, sandbox=sandbox)
        tenant = await (await self._admin()).create_tenant(b.tenant_id, b.name, sandbox=b.sandbox)
        return as_json(tenant_view(tenant))

    async def get_tenant(self, tenant_id: str) -> dict[str, Any]:
        from mfa.http.views import tenant_view

        return as_json(tenant_view(await (await self._admin()).get_tenant(tenant_id)))

    async def list_tenants(self) -> list[dict[str, Any]]:
        from mfa.http.views import tenant_view

        return [as_json(tenant_view(t)) for t in await (await self._admin()).list_tenants()]

    async def delete_tenant(self, tenant_id: str) -> None:
        await (await self._admin()).delete_tenant(tenant_id)

    async def create_api_key(self, tenant_id: str, name: str, scopes: list[str]) -> NewApiKey:
        b = check(CreateApiKeyBody, name=name, scopes=list(scopes))
        record, secret = await (await self._admin()).create_api_key(
            tenant_id, b.name, list(b.scopes)
        )
        return NewApiKey(record.key_id, secret, sorted(record.scopes), record.name, tenant_id)

    async def revoke_api_key(self, tenant_id: str, key_id: str) -> None:
        await (await self._admin()).revoke_api_key(tenant_id, key_id)

    async def list_factors(self, tenant_id: str) -> list[dict[str, Any]]:
        from mfa.http.views import factor_view

        toggles = await (await self._admin()).list_factors(tenant_id)
        return [as_json(factor_view(t)) for t in toggles]

    async def set_factor(self, tenant_id: str, name: str, enabled: bool) -> dict[str, Any]:
        from mfa.http.views import factor_view

        b = check(ToggleBody, enabled=enabled)
        return as_json(
            factor_view(await (await self._admin()).set_factor(tenant_id, name, b.enabled))
        )

    async def set_feature(self, tenant_id: str, name: str, enabled: bool) -> dict[str, Any]:
        b = check(ToggleBody, enabled=enabled)
        tenant = await (await self._admin()).set_feature(tenant_id, name, b.enabled)
        return {"name": name, "enabled": tenant.features[name]}

    async def get_quotas(self, tenant_id: str) -> dict[str, Quota]:
        return dict(await (await self._admin()).get_quotas(tenant_id))

    async def set_quotas(self, tenant_id: str, **quotas: QuotaLike) -> dict[str, Quota]:
        wanted = check(QuotasBody, **{n: _quota_wire(q) for n, q in quotas.items()})
        changes = {n: Quota(q.limit, q.window_seconds) for n, q in wanted if q is not None}
        return dict(await (await self._admin()).set_quotas(tenant_id, changes))

    async def set_sms_otp_length(self, tenant_id: str, length: int) -> int:
        tenant = await (await self._admin()).set_sms_otp_length(tenant_id, length)
        return tenant.sms_otp_length

    async def request_token(self, tenant_id: str, user_id: str) -> RequestToken:
        from mfa.http.views import iso

        user = check(UserBody, user_id=user_id).user_id
        issued = await (await self._admin()).issue_request_token(tenant_id, user)
        return RequestToken(issued.token, _when(iso(issued.expires_at)))

    async def enrollment_ticket(self, tenant_id: str, user_id: str) -> EnrollmentTicket:
        from mfa.http.views import iso

        user = check(UserBody, user_id=user_id).user_id
        issued = await (await self._admin()).issue_enrollment_ticket(tenant_id, user)
        return EnrollmentTicket(issued.token, _when(iso(issued.expires_at)))

    async def list_enrollments(self, tenant_id: str, user_id: str) -> list[dict[str, Any]]:
        from mfa.http.views import enrollment_view

        found = await (await self._admin()).list_enrollments(tenant_id, user_id)
        return [as_json(enrollment_view(e)) for e in found]

    async def get_enrollment_status(self, tenant_id: str, user_id: str) -> dict[str, Any]:
        from mfa.http.status import enrollment_status_view

        found = await (await self._admin()).enrollment_status(tenant_id, user_id)
        return as_json(enrollment_status_view(found))

    async def delete_enrollment(self, tenant_id: str, enrollment_id: str) -> None:
        await (await self._admin()).delete_enrollment(tenant_id, enrollment_id)

    async def regenerate_recovery_code(self, tenant_id: str, user_id: str) -> str:
        return await (await self._admin()).regenerate_recovery_code(tenant_id, user_id)

    async def errors(self) -> list[dict[str, Any]]:
        from mfa.catalogue import catalogue_json

        return list(catalogue_json())

    async def jwks(self) -> dict[str, Any]:
        jwks: dict[str, Any] = self.service.keys.signing.jwks()
        return jwks

    # hosted pages (mfa.ui) -----------------------------------------------------

    async def get_hosted_pages(self, tenant_id: str) -> dict[str, Any]:
        from mfa.ui.schemas import hosted_pages_view

        pages = await (await self._admin()).get_hosted_pages(tenant_id)
        return as_json(hosted_pages_view(pages))

    async def set_hosted_pages(
        self,
        tenant_id: str,
        *,
        allowed_return_urls: list[str],
        logo_url: str | None = None,
        primary_color: str | None = None,
    ) -> dict[str, Any]:
        from mfa.ui.schemas import HostedPagesBody, hosted_pages_view

        b = check(
            HostedPagesBody,
            allowed_return_urls=allowed_return_urls,
            logo_url=logo_url,
            primary_color=primary_color,
        )
        pages = await (await self._admin()).set_hosted_pages(tenant_id, b.record())
        return as_json(hosted_pages_view(pages))
