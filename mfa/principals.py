"""Who calls the backend API, and what they may do: API keys and their scopes.

The one authorization step: :meth:`Authenticator.authenticate` turns a Bearer
secret into a :class:`Principal`, and :func:`authorize` checks a scope and a
tenant. The HTTP layer runs both before any handler (see
:class:`mfa.http.endpoint.Endpoint`), from the scope each route declares, so no
route can change state and only then refuse. In-process callers
(``service.admin``, the CLI) are the operator and skip this step.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from mfa.errors import InsufficientScope, InvalidToken
from mfa.names import OPERATOR_ONLY_SCOPES, Scope
from mfa.storage.protocols import DurableStore

ALL_SCOPES: frozenset[str] = frozenset(s.value for s in Scope)
OPERATOR_ONLY: frozenset[str] = frozenset(s.value for s in OPERATOR_ONLY_SCOPES)


@dataclass(frozen=True, slots=True)
class Principal:
    """The operator (``tenant_id`` None) or a tenant's API key."""

    key_id: str
    tenant_id: str | None
    scopes: frozenset[str]

    @property
    def is_operator(self) -> bool:
        return self.tenant_id is None


OPERATOR = Principal("operator", None, ALL_SCOPES)


def key_hash(secret: str) -> bytes:
    """API keys rest as SHA-256: they are long random secrets, so a fast hash is enough."""
    return hashlib.sha256(secret.encode()).digest()


def authorize(principal: Principal, scope: str, tenant_id: str | None = None) -> None:
    """Refuse (``insufficient_scope``) unless the key holds ``scope`` for ``tenant_id``."""
    if scope not in principal.scopes:
        raise InsufficientScope(f"The key lacks the {scope!r} scope.")
    if principal.tenant_id is not None and principal.tenant_id != tenant_id:
        raise InsufficientScope("The key belongs to another tenant.")


class Authenticator:
    def __init__(self, durable: DurableStore, admin_key: str | None) -> None:
        self._durable = durable
        self._admin_hash = key_hash(admin_key) if admin_key else None

    async def authenticate(self, secret: str) -> Principal:
        digest = key_hash(secret)
        if self._admin_hash is not None and hmac.compare_digest(digest, self._admin_hash):
            return OPERATOR
        record = await self._durable.find_api_key(digest)
        if record is None:
            raise InvalidToken("Unknown or revoked API key.")
        return Principal(record.key_id, record.tenant_id, record.scopes)
