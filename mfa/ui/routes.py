"""The ``/ui/`` routes: the entry page, its error page and the static assets.

The entry (``GET`` or form ``POST`` of ``/ui/``) does the checks that need the
server — the credential names a tenant, ``return_to`` is on that tenant's
allowlist, a cross-site POST comes from an allowed origin — then opens the
transaction with the same :meth:`mfa.flows.Flows.start_flow` the factor route
uses and renders every screen of the flow at once. From there the page's script
drives the transaction over the factor protocol (``/api/verify-otp``, …) with
the transaction token, which is why no cookie and no server-side page state exist.

Until ``return_to`` has been checked, a failure is shown here and never sent
anywhere (that is the open-redirect guard); after, the page offers to return
with the catalogue code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from mfa.errors import (
    FieldRequired,
    InternalError,
    InvalidBody,
    InvalidQueryString,
    InvalidToken,
    MFAError,
    NoMethodAvailable,
)
from mfa.http.boundary import as_contract_error
from mfa.schemas import has_control
from mfa.storage.base import Tenant
from mfa.tokens import Credential
from mfa.ui import i18n, policy
from mfa.ui.render import Flow, Return, render_error, render_flow

if TYPE_CHECKING:  # the service is built by the composition root (mfa.service)
    from mfa.service import MFAService

log = logging.getLogger("mfa.ui")

FIELDS = frozenset({"token", "ticket", "return_to", "state"})
MAX_STATE_CHARS = 1024


@dataclass(frozen=True)
class Entry:
    credential: Credential
    tenant: Tenant
    user_id: str
    back: Return


def _service(request: Request) -> MFAService:
    service: MFAService = request.app.state.mfa
    return service


async def _form(request: Request, limit: int) -> list[tuple[str, str]]:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise InvalidBody("The entry form must be posted as application/x-www-form-urlencoded.")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise InvalidBody(f"The body is larger than {limit} bytes.")
    try:
        return parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        raise InvalidBody("The form body is not valid.") from None


async def read_params(request: Request, limit: int) -> tuple[dict[str, str], type[MFAError]]:
    """The entry's fields (query for GET, form for POST) and the error class that
    reports a bad one (``invalid_query_string`` or ``invalid_body``)."""
    bad: type[MFAError]
    if request.method == "GET":
        pairs, bad = list(request.query_params.multi_items()), InvalidQueryString
    else:
        if request.query_params:
            raise InvalidQueryString("Post the fields in the form body, not the URL.")
        pairs, bad = await _form(request, limit), InvalidBody
    found: dict[str, str] = {}
    for name, value in pairs:
        if name not in FIELDS:
            raise bad(f"Unexpected field {name[:40]!r}.")
        if name in found:
            raise bad(f"The field {name!r} is given twice.")
        if has_control(value):
            raise bad(f"The field {name!r} holds a control character.")
        found[name] = value
    return found, bad


async def check_entry(request: Request, service: MFAService) -> Entry:
    params, bad = await read_params(request, service.settings.max_body_bytes)
    token, ticket = params.get("token"), params.get("ticket")
    if bool(token) == bool(ticket):
        raise FieldRequired("Give exactly one of 'token' and 'ticket'.", field="token")
    if not params.get("return_to"):
        raise FieldRequired("The field 'return_to' is required.", field="return_to")
    state = params.get("state", "")
    if len(state) > MAX_STATE_CHARS:
        raise bad(f"'state' is longer than {MAX_STATE_CHARS} characters.")
    ctx = service.ctx
    credential: Credential
    # The tenant is read without consuming the one-time credential: a refused
    # return_to must leave the host free to send the user again, correctly.
    if token:
        credential = Credential("bearer", token)
        claims = ctx.codec.decode(token, "request")
        tenant_id, user_id = str(claims.get("tid")), str(claims.get("sub"))
    else:
        credential = Credential("ticket", str(ticket))
        info = await ctx.ephemeral.peek_ticket("enroll:" + str(ticket))
        if info is None:
            raise InvalidToken("Unknown or already used enrollment ticket.")
        tenant_id, user_id = str(info["tenant_id"]), str(info["user_id"])
    tenant = await ctx.tenants.get(tenant_id)
    return_to = policy.return_url_allowed(tenant.hosted_pages, params["return_to"])
    if return_to is None:
        raise bad("'return_to' is not one of the tenant's allowed return URLs.")
    _check_origin(request, tenant, bad)
    return Entry(credential, tenant, user_id, Return(return_to, state))


def _check_origin(request: Request, tenant: Tenant, bad: type[MFAError]) -> None:
    # CSRF on the entry form: a browser names the page that posted it. Only the
    # service itself or a site on the tenant's allowlist may send a user here with
    # a token, so a third site cannot push its own (attacker-minted) transaction
    # into a victim's browser. GET entries carry no Origin and rely on `state`.
    origin = request.headers.get("origin")
    if request.method != "POST" or origin is None:
        return
    own = f"{request.url.scheme}://{request.url.netloc}"
    allowed = {own, *(policy.origin_of(u) for u in tenant.hosted_pages.allowed_return_urls)}
    if origin.lower() not in allowed:
        raise bad("This form was posted from a site the tenant does not allow.")


def service_url(request: Request) -> str:
    """The sub-app's URL as the browser reached it, which is where the phone must
    call back: these pages are mounted at ``<sub-app>/ui``. The scope's root_path
    keeps a host's mount (``/mfa``), which Starlette's ``base_url`` would drop."""
    root: str = request.scope.get("root_path", "")
    base = request.url.replace(path=root.removesuffix("/ui"), query="", fragment="")
    return str(base).rstrip("/")


def _as_error(exc: Exception, request: Request) -> MFAError:
    error, _, _ = as_contract_error(exc)
    if isinstance(error, InternalError):
        request_id = request.scope.get("state", {}).get("request_id", "")
        log.exception("unhandled error in the hosted pages [request_id=%s]", request_id)
    return error


async def entry(request: Request) -> Response:
    service = _service(request)
    lang = i18n.negotiate(request.headers.get("accept-language"))
    try:
        found = await check_entry(request, service)
    except Exception as exc:  # shown here, never redirected: return_to is unchecked
        return render_error(_as_error(exc, request), lang, None, None)
    tenant = found.tenant
    try:
        started = await service.flows.start_flow(found.credential)
        flow = Flow.from_start(started, tenant, found.user_id, service_url(request))
        if not flow.methods:
            raise NoMethodAvailable("No method the hosted pages offer is available.")
    except Exception as exc:
        return render_error(_as_error(exc, request), lang, tenant, found.back)
    return render_flow(flow, lang, tenant, found.back)


def routes() -> list[BaseRoute]:
    """Mounted by :func:`mfa.app.create_app` at ``/ui``."""
    return [
        Route("/", entry, methods=["GET", "POST"], name="ui_entry"),
        Mount("/static", app=StaticFiles(packages=[("mfa.ui", "static")]), name="ui_static"),
    ]
