"""``create_app``: the ASGI app, standalone or mounted under any prefix of a host.

Mounting::

    from starlette.applications import Starlette
    from starlette.routing import Mount
    import mfa

    mfa_app = mfa.create_app(mfa.Settings.from_env())
    host = Starlette(routes=[Mount("/mfa", app=mfa_app)], lifespan=mfa_app.router.lifespan_context)

Starlette does not run a mounted app's lifespan; the host may hand it on as above,
or not bother: the service opens its stores on the first request and the host can
close them with ``await mfa_app.state.mfa.close()``.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette._utils import get_route_path
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.routing import BaseRoute, Match, Mount, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from mfa._version import __version__ as __version__
from mfa.http import backend, docs, guardian, phone
from mfa.http.boundary import ErrorBoundary
from mfa.http.endpoint import Endpoint
from mfa.http.observe import Observe, metrics_route
from mfa.http.openapi import build_openapi
from mfa.service import MFAService
from mfa.settings import Settings
from mfa.ui.routes import routes as ui_routes

APPLIANCE_PREFIX = "/appliance-mfa"


def create_app(
    settings: Settings | None = None,
    *,
    service: MFAService | None = None,
    freeze_gc: bool = False,
) -> Starlette:
    """The mfa ASGI app. Pass ``settings`` (default: from ``MFA_*`` variables) or a
    ready :class:`MFAService` (to share it with in-process callers or inject test
    doubles).

    ``freeze_gc``: once the stores are open, move every object made so far out of
    the garbage collector's view (:func:`gc.freeze`). The full collections of a
    long-running server then walk only what requests make, which cuts its tail
    latency several times over. Off by default: it acts on the whole process, so a
    host that mounts mfa decides; ``mfa serve`` turns it on."""
    if service is None:
        service = MFAService(settings or Settings.from_env())
    document: dict[str, Any] = {}

    async def openapi(request: Request, _: None) -> dict[str, Any]:
        return document

    endpoints: tuple[Endpoint, ...] = (
        *guardian.ENDPOINTS,
        *phone.ENDPOINTS,
        *backend.ENDPOINTS,
        Endpoint("GET", "/api/openapi.json", openapi, "This document", tags=("meta",)),
    )
    document.update(build_openapi(endpoints, __version__))
    limit = service.settings.max_body_bytes
    routes: list[BaseRoute] = [ep.route(limit) for ep in endpoints]
    flat = list(routes)
    # The mobile SDKs append /appliance-mfa to any non-Auth0 base URL. No slash
    # redirects, here or below: a 307 whose Location is built from the Host header
    # is no contract answer (and an open redirect to whoever sets Host).
    routes.append(Mount(APPLIANCE_PREFIX, app=Router(routes=flat, redirect_slashes=False)))
    routes += docs.routes()  # the API docs UI, for people: not under /appliance-mfa
    # The hosted pages (mfa.ui): HTML for browsers, outside the OpenAPI document.
    routes.append(Mount("/ui", routes=ui_routes()))
    if service.settings.metrics:
        routes.append(metrics_route())  # Prometheus: outside the OpenAPI document

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.open()
        if freeze_gc:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            await service.close()

    def allow(scope: Scope) -> list[str]:
        # Starlette names the methods of the first route that matched the path; the
        # contract's Allow (on a 405) names every method the path accepts.
        return allowed_methods(flat, _route_path(scope))

    middleware = [Middleware(ErrorBoundary, on_request=service.ensure_open, allow=allow)]
    if service.settings.cors_origins:
        # Outermost, so preflights are answered before routing and error answers
        # carry the CORS headers too (a browser hides a body it may not read).
        middleware.insert(
            0,
            Middleware(
                CORSMiddleware,
                allow_origins=sorted(service.settings.cors_origins),
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=[
                    "Authorization",
                    "Content-Type",
                    "X-Request-Id",
                    "X-Global-Tracking-Id",
                ],
                expose_headers=["X-Request-Id", "Retry-After"],
                max_age=600,
            ),
        )
    # Outermost: settles the request id for every log line, times and counts answers.
    middleware.insert(0, Middleware(Observe, metrics=service.ctx.metrics))
    app = _Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.router.redirect_slashes = False
    app.state.mfa = service
    return app


def allowed_methods(routes: list[BaseRoute], path: str) -> list[str]:
    """Every method some route at ``path`` accepts (HEAD with GET, as Starlette does)."""
    methods: set[str] = set()
    for route in routes:
        if isinstance(route, Route) and route.methods and route.path_regex.match(path):
            methods |= route.methods
    return sorted(methods)


class _Starlette(Starlette):
    """Starlette without its own two error layers (``ServerErrorMiddleware`` and
    ``ExceptionMiddleware``): :class:`~mfa.http.boundary.ErrorBoundary` already turns
    every exception, Starlette's 404 and 405 included, into a catalogue error, so
    theirs never answered anything; each still wrapped every request and its
    ``send``."""

    def build_middleware_stack(self) -> ASGIApp:
        app: ASGIApp = StaticRoutes(self.router)
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app


class StaticRoutes:
    """The router, with the routes of a fixed path found by one dict lookup.

    Starlette's router tries each route's regex in turn; most calls (verify-otp,
    transaction-state, start-flow…) go to a path without parameters. A (path,
    method) is looked up here only where the router's own scan would pick that
    same route (worked out once, with the router's own matching), so the answer is
    the router's; everything else (parameters, mounts, 404, 405) goes to it."""

    __slots__ = ("_routes", "router")

    def __init__(self, router: Router) -> None:
        self.router = router
        self._routes: dict[tuple[str, str], Route] = {}
        for route in router.routes:
            if not isinstance(route, Route) or route.param_convertors or not route.methods:
                continue
            for method in route.methods:
                probe = {"type": "http", "path": route.path, "root_path": "", "method": method}
                first = next(r for r in router.routes if r.matches(probe)[0] is Match.FULL)
                if first is route:
                    self._routes[(route.path, method)] = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = self._routes.get((get_route_path(scope), scope["method"]))
            if route is not None:
                # What Router.app sets on a full match of a route without parameters.
                scope.setdefault("router", self.router)
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                scope["path_params"] = dict(scope.get("path_params", {}))
                await route.app(scope, receive, send)
                return
        await self.router(scope, receive, send)


def _route_path(scope: Scope) -> str:
    # The path below any host mount, then below /appliance-mfa.
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    if path.startswith(APPLIANCE_PREFIX + "/"):
        path = path[len(APPLIANCE_PREFIX) :]
    return path


def serving_app() -> Starlette:
    """The app ``mfa serve`` runs in each worker: settings from ``MFA_*``, GC frozen."""
    return create_app(freeze_gc=True)
