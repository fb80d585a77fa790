"""A host app that mounts mfa under /mfa and gates a page behind a second factor.

Run: ``uvicorn examples.host_app:app`` (embedded defaults, one process), then:

1. ``GET /login?user=alice`` — the host's own password check is elided; it asks
   mfa (in process) for a request token and returns it, as a real host would hand
   it to the browser running ``auth0-guardian-js`` with ``serviceUrl=<host>/mfa``.
2. The browser runs enrollment or login against ``/mfa/api/...``.
3. ``POST /mfa-done`` with ``{"user": "alice", "signature": "<auth-response signature>"}``
   — the host verifies the signature in one call and opens its session.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

import mfa
from mfa.storage.base import Conflict

TENANT = "example"

mfa_app = mfa.create_app(mfa.Settings.from_env())
service: mfa.MFAService = mfa_app.state.mfa


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with mfa_app.router.lifespan_context(mfa_app):
        with contextlib.suppress(mfa.MFAError, Conflict):  # created on an earlier run
            await service.admin.create_tenant(TENANT, "Example Inc")
        yield


async def login(request: Request) -> JSONResponse:
    user = request.query_params.get("user", "alice")
    issued = await service.admin.issue_request_token(TENANT, user)
    service_url = str(request.base_url).rstrip("/") + "/mfa"
    return JSONResponse({"request_token": issued.token, "service_url": service_url})


async def mfa_done(request: Request) -> JSONResponse:
    body = await request.json()
    try:
        result = service.verify_result(body["signature"], user_id=body["user"], tenant_id=TENANT)
    except mfa.MFAError as exc:
        return JSONResponse(exc.to_body(), status_code=exc.status)
    return JSONResponse({"session_for": result.user_id, "method": result.method})


app = Starlette(
    routes=[
        Route("/login", login),
        Route("/mfa-done", mfa_done, methods=["POST"]),
        Mount("/mfa", app=mfa_app),
    ],
    lifespan=lifespan,
)
