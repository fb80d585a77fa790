"""A FastAPI app with password login, then MFA on mfa's hosted pages.

Run it (from the repository, after ``pip install -e '.[test]'``)::

    python examples/fastapi_app.py

then open http://127.0.0.1:8000 and sign in as alice or bob, password "wonderland".

The whole integration is the three routes below ``# --- MFA``:

1. ``POST /login`` checks the password, asks mfa for a **request token** for the
   user and sends the browser to the hosted page ``/mfa/ui/`` with a self-posting
   form (the token stays out of URLs and logs). A user with no second factor
   yet gets the enrollment screens, so enrollment happens on the first login.
2. The page hands the signed result back to ``POST /mfa-return`` (an allowlisted
   return URL), like OAuth's ``form_post``. The app checks ``state`` — bound to
   this browser's pending login, which is its CSRF defence — and verifies the
   result with ``service.verify_result`` before it signs the user in.
3. ``error=<catalogue code>`` (or ``cancelled``) comes back instead when the user
   gives up or the transaction cannot go on.

Configuration is mfa's own ``MFA_*`` variables; with none set, it runs on the
embedded defaults (SQLite file in the working directory, in-process store, SMS
codes printed on the console).
"""

from __future__ import annotations

import argparse
import html
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import parse_qsl

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mfa import MFAError, MFAService, Settings, create_app
from mfa.storage.base import HostedPages

TENANT = "demo"
USERS = {"alice": "wonderland", "bob": "wonderland"}  # a real app stores password hashes
LOGO = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="32" viewBox="0 0 120 32">'
    '<rect width="32" height="32" rx="8" fill="#0a7b3e"/>'
    '<text x="40" y="22" font-family="sans-serif" font-size="18" fill="#0a7b3e">Demo</text></svg>'
)


@dataclass
class Session:
    user: str | None = None  # signed in (password and MFA)
    method: str | None = None
    pending_user: str | None = None  # password checked, MFA under way
    state: str | None = None  # binds the hosted page's answer to this browser


def build_app(
    base_url: str = "http://127.0.0.1:8000", *, service: MFAService | None = None
) -> FastAPI:
    """The host app; ``base_url`` is where browsers reach it (for the return URL)."""
    mfa = service or MFAService(Settings.from_env())
    sessions: dict[str, Session] = {}  # in memory: one process, a demo
    return_url = base_url.rstrip("/") + "/mfa-return"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await mfa.open()
        try:
            await mfa.admin.get_tenant(TENANT)
        except MFAError:
            await mfa.admin.create_tenant(TENANT, "Demo Inc.")
        # The hosted pages return only to allowlisted URLs; the logo is served here.
        pages = HostedPages(allowed_return_urls=(return_url,), logo_url="/logo.svg")
        await mfa.admin.set_hosted_pages(TENANT, pages)
        yield
        await mfa.close()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/mfa", create_app(service=mfa))

    def session_of(request: Request) -> tuple[str, Session]:
        sid = request.cookies.get("sid", "")
        if sid not in sessions:
            sid = secrets.token_urlsafe(24)
            sessions[sid] = Session()
        return sid, sessions[sid]

    def page(body: str, sid: str) -> HTMLResponse:
        doc = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="/logo.svg">'
            f"<title>Demo app</title></head><body><main>{body}</main></body></html>"
        )
        response = HTMLResponse(doc, headers={"Cache-Control": "no-store"})
        # SameSite=Lax suffices: the hosted pages post back from this same site.
        response.set_cookie("sid", sid, httponly=True, samesite="lax")
        return response

    async def form(request: Request) -> dict[str, str]:
        # Plain urlencoded forms; parsed here so the example needs no multipart package.
        return dict(parse_qsl((await request.body()).decode("utf-8", "replace")))

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        sid, s = session_of(request)
        if s.user:
            who = html.escape(s.user)
            return page(
                f"<h1>Hello, {who}</h1><p id='signed-in'>Signed in as {who} "
                f"(second factor: {html.escape(s.method or '')}).</p>"
                "<form method='post' action='/logout'><button>Sign out</button></form>",
                sid,
            )
        return page(
            "<h1>Sign in</h1><form method='post' action='/login'>"
            "<label for='u'>User name</label> "
            "<input id='u' name='username' autocomplete='username'>"
            "<label for='p'>Password</label> "
            "<input id='p' name='password' type='password' autocomplete='current-password'>"
            "<button>Sign in</button></form>",
            sid,
        )

    @app.get("/logo.svg")
    async def logo() -> Response:
        return Response(LOGO, media_type="image/svg+xml")

    # --- MFA ------------------------------------------------------------------

    @app.post("/login")
    async def login(request: Request) -> Response:
        sid, s = session_of(request)
        fields = await form(request)
        user = fields.get("username", "")
        if USERS.get(user) is None or not secrets.compare_digest(
            USERS[user], fields.get("password", "")
        ):
            return page("<p role='alert'>Wrong user name or password.</p><a href='/'>Back</a>", sid)
        issued = await mfa.admin.issue_request_token(TENANT, user)
        s.pending_user, s.state = user, secrets.token_urlsafe(16)
        # One redirect, as a form POST: a no-JS button, and a submit once loaded.
        return page(
            "<form id='go' method='post' action='/mfa/ui/'>"
            f"<input type='hidden' name='token' value='{html.escape(issued.token)}'>"
            f"<input type='hidden' name='return_to' value='{html.escape(return_url)}'>"
            f"<input type='hidden' name='state' value='{s.state}'>"
            "<button>Continue to two-step verification</button></form>"
            "<script>document.getElementById('go').submit()</script>",
            sid,
        )

    @app.post("/mfa-return")
    async def mfa_return(request: Request) -> Response:
        sid, s = session_of(request)
        fields = await form(request)
        user, state = s.pending_user, s.state
        s.pending_user = s.state = None  # one answer per login attempt
        if (
            user is None
            or state is None
            or not secrets.compare_digest(state, fields.get("state", ""))
        ):
            return page("<p role='alert'>This answer is not for this browser.</p>", sid)
        if "result" not in fields:
            error = html.escape(fields.get("error", "unknown"))
            return page(
                f"<p role='alert' id='mfa-failed'>MFA not completed ({error}).</p>"
                "<a href='/'>Start again</a>",
                sid,
            )
        try:
            result = mfa.verify_result(fields["result"], user_id=user, tenant_id=TENANT)
        except MFAError as exc:
            return page(f"<p role='alert'>Invalid MFA result ({exc.code}).</p>", sid)
        s.user, s.method = result.user_id, result.method
        return RedirectResponse("/", status_code=303)

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        sid, _ = session_of(request)
        sessions[sid] = Session()
        return RedirectResponse("/", status_code=303)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    app = build_app(f"http://{args.host}:{args.port}")
    uvicorn.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
