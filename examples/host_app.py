"""A host app that mounts mfa under /mfa and gates a page behind a second factor.

Run from the repository's root: ``.venv/bin/uvicorn examples.host_app:app --port 8001``
(embedded defaults, one process). Then, as the README's walkthrough shows:

1. ``GET /login?user=alice`` — the host's own password check is elided. It opens a
   login in the caller's session (a cookie) and answers a request token, which a
   real host hands to the browser running ``auth0-guardian-js`` with
   ``serviceUrl=<host>/mfa``.
2. The browser enrolls or logs in against ``/mfa/api/...`` and ends with a result
   signature.
3. ``POST /mfa-done`` with ``{"signature": "…"}`` in the same session: the host
   checks the signature in one call and opens the session. ``GET /me`` then names
   the user.

What makes the result count once, for this session only:

- the user it must name comes from the session, never from the body;
- it must have been issued after this session's login started;
- its transaction id is remembered, so the same signature is refused a second
  time, in this session or any other;
- the session's login is consumed by the first success.

Bad bodies are answered with the service's own contract errors
(``invalid_body``, ``field_required``), never with a 500.

Only public names are used: :func:`mfa.create_app`, :class:`mfa.InProcessClient`
(the in-process API, the same methods as :class:`mfa.client.AsyncClient`) and the
exceptions of :mod:`mfa.errors`. Sessions and used transaction ids live in this
process's memory: fine for an example, a real host keeps them in its session store.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

import mfa
from mfa.errors import FieldRequired, InvalidBody, InvalidToken, TenantNotFound

TENANT = "example"
COOKIE = "host_session"
MAX_BODY = 16 * 1024

mfa_app = mfa.create_app(mfa.Settings.from_env())
api = mfa.InProcessClient(mfa_app.state.mfa)


@dataclass
class Session:
    pending_user: str | None = None  # a login in progress, waiting for its second factor
    login_started: float = 0.0
    user: str | None = None  # the user this session is logged in as


sessions: dict[str, Session] = {}
used_results: dict[str, float] = {}  # transaction id -> when its signature expires


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with mfa_app.router.lifespan_context(mfa_app):
        try:
            await api.get_tenant(TENANT)
        except TenantNotFound:  # first run
            await api.create_tenant(TENANT, "Example Inc")
        yield


def _session(request: Request) -> tuple[str, Session]:
    sid = request.cookies.get(COOKIE, "")
    if sid not in sessions:
        sid = secrets.token_urlsafe(24)
        sessions[sid] = Session()
    return sid, sessions[sid]


def _error(exc: mfa.MFAError) -> JSONResponse:
    return JSONResponse(exc.to_body(), status_code=exc.status)


async def login(request: Request) -> Response:
    user = request.query_params.get("user", "alice")
    sid, session = _session(request)
    try:
        token = await api.request_token(TENANT, user)
    except mfa.MFAError as exc:
        return _error(exc)
    session.pending_user, session.login_started, session.user = user, time.time(), None
    service_url = str(request.base_url).rstrip("/") + "/mfa"
    response = JSONResponse({"request_token": token.token, "service_url": service_url})
    response.set_cookie(COOKIE, sid, httponly=True, samesite="lax")
    return response


async def _signature(request: Request) -> str:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise InvalidBody(f"The body is larger than {MAX_BODY} bytes.")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise InvalidBody("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidBody("The body must be a JSON object.")
    unknown = set(body) - {"signature"}
    if unknown:
        raise InvalidBody(f"Unknown field {sorted(unknown)[0]!r}.")
    signature = body.get("signature")
    if signature is None:
        raise FieldRequired("The field 'signature' is required.", field="signature")
    if not isinstance(signature, str) or not 0 < len(signature) <= 4096:
        raise InvalidBody("Invalid value for 'signature': a result signature is expected.")
    return signature


async def mfa_done(request: Request) -> Response:
    _, session = _session(request)
    try:
        signature = await _signature(request)
        if session.pending_user is None:
            raise InvalidToken("No login is in progress in this session: start at /login.")
        result = await api.verify_result(signature, user_id=session.pending_user, tenant_id=TENANT)
        if result.issued_at < int(session.login_started):
            raise InvalidToken("This result is older than this session's login.")
        now = time.time()
        for txid in [t for t, expires in used_results.items() if expires <= now]:
            del used_results[txid]  # expired signatures are refused anyway
        if result.txid in used_results:
            raise InvalidToken("This result was already used.")
        used_results[result.txid] = result.expires_at
    except mfa.MFAError as exc:
        return _error(exc)
    session.user, session.pending_user = result.user_id, None
    return JSONResponse({"session_for": result.user_id, "method": result.method})


async def me(request: Request) -> Response:
    session = sessions.get(request.cookies.get(COOKIE, ""))
    if session is None or session.user is None:
        return _error(InvalidToken("Not logged in."))
    return JSONResponse({"user": session.user})


app = Starlette(
    routes=[
        Route("/login", login),
        Route("/mfa-done", mfa_done, methods=["POST"]),
        Route("/me", me),
        Mount("/mfa", app=mfa_app),
    ],
    lifespan=lifespan,
)
