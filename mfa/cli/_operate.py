"""The operator commands: the backend API in process, with operator rights.

Arguments are validated by the same request schemas as the HTTP API
(:mod:`mfa.schemas`), and refused with the same catalogue errors, so a value the
API refuses is never stored through the command line. Output uses the API's own
views (:mod:`mfa.http.views`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from mfa.cli._checks import (
    Refusal,
    open_checked,
    require_existing_database,
    require_shared_store,
)
from mfa.names import Quota
from mfa.settings import Settings

if TYPE_CHECKING:
    from mfa.schemas import Body
    from mfa.service import MFAService

B = TypeVar("B", bound="Body")
Handler = Callable[["MFAService", argparse.Namespace], Coroutine[Any, Any, Any]]


def body(model: type[B], **values: Any) -> B:
    """``values`` checked by the HTTP API's schema, refused as the API refuses them."""
    from mfa.http.endpoint import validation_error

    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise validation_error(model, exc) from None


def confirm(args: argparse.Namespace, question: str) -> None:
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise Refusal(f"{question} Pass --yes to confirm without a terminal.")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise Refusal("cancelled; nothing was changed.")


async def run(args: argparse.Namespace, settings: Settings) -> Any:
    from mfa.service import MFAService

    handler = HANDLERS[args.action]
    if args.action in ("request-token", "enrollment-ticket"):
        what = "a request token" if args.action == "request-token" else "an enrollment ticket"
        route = "request-tokens" if args.action == "request-token" else "enrollment-tickets"
        require_shared_store(settings, what, route)
    require_existing_database(settings)
    service = MFAService(settings)
    try:
        await open_checked(service)
        return await handler(service, args)
    finally:
        await service.close()
        # open_checked may have failed before the service counted itself open.
        await service.durable.close()


def _dump(view: BaseModel) -> dict[str, Any]:
    return view.model_dump(mode="json")


async def tenants_create(s: MFAService, a: argparse.Namespace) -> Any:
    from mfa.http.views import tenant_view
    from mfa.schemas import CreateTenantBody

    b = body(CreateTenantBody, tenant_id=a.tenant_id, name=a.name)
    return _dump(tenant_view(await s.admin.create_tenant(b.tenant_id, b.name)))


async def tenants_list(s: MFAService, a: argparse.Namespace) -> Any:
    return [
        {"tenant_id": t.tenant_id, "name": t.name, "factors": t.factors}
        for t in await s.admin.list_tenants()
    ]


async def tenants_show(s: MFAService, a: argparse.Namespace) -> Any:
    from mfa.http.views import tenant_view

    return _dump(tenant_view(await s.admin.get_tenant(a.tenant_id)))


async def tenants_delete(s: MFAService, a: argparse.Namespace) -> Any:
    await s.admin.get_tenant(a.tenant_id)  # tenant_not_found before the question
    confirm(a, f"Delete tenant {a.tenant_id!r} with all its keys and enrollments?")
    await s.admin.delete_tenant(a.tenant_id)
    return {"deleted": a.tenant_id}


def scopes_of(values: list[str]) -> list[str]:
    # "--scope a,b --scope c": people write lists both ways.
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


async def api_keys_create(s: MFAService, a: argparse.Namespace) -> Any:
    from mfa.http.views import api_key_view
    from mfa.schemas import CreateApiKeyBody

    b = body(CreateApiKeyBody, name=a.name, scopes=scopes_of(a.scopes))
    record, secret = await s.admin.create_api_key(a.tenant_id, b.name, list(b.scopes))
    return _dump(api_key_view(record, secret))


async def api_keys_list(s: MFAService, a: argparse.Namespace) -> Any:
    await s.admin.get_tenant(a.tenant_id)
    return [
        {
            "key_id": k.key_id,
            "name": k.name,
            "scopes": sorted(k.scopes),
            "created_at": k.created_at.isoformat() if k.created_at else None,
        }
        for k in await s.durable.list_api_keys(a.tenant_id)
    ]


async def api_keys_revoke(s: MFAService, a: argparse.Namespace) -> Any:
    confirm(a, f"Revoke API key {a.key_id!r}? Calls made with it will be refused.")
    await s.admin.revoke_api_key(a.tenant_id, a.key_id)
    return {"revoked": a.key_id}


async def factors(s: MFAService, a: argparse.Namespace) -> Any:
    from mfa.http.views import factor_view

    if a.action != "factors.list":
        await s.admin.set_factor(a.tenant_id, a.factor, a.action == "factors.enable")
    return [_dump(factor_view(t)) for t in await s.admin.list_factors(a.tenant_id)]


async def features(s: MFAService, a: argparse.Namespace) -> Any:
    if a.action == "features.list":
        tenant = await s.admin.get_tenant(a.tenant_id)
    else:
        tenant = await s.admin.set_feature(a.tenant_id, a.feature, a.action == "features.enable")
    return [{"name": k, "enabled": v} for k, v in sorted(tenant.features.items())]


async def quotas(s: MFAService, a: argparse.Namespace) -> Any:
    from mfa.http.views import quotas_view
    from mfa.schemas import QuotasBody

    if a.action == "quotas.set":
        wanted = body(QuotasBody, **{a.quota: {"limit": a.limit, "window_seconds": a.window}})
        q = getattr(wanted, a.quota)
        await s.admin.set_quotas(a.tenant_id, {a.quota: Quota(q.limit, q.window_seconds)})
    shown = _dump(quotas_view(await s.admin.get_quotas(a.tenant_id)))
    return [{"quota": name, **value} for name, value in shown.items()]


async def request_token(s: MFAService, a: argparse.Namespace) -> Any:
    from mfa.http.views import iso
    from mfa.schemas import UserBody

    user = body(UserBody, user_id=a.user_id).user_id
    issued = await s.admin.issue_request_token(a.tenant_id, user)
    return {"request_token": issued.token, "expires_at": iso(issued.expires_at)}


async def enrollment_ticket(s: MFAService, a: argparse.Namespace) -> Any:
    from mfa.http.views import iso
    from mfa.schemas import UserBody

    user = body(UserBody, user_id=a.user_id).user_id
    issued = await s.admin.issue_enrollment_ticket(a.tenant_id, user)
    return {"ticket_id": issued.token, "expires_at": iso(issued.expires_at)}


async def enrollments_list(s: MFAService, a: argparse.Namespace) -> Any:
    from mfa.http.views import enrollment_view

    return [
        _dump(enrollment_view(e)) for e in await s.admin.list_enrollments(a.tenant_id, a.user_id)
    ]


async def enrollments_delete(s: MFAService, a: argparse.Namespace) -> Any:
    confirm(a, f"Delete enrollment {a.enrollment_id!r}? The user will have to enroll again.")
    await s.admin.delete_enrollment(a.tenant_id, a.enrollment_id)
    return {"deleted": a.enrollment_id}


HANDLERS: dict[str, Handler] = {
    "tenants.create": tenants_create,
    "tenants.list": tenants_list,
    "tenants.show": tenants_show,
    "tenants.delete": tenants_delete,
    "api-keys.create": api_keys_create,
    "api-keys.list": api_keys_list,
    "api-keys.revoke": api_keys_revoke,
    "factors.list": factors,
    "factors.enable": factors,
    "factors.disable": factors,
    "features.list": features,
    "features.enable": features,
    "features.disable": features,
    "quotas.show": quotas,
    "quotas.set": quotas,
    "request-token": request_token,
    "enrollment-ticket": enrollment_ticket,
    "enrollments.list": enrollments_list,
    "enrollments.delete": enrollments_delete,
}
