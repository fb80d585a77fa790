"""The Python client of mfa: the backend API and the transaction calls over HTTP.

Three ways to drive mfa from Python, for three situations:

- **In-process, no HTTP** — a host that runs the service in its own process calls
  :attr:`mfa.MFAService.admin` (the backend API) and :attr:`mfa.MFAService.flows`
  (the transaction calls) directly, with the same exceptions.
- :class:`AsyncClient` — a host in another process, or any asyncio/anyio code.
- :class:`Client` — the same methods, blocking, for scripts, CLIs and sync web
  frameworks.

Both clients take a ``base_url`` (with any mount prefix, e.g.
``https://auth.example.com/mfa``) and, optionally, an httpx ``transport``: pass
``httpx.ASGITransport(app=mfa_app)`` to talk to an app in the same process through
real HTTP semantics, which is what the test suites do.

Errors: every non-2xx answer raises the catalogue's own exception class
(:mod:`mfa.errors`), rebuilt by :func:`mfa.errors.from_body` with its ``field``,
``method`` and ``retry_after``, so ``except TooManySms as e: e.retry_after`` works
the same against a remote service as in-process. A failure to reach the service at
all (connection refused, timeout, broken connection) raises
:class:`~mfa.errors.ServiceUnavailable` chained ``from`` the httpx error; an httpx
exception never escapes.

The sync and async clients share everything but the sending (see
:mod:`mfa.client._calls`), so a fix to a request or to the reading of an answer
applies to both.

Result signatures are verified offline with :func:`verify_result` against the
public JWKS (``GET /.well-known/jwks.json``), so a host never needs the service's
private key; :meth:`AsyncClient.verify_result` fetches and caches that JWKS.

Importing this package loads httpx, PyJWT and cryptography but no server module
(Starlette, SQLAlchemy, redis, …): a host that only calls the service or verifies
its results does not pay for, or depend on, the server.
"""

from mfa.client._async import AsyncClient
from mfa.client._call import _Call as _Call  # tests send malformed calls with it
from mfa.client._helpers import otpauth_uri, qr_svg
from mfa.client._models import (
    EnrollmentTicket,
    NewApiKey,
    QuotaLike,
    RequestToken,
    Transaction,
    TransactionState,
)
from mfa.client._sync import Client
from mfa.client._verify import verify_result
from mfa.errors import MFAError
from mfa.names import Quota
from mfa.results import VerifiedResult

__all__ = [
    "AsyncClient",
    "Client",
    "EnrollmentTicket",
    "MFAError",
    "NewApiKey",
    "Quota",
    "QuotaLike",
    "RequestToken",
    "Transaction",
    "TransactionState",
    "VerifiedResult",
    "otpauth_uri",
    "qr_svg",
    "verify_result",
]

# Public names are documented as living here, as they did when this was one module.
for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("mfa.client."):
        _obj.__module__ = __name__
del _name, _obj
