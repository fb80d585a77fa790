"""A Starlette host app that mounts mfa under /mfa and runs its own page with auth0-guardian-js.

Run from the repository's root (the first part bundles auth0-guardian-js from npm
for the page, once; the API alone needs only the second)::

    sh examples/build_guardian_js.sh && .venv/bin/uvicorn examples.starlette_app:app --port 8001

then open http://127.0.0.1:8001/ and sign in as any user name. The page
(``examples/starlette_ui/``: HTML, CSS and one script, no inline script, no CDN)
runs the unmodified npm ``auth0-guardian-js`` against ``<host>/mfa`` with
``transport: 'polling'``: TOTP enrollment (QR code and key), the recovery code,
TOTP login, and each error in the words of the service's catalogue. The same
steps without a browser:

1. ``GET /login?user=alice`` — the host's own password check is elided. It opens a
   login in the caller's session (a cookie) and answers a request token, which the
   page hands to ``auth0-guardian-js`` with ``serviceUrl=<host>/mfa``.
2. The browser enrolls or logs in against ``/mfa/api/...`` and ends with a result
   signature (the ``auth-response`` event).
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

The page's QR code is drawn by ``GET /qr.svg`` with the service's own helper, only
for a session with a login in progress and only for an ``otpauth://totp/`` URI: it
is no QR service for anyone who asks.

Only public names are used: :func:`mfa.create_app`, :class:`mfa.InProcessClient`
(the in-process API, the same methods as :class:`mfa.client.AsyncClient`),
:func:`mfa.client.qr_svg` and the exceptions of :mod:`mfa.errors`. Sessions and used
transaction ids live in this process's memory: fine for an example, a real host
keeps them in its session store.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

import mfa
from mfa.client import qr_svg
from mfa.errors import FieldRequired, InvalidBody, InvalidToken, TenantNotFound

TENANT = "example"
COOKIE = "host_session"
MAX_BODY = 16 * 1024
HERE = Path(__file__).parent
UI = HERE / "starlette_ui"
GUARDIAN_JS = HERE / "guardian-js" / "dist" / "auth0-guardian.js"  # build_guardian_js.sh
# The page and its assets come from this origin only: no inline script, no CDN.
# connect-src 'self' covers the sub-app, which is mounted on the same origin.
CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

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
    response = JSONResponse(
        # The page gives auth0-guardian-js the user as the authenticator app's label.
        {"request_token": token.token, "service_url": service_url, "user": user}
    )
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


async def page(request: Request) -> Response:
    return FileResponse(UI / "index.html", headers={"Content-Security-Policy": CSP})


async def guardian_js(request: Request) -> Response:
    if not GUARDIAN_JS.is_file():
        # Said in words: a bare 404 would leave the page dead without a reason.
        return PlainTextResponse(
            "auth0-guardian-js is not built: run sh examples/build_guardian_js.sh",
            status_code=404,
        )
    return FileResponse(GUARDIAN_JS, media_type="text/javascript")


async def qr(request: Request) -> Response:
    _, session = _session(request)
    uri = request.query_params.get("uri", "")
    if session.pending_user is None:
        return _error(InvalidToken("No login is in progress in this session: start at /login."))
    if not uri.startswith("otpauth://totp/") or len(uri) > 512:
        return _error(InvalidBody("Invalid value for 'uri': an otpauth://totp/ URI is expected."))
    # qr_svg is made to be inlined in HTML; as a file of its own (an <img>, which
    # cannot run anything it holds) an SVG needs its namespace.
    svg = qr_svg(uri).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
    return Response(svg, media_type="image/svg+xml")


app = Starlette(
    routes=[
        Route("/", page),
        Route("/static/auth0-guardian.js", guardian_js),
        Mount("/static", app=StaticFiles(directory=UI)),
        Route("/qr.svg", qr),
        Route("/login", login),
        Route("/mfa-done", mfa_done, methods=["POST"]),
        Route("/me", me),
        Mount("/mfa", app=mfa_app),
    ],
    lifespan=lifespan,
)
