"""The operator commands: the backend API in process, with operator rights.

They go through :class:`mfa.InProcessClient`, so arguments are checked by the
same request schemas as the HTTP API (:mod:`mfa.schemas`) and refused with the
same catalogue errors, and answers have the API's shapes: a value the API
refuses is never stored through the command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from mfa.cli._checks import (
    Refusal,
    open_checked,
    require_existing_database,
    require_shared_store,
)
from mfa.names import QuotaName
from mfa.settings import Settings

if TYPE_CHECKING:
    from mfa.inprocess import InProcessClient

Handler = Callable[["InProcessClient", argparse.Namespace], Coroutine[Any, Any, Any]]


def confirm(args: argparse.Namespace, question: str) -> None:
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise Refusal(f"{question} Pass --yes to confirm without a terminal.")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise Refusal("cancelled; nothing was changed.")


async def run(args: argparse.Namespace, settings: Settings) -> Any:
    from mfa.inprocess import InProcessClient
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
        return await handler(InProcessClient(service), args)
    finally:
        await service.close()
        # open_checked may have failed before the service counted itself open.
        await service.durable.close()


def _plain(value: Any) -> Any:
    """A client dataclass as JSON-ready data (datetimes as ISO 8601)."""
    data = dataclasses.asdict(value)
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in data.items()}


async def tenants_create(api: InProcessClient, a: argparse.Namespace) -> Any:
    return await api.create_tenant(a.tenant_id, a.name, sandbox=a.sandbox)


async def tenants_list(api: InProcessClient, a: argparse.Namespace) -> Any:
    return [
        {"tenant_id": t["tenant_id"], "name": t["name"], "factors": t["factors"]}
        for t in await api.list_tenants()
    ]


async def tenants_show(api: InProcessClient, a: argparse.Namespace) -> Any:
    return await api.get_tenant(a.tenant_id)


async def tenants_delete(api: InProcessClient, a: argparse.Namespace) -> Any:
    await api.get_tenant(a.tenant_id)  # tenant_not_found before the question
    confirm(a, f"Delete tenant {a.tenant_id!r} with all its keys and enrollments?")
    await api.delete_tenant(a.tenant_id)
    return {"deleted": a.tenant_id}


def scopes_of(values: list[str]) -> list[str]:
    # "--scope a,b --scope c": people write lists both ways.
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


async def api_keys_create(api: InProcessClient, a: argparse.Namespace) -> Any:
    return _plain(await api.create_api_key(a.tenant_id, a.name, scopes_of(a.scopes)))


async def api_keys_list(api: InProcessClient, a: argparse.Namespace) -> Any:
    # Not an API route (keys are shown once, at creation): read from the store.
    await api.get_tenant(a.tenant_id)
    return [
        {
            "key_id": k.key_id,
            "name": k.name,
            "scopes": sorted(k.scopes),
            "created_at": k.created_at.isoformat() if k.created_at else None,
        }
        for k in await api.service.durable.list_api_keys(a.tenant_id)
    ]


async def api_keys_revoke(api: InProcessClient, a: argparse.Namespace) -> Any:
    confirm(a, f"Revoke API key {a.key_id!r}? Calls made with it will be refused.")
    await api.revoke_api_key(a.tenant_id, a.key_id)
    return {"revoked": a.key_id}


async def factors(api: InProcessClient, a: argparse.Namespace) -> Any:
    if a.action != "factors.list":
        await api.set_factor(a.tenant_id, a.factor, a.action == "factors.enable")
    return await api.list_factors(a.tenant_id)


async def features(api: InProcessClient, a: argparse.Namespace) -> Any:
    if a.action != "features.list":
        await api.set_feature(a.tenant_id, a.feature, a.action == "features.enable")
    shown = (await api.get_tenant(a.tenant_id))["features"]
    return [{"name": k, "enabled": v} for k, v in sorted(shown.items())]


async def hosted_pages(api: InProcessClient, a: argparse.Namespace) -> Any:
    if a.action == "hosted-pages.set":
        urls = [u.strip() for item in a.return_urls for u in item.split(",") if u.strip()]
        return await api.set_hosted_pages(
            a.tenant_id,
            allowed_return_urls=urls,
            logo_url=a.logo_url,
            primary_color=a.primary_color,
        )
    return await api.get_hosted_pages(a.tenant_id)


async def quotas(api: InProcessClient, a: argparse.Namespace) -> Any:
    if a.action == "quotas.set":
        await api.set_quotas(a.tenant_id, **{a.quota: (a.limit, a.window)})
    found = await api.get_quotas(a.tenant_id)
    return [{"quota": n.value, **dataclasses.asdict(found[n.value])} for n in QuotaName]


async def request_token(api: InProcessClient, a: argparse.Namespace) -> Any:
    token = await api.request_token(a.tenant_id, a.user_id)
    return {"request_token": token.token, "expires_at": token.expires_at.isoformat()}


async def enrollment_ticket(api: InProcessClient, a: argparse.Namespace) -> Any:
    return _plain(await api.enrollment_ticket(a.tenant_id, a.user_id))


async def enrollments_list(api: InProcessClient, a: argparse.Namespace) -> Any:
    return await api.list_enrollments(a.tenant_id, a.user_id)


async def enrollments_status(api: InProcessClient, a: argparse.Namespace) -> Any:
    return await api.get_enrollment_status(a.tenant_id, a.user_id)


async def enrollments_delete(api: InProcessClient, a: argparse.Namespace) -> Any:
    confirm(a, f"Delete enrollment {a.enrollment_id!r}? The user will have to enroll again.")
    await api.delete_enrollment(a.tenant_id, a.enrollment_id)
    return {"deleted": a.enrollment_id}


async def events(api: InProcessClient, a: argparse.Namespace) -> Any:
    page = await api.list_events(
        a.tenant_id,
        user_id=a.user_id,
        type=a.type,
        since=a.since,
        cursor=a.cursor,
        limit=a.limit,
    )
    if getattr(a, "json", False):
        return page
    return [
        {k: e[k] for k in ("time", "type", "user_id", "method", "outcome", "error_code", "actor")}
        for e in page["events"]
    ]


def _types(values: list[str]) -> list[str]:
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


async def webhooks(api: InProcessClient, a: argparse.Namespace) -> Any:
    verb = a.action.removeprefix("webhooks.")
    if verb == "create":
        return await api.create_webhook(a.tenant_id, a.url, _types(a.events))
    if verb == "list":
        return await api.list_webhooks(a.tenant_id)
    if verb == "delete":
        confirm(a, f"Delete webhook endpoint {a.webhook_id!r} and its queued deliveries?")
        await api.delete_webhook(a.tenant_id, a.webhook_id)
        return {"deleted": a.webhook_id}
    if verb == "rotate-secret":
        return {"secret": await api.rotate_webhook_secret(a.tenant_id, a.webhook_id)}
    if verb == "test":
        return await api.test_webhook(a.tenant_id, a.webhook_id)
    if verb == "deliveries":
        return await api.list_webhook_deliveries(a.tenant_id, a.webhook_id, status=a.status)
    return await api.redeliver_webhook(a.tenant_id, a.webhook_id, a.delivery_id)


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
    "hosted-pages.show": hosted_pages,
    "hosted-pages.set": hosted_pages,
    "quotas.show": quotas,
    "quotas.set": quotas,
    "request-token": request_token,
    "enrollment-ticket": enrollment_ticket,
    "enrollments.list": enrollments_list,
    "enrollments.status": enrollments_status,
    "enrollments.delete": enrollments_delete,
    "events": events,
    **{
        f"webhooks.{verb}": webhooks
        for verb in (
            "create",
            "list",
            "delete",
            "rotate-secret",
            "test",
            "deliveries",
            "redeliver",
        )
    },
}
