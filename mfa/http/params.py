"""Path parameters, checked before they reach a store.

A path segment is whatever the client percent-encoded: ``/api/tenants/%00`` hands
the route a NUL, which PostgreSQL refuses with an error of its own. No id we issue
contains a control character or runs past a few hundred characters, so such a
value names nothing: it is answered as "not found" without a query.
"""

from __future__ import annotations

import re

from starlette.requests import Request

from mfa.errors import MFAError, NotFound, TenantNotFound
from mfa.schemas import has_control

_TENANT_ID = re.compile(r"[a-z0-9_-]{1,64}")
MAX_ID_CHARS = 256


def tenant_id(request: Request) -> str:
    """The ``{tenant_id}`` of the path; ``tenant_not_found`` if it cannot be one."""
    value = str(request.path_params["tenant_id"])
    if _TENANT_ID.fullmatch(value) is None:
        raise TenantNotFound()
    return value


def path_id(request: Request, name: str, error: type[MFAError] = NotFound) -> str:
    """Any other id of the path (key, enrollment, user, factor or feature name);
    ``error`` (``not_found`` by default) if no stored record could carry it."""
    value = str(request.path_params[name])
    if not value or len(value) > MAX_ID_CHARS or has_control(value):
        raise error()
    return value
