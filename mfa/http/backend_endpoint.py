"""What the backend API's routes share: how one is declared, and what its handlers reach.

A backend route takes an API key (:class:`~mfa.http.endpoint.Endpoint` authorizes it
for the route's scope and tenant before the handler runs; the principal is on
``request.state`` for the few handlers that need more than a yes), and an empty
JSON body where a write has nothing to say. The route modules (tenants, tenant
settings, users, hosted pages, events, webhooks) declare theirs with
:func:`backend_endpoint`; :mod:`mfa.http.backend` lists every route module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from mfa.admin import Admin
from mfa.errors import InvalidQueryString
from mfa.http.endpoint import Endpoint
from mfa.http.params import MAX_ID_CHARS
from mfa.schemas import Body, has_control

if TYPE_CHECKING:  # the service is built by the composition root (mfa.service)
    from mfa.service import MFAService

# The errors each route declares for OpenAPI, by what the route takes.
AUTH = ("invalid_bearer_format", "invalid_token", "insufficient_scope")  # an API key
TENANT = ("tenant_not_found",)  # a {tenant_id}
BODY = ("invalid_body", "field_required")  # a body

_TAG = ("backend API",)


def backend_endpoint(method: str, path: str, handler: Any, summary: str, **kw: Any) -> Endpoint:
    """An :class:`Endpoint` with the backend's defaults: API-key auth, the "backend
    API" tag, and an empty :class:`~mfa.schemas.Body` for a write that declares none."""
    kw.setdefault("auth", "api_key")
    kw.setdefault("tags", _TAG)
    if method in ("POST", "PUT", "PATCH") and "body" not in kw:
        kw["body"] = Body
    return Endpoint(method, path, handler, summary, **kw)


def service(request: Request) -> MFAService:
    found: MFAService = request.app.state.mfa
    return found


def admin(request: Request) -> Admin:
    return service(request).admin


def query_value(request: Request, name: str) -> str | None:
    """The query parameter ``name``, or None; ``invalid_query_string`` for a value
    no stored record could carry (empty, too long, a control character)."""
    value = request.query_params.get(name)
    if value is None:
        return None
    if not value or len(value) > MAX_ID_CHARS or has_control(value):
        raise InvalidQueryString(f"Invalid value for {name!r}.")
    return value
