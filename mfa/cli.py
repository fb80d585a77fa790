"""The ``mfa`` command: run the service, migrate, and operate tenants without HTTP.

Operator commands work in process on the configured stores (same ``MFA_*``
variables as the service) with operator rights. ``--json`` prints machine-readable
output for scripts; errors print the catalogue code and exit with status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from mfa.errors import MFAError
from mfa.keys import generate_encryption_key, generate_signing_jwk
from mfa.names import Factor, Feature, Quota, QuotaName
from mfa.settings import Settings, SettingsError
from mfa.storage.base import BackendUnavailable, SchemaOutdated

if TYPE_CHECKING:
    from pydantic import BaseModel

    from mfa.admin import Admin

# The server-side modules load only for the commands that need them: keeps
# "mfa --help" and "mfa keys generate" quick.
FACTOR_CHOICES = tuple(f.value for f in Factor)
QUOTA_CHOICES = tuple(q.value for q in QuotaName)
FEATURE_CHOICES = tuple(f.value for f in Feature)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mfa", description="Multi-factor authentication service.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP service (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info")

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_cmd", required=True)
    db.add_parser("upgrade", help="apply migrations up to the code's revision")
    db.add_parser("status", help="show the schema revision")

    keys = sub.add_parser("keys", help="key material").add_subparsers(
        dest="keys_cmd", required=True
    )
    keys.add_parser("generate", help="print fresh MFA_SIGNING_KEYS and MFA_ENCRYPTION_KEYS")

    tenants = sub.add_parser("tenants", help="tenants").add_subparsers(dest="t_cmd", required=True)
    c = tenants.add_parser("create")
    c.add_argument("tenant_id")
    c.add_argument("--name", required=True)
    tenants.add_parser("list")
    for name in ("show", "delete"):
        tenants.add_parser(name).add_argument("tenant_id")

    api_keys = sub.add_parser("api-keys", help="API keys").add_subparsers(
        dest="k_cmd", required=True
    )
    kc = api_keys.add_parser("create")
    kc.add_argument("tenant_id")
    kc.add_argument("--name", required=True)
    kc.add_argument("--scope", action="append", required=True, dest="scopes")
    kr = api_keys.add_parser("revoke")
    kr.add_argument("tenant_id")
    kr.add_argument("key_id")

    factors = sub.add_parser("factors", help="factor toggles").add_subparsers(
        dest="f_cmd", required=True
    )
    factors.add_parser("list").add_argument("tenant_id")
    for verb in ("enable", "disable"):
        f = factors.add_parser(verb)
        f.add_argument("tenant_id")
        f.add_argument("factor", choices=FACTOR_CHOICES)

    features = sub.add_parser(
        "features", help="tenant features (device_management, push_number_matching, …)"
    ).add_subparsers(dest="ft_cmd", required=True)
    for verb in ("enable", "disable"):
        ft = features.add_parser(verb)
        ft.add_argument("tenant_id")
        ft.add_argument("feature", choices=FEATURE_CHOICES)

    quotas = sub.add_parser("quotas", help="SMS and push quotas").add_subparsers(
        dest="q_cmd", required=True
    )
    quotas.add_parser("show").add_argument("tenant_id")
    qs = quotas.add_parser("set")
    qs.add_argument("tenant_id")
    qs.add_argument("quota", choices=QUOTA_CHOICES)
    qs.add_argument("--limit", type=int, required=True)
    qs.add_argument("--window", type=int, required=True, help="window in seconds")

    rt = sub.add_parser("request-token", help="issue a request token for a user")
    rt.add_argument("tenant_id")
    rt.add_argument("user_id")

    en = sub.add_parser("enrollments", help="a user's enrollments").add_subparsers(
        dest="e_cmd", required=True
    )
    el = en.add_parser("list")
    el.add_argument("tenant_id")
    el.add_argument("user_id")
    ed = en.add_parser("delete")
    ed.add_argument("tenant_id")
    ed.add_argument("enrollment_id")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "serve":
            return serve(args)
        if args.command == "keys":
            signing = json.dumps([generate_signing_jwk()])
            _out(
                args,
                {"MFA_SIGNING_KEYS": signing, "MFA_ENCRYPTION_KEYS": generate_encryption_key()},
            )
            return 0
        settings = Settings.from_env()
        if args.command == "db":
            return asyncio.run(_db(args, settings))
        result = asyncio.run(_operate(args, settings))
        _out(args, result)
        return 0
    except MFAError as exc:
        _err(args, {"errorCode": exc.code, "message": exc.message})
        return 1
    except (SettingsError, SchemaOutdated, BackendUnavailable) as exc:
        _err(args, {"error": type(exc).__name__, "message": str(exc)})
        return 2


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from mfa.app import create_app

    settings = Settings.from_env()
    if settings.embedded:
        print(
            "mfa: running on embedded defaults (SQLite file, in-process store, console "
            "transports, development keys). Single process only — not for production.",
            file=sys.stderr,
        )
    app = create_app(settings)
    service = app.state.mfa
    if service.keys.admin_key and not settings.admin_key:
        print(f"mfa: development operator API key: {service.keys.admin_key}", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, workers=1)
    return 0


async def _db(args: argparse.Namespace, settings: Settings) -> int:
    from mfa.storage.sql import current_revision, head_revision, upgrade

    if args.db_cmd == "upgrade":
        await upgrade(settings.database_url)
    rev = await current_revision(settings.database_url)
    _out(args, {"revision": rev, "head": head_revision(), "up_to_date": rev == head_revision()})
    return 0


async def _operate(args: argparse.Namespace, settings: Settings) -> Any:
    from mfa.service import MFAService

    async with MFAService(settings) as service:
        admin = service.admin
        handlers: dict[str, Callable[[], Awaitable[Any]]] = {
            "tenants": lambda: _tenants(args, admin),
            "api-keys": lambda: _api_keys(args, admin),
            "factors": lambda: _factors(args, admin),
            "quotas": lambda: _quotas(args, admin),
            "features": lambda: _features(args, admin),
            "request-token": lambda: _request_token(args, admin),
            "enrollments": lambda: _enrollments(args, admin),
        }
        return await handlers[args.command]()


async def _tenants(args: argparse.Namespace, admin: Admin) -> Any:
    from mfa.http.views import tenant_view

    if args.t_cmd == "create":
        return _dump(tenant_view(await admin.create_tenant(args.tenant_id, args.name)))
    if args.t_cmd == "list":
        return [_dump(tenant_view(t)) for t in await admin.list_tenants()]
    if args.t_cmd == "show":
        return _dump(tenant_view(await admin.get_tenant(args.tenant_id)))
    await admin.delete_tenant(args.tenant_id)
    return {"deleted": args.tenant_id}


async def _api_keys(args: argparse.Namespace, admin: Admin) -> Any:
    if args.k_cmd == "create":
        record, secret = await admin.create_api_key(args.tenant_id, args.name, args.scopes)
        return {"key_id": record.key_id, "key": secret, "scopes": sorted(record.scopes)}
    await admin.revoke_api_key(args.tenant_id, args.key_id)
    return {"revoked": args.key_id}


async def _factors(args: argparse.Namespace, admin: Admin) -> Any:
    from mfa.http.views import factor_view

    if args.f_cmd != "list":
        await admin.set_factor(args.tenant_id, args.factor, args.f_cmd == "enable")
    return [_dump(factor_view(t)) for t in await admin.list_factors(args.tenant_id)]


async def _features(args: argparse.Namespace, admin: Admin) -> Any:
    tenant = await admin.set_feature(args.tenant_id, args.feature, args.ft_cmd == "enable")
    return dict(tenant.features)


async def _quotas(args: argparse.Namespace, admin: Admin) -> Any:
    from mfa.http.views import quotas_view

    if args.q_cmd == "set":
        await admin.set_quotas(args.tenant_id, {args.quota: Quota(args.limit, args.window)})
    return _dump(quotas_view(await admin.get_quotas(args.tenant_id)))


async def _request_token(args: argparse.Namespace, admin: Admin) -> Any:
    from mfa.http.views import iso

    issued = await admin.issue_request_token(args.tenant_id, args.user_id)
    return {"request_token": issued.token, "expires_at": iso(issued.expires_at)}


async def _enrollments(args: argparse.Namespace, admin: Admin) -> Any:
    from mfa.http.views import enrollment_view

    if args.e_cmd == "list":
        found = await admin.list_enrollments(args.tenant_id, args.user_id)
        return [_dump(enrollment_view(e)) for e in found]
    await admin.delete_enrollment(args.tenant_id, args.enrollment_id)
    return {"deleted": args.enrollment_id}


def _dump(view: BaseModel) -> dict[str, Any]:
    return view.model_dump(mode="json")


def _out(args: argparse.Namespace, data: Any) -> None:
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True))
        return
    if isinstance(data, dict):
        for key, value in data.items():
            print(f"{key}: {json.dumps(value) if not isinstance(value, str) else value}")
    elif isinstance(data, list):
        for item in data:
            print(json.dumps(item, sort_keys=True))


def _err(args: argparse.Namespace, data: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(data), file=sys.stderr)
    else:
        print(
            f"mfa: {data.get('errorCode') or data.get('error')}: {data['message']}", file=sys.stderr
        )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
