"""The ``mfa`` command's arguments: every command and option with its help.

Only the standard library and :mod:`mfa.names` are imported here, so that
``mfa --help`` answers at once; the service loads only for commands that use it.
"""

from __future__ import annotations

import argparse

from mfa.names import Factor, Feature, QuotaName

FACTORS = tuple(f.value for f in Factor)
FEATURES = tuple(f.value for f in Feature)
QUOTAS = tuple(q.value for q in QuotaName)

DESCRIPTION = """\
Multi-factor authentication service: run it, migrate its database, and operate
tenants, keys, factors and quotas in process, with operator rights, on the stores
the MFA_* variables name (the same as `mfa serve` uses).

Output is a table for people; add --json (anywhere) for scripts. Exit status: 0
done, 1 refused by the service (the catalogue's errorCode is printed), 2 bad usage
or configuration, or a backend that is unreachable or not migrated."""

EPILOG = "Run `mfa COMMAND --help` for a command's options. Settings: `mfa settings`."


def _common() -> argparse.ArgumentParser:
    # Given to every parser, with SUPPRESS defaults, so "--json" works before or
    # after the command and a subparser never overwrites what the parent parsed.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for scripts"
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="also print the service's log lines (quiet by default)",
    )
    return common


class _Builder:
    def __init__(self) -> None:
        self.common = _common()

    def group(
        self, sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_: str
    ) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        parser = sub.add_parser(name, help=help_, description=help_, parents=[self.common])
        return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="ACTION")

    def command(
        self,
        sub: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        help_: str,
        action: str,
        *,
        destructive: bool = False,
    ) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_, description=help_, parents=[self.common])
        parser.set_defaults(action=action)
        if destructive:
            parser.add_argument(
                "-y", "--yes", action="store_true", help="do not ask for confirmation"
            )
        return parser


def _tenant(p: argparse.ArgumentParser) -> None:
    p.add_argument("tenant_id", metavar="TENANT", help="the tenant's id")


def build_parser() -> argparse.ArgumentParser:
    b = _Builder()
    p = argparse.ArgumentParser(
        prog="mfa",
        description=DESCRIPTION,
        epilog=EPILOG,
        parents=[b.common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = b.command(sub, "serve", "run the HTTP service (uvicorn)", "serve")
    s.add_argument("--host", default="127.0.0.1", help="address (default: %(default)s)")
    s.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    s.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: MFA_WORKERS, else 1); more than one needs "
        "MFA_REDIS_URL and a PostgreSQL MFA_DATABASE_URL",
    )
    s.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="uvicorn's log level (default: %(default)s)",
    )
    s.add_argument(
        "--access-log",
        action="store_true",
        help="log one line per request (off by default: it costs CPU on every call)",
    )

    db = b.group(sub, "db", "the database schema (Alembic migrations)")
    b.command(db, "upgrade", "apply the migrations up to this code's revision", "db.upgrade")
    b.command(db, "status", "show the schema's revision and whether it is current", "db.status")

    keys = b.group(sub, "keys", "key material")
    b.command(
        keys, "generate", "print fresh MFA_SIGNING_KEYS and MFA_ENCRYPTION_KEYS", "keys.generate"
    )

    st = b.command(sub, "settings", "show the configuration in force (secrets hidden)", "settings")
    st.add_argument(
        "--markdown", action="store_true", help="print every setting as the README's table"
    )
    b.command(sub, "scopes", "list the API-key scopes and what each allows", "scopes")

    t = b.group(sub, "tenants", "tenants")
    c = b.command(t, "create", "create a tenant", "tenants.create")
    c.add_argument("tenant_id", metavar="TENANT", help="new id: a-z, 0-9, _ and -, 1-64 chars")
    c.add_argument("--name", required=True, help="display name")
    c.add_argument(
        "--sandbox",
        action="store_true",
        help="a sandbox tenant: no message leaves the service (docs/errors.md)",
    )
    b.command(t, "list", "list tenants", "tenants.list")
    _tenant(b.command(t, "show", "a tenant with its settings", "tenants.show"))
    _tenant(
        b.command(
            t, "delete", "delete a tenant and all its data", "tenants.delete", destructive=True
        )
    )

    k = b.group(sub, "api-keys", "API keys of the backend API")
    kc = b.command(k, "create", "create an API key (its secret is shown once)", "api-keys.create")
    _tenant(kc)
    kc.add_argument("--name", required=True, help="what the key is for")
    kc.add_argument(
        "--scope",
        action="append",
        required=True,
        dest="scopes",
        metavar="SCOPE[,SCOPE…]",
        help="scopes to grant: repeat the option or give a comma list (see `mfa scopes`)",
    )
    _tenant(b.command(k, "list", "list a tenant's API keys (never their secrets)", "api-keys.list"))
    kr = b.command(k, "revoke", "revoke an API key", "api-keys.revoke", destructive=True)
    _tenant(kr)
    kr.add_argument("key_id", metavar="KEY_ID", help="the key's id (key_…)")

    f = b.group(sub, "factors", "factor toggles of a tenant")
    _tenant(b.command(f, "list", "which factors are on, and usable", "factors.list"))
    for verb in ("enable", "disable"):
        fp = b.command(f, verb, f"{verb} a factor for the tenant", f"factors.{verb}")
        _tenant(fp)
        fp.add_argument("factor", choices=FACTORS, help="the factor")

    fe = b.group(sub, "features", "feature toggles of a tenant")
    _tenant(b.command(fe, "list", "which features are on", "features.list"))
    for verb in ("enable", "disable"):
        fp = b.command(fe, verb, f"{verb} a feature for the tenant", f"features.{verb}")
        _tenant(fp)
        fp.add_argument("feature", choices=FEATURES, help="the feature")

    hp = b.group(sub, "hosted-pages", "the hosted pages' return URLs and branding")
    _tenant(b.command(hp, "show", "the tenant's hosted-pages setting", "hosted-pages.show"))
    hs = b.command(hp, "set", "replace the hosted-pages setting", "hosted-pages.set")
    _tenant(hs)
    hs.add_argument(
        "--return-url",
        action="append",
        default=[],
        dest="return_urls",
        metavar="URL[,URL…]",
        help="a URL the pages may send users back to (exact match); repeat or comma list",
    )
    hs.add_argument("--logo-url", help="https URL (or a path on the service) of the logo")
    hs.add_argument("--primary-color", metavar="#RRGGBB", help="the buttons' colour")

    q = b.group(sub, "quotas", "SMS and push quotas of a tenant")
    _tenant(b.command(q, "show", "the tenant's quotas", "quotas.show"))
    qs = b.command(q, "set", "change one quota", "quotas.set")
    _tenant(qs)
    qs.add_argument("quota", choices=QUOTAS, help="which quota")
    qs.add_argument("--limit", type=int, required=True, help="sends allowed per window (0 or more)")
    qs.add_argument(
        "--window", type=int, required=True, help="the window, in seconds (1 to 31 days)"
    )

    rt = b.command(
        sub,
        "request-token",
        "issue a request token that opens one login for a user (needs MFA_REDIS_URL)",
        "request-token",
    )
    _tenant(rt)
    rt.add_argument("user_id", metavar="USER", help="the user's id in your app")
    et = b.command(
        sub,
        "enrollment-ticket",
        "issue a one-time enrollment ticket for a user (needs MFA_REDIS_URL)",
        "enrollment-ticket",
    )
    _tenant(et)
    et.add_argument("user_id", metavar="USER", help="the user's id in your app")

    e = b.group(sub, "enrollments", "users' enrollments")
    el = b.command(e, "list", "a user's enrollments (phone numbers masked)", "enrollments.list")
    _tenant(el)
    el.add_argument("user_id", metavar="USER", help="the user's id in your app")
    es = b.command(
        e,
        "status",
        "a user's enrollment status: state, last error, last use",
        "enrollments.status",
    )
    _tenant(es)
    es.add_argument("user_id", metavar="USER", help="the user's id in your app")
    ed = b.command(
        e,
        "delete",
        "delete an enrollment (reset a user's MFA)",
        "enrollments.delete",
        destructive=True,
    )
    _tenant(ed)
    ed.add_argument("enrollment_id", metavar="ENROLLMENT_ID", help="the enrollment's id (dev_…)")

    # -- events (mfa.events): the audit trail and tenant webhooks
    ev = b.command(sub, "events", "a tenant's audit trail, oldest first", "events")
    _tenant(ev)
    ev.add_argument("--user", dest="user_id", metavar="USER", help="only this user's events")
    ev.add_argument("--type", metavar="TYPE", help="only this type (e.g. auth.failed)")
    ev.add_argument("--since", metavar="TIME", help="from this RFC 3339 time (2026-11-30T12:00Z)")
    ev.add_argument("--limit", type=int, default=100, help="at most this many (default: 100)")
    ev.add_argument("--cursor", help="after this cursor (printed with --json as next_cursor)")

    w = b.group(sub, "webhooks", "a tenant's webhook endpoints (Standard Webhooks)")
    wc = b.command(
        w, "create", "register an endpoint (its secret is shown once)", "webhooks.create"
    )
    _tenant(wc)
    wc.add_argument("url", metavar="URL", help="https URL that receives the events")
    wc.add_argument(
        "--event",
        action="append",
        required=True,
        dest="events",
        metavar="TYPE[,TYPE…]",
        help="event types to send: repeat the option or give a comma list",
    )
    _tenant(b.command(w, "list", "the tenant's endpoints", "webhooks.list"))
    for verb, help_ in (
        ("delete", "delete an endpoint and its queued deliveries"),
        ("rotate-secret", "a new signing secret (the old one signs beside it for 24 h)"),
        ("test", "send a webhook.test event now and show how it went"),
        ("deliveries", "recent deliveries to an endpoint"),
    ):
        wp = b.command(w, verb, help_, f"webhooks.{verb}", destructive=verb == "delete")
        _tenant(wp)
        wp.add_argument("webhook_id", metavar="WEBHOOK_ID", help="the endpoint's id (ep_…)")
        if verb == "deliveries":
            wp.add_argument(
                "--status", choices=("pending", "delivered", "failed"), help="only these"
            )
    wr = b.command(w, "redeliver", "queue a delivery again, due now", "webhooks.redeliver")
    _tenant(wr)
    wr.add_argument("webhook_id", metavar="WEBHOOK_ID", help="the endpoint's id (ep_…)")
    wr.add_argument("delivery_id", metavar="DELIVERY_ID", help="the delivery's id (msg_…)")
    return p
