"""The fixed-path lookup in front of Starlette's router picks the router's route."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route, Router

from mfa import create_app
from mfa.app import StaticRoutes

pytestmark = pytest.mark.anyio


def _answer(name: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        params = ",".join(f"{k}={v}" for k, v in sorted(request.path_params.items()))
        return PlainTextResponse(f"{name} {request.scope['route'].path} {params}")

    return endpoint


def _router() -> Router:
    return Router(
        routes=[
            Route("/items/{item}", _answer("param"), methods=["GET"]),
            Route("/items/new", _answer("shadowed"), methods=["GET", "POST"]),
            Route("/ping", _answer("ping"), methods=["POST"]),
            Mount("/sub", routes=[Route("/ping", _answer("sub"), methods=["POST"])]),
        ]
    )


def test_only_routes_the_router_would_pick_first_are_indexed() -> None:
    index = StaticRoutes(_router())._routes
    # GET /items/new goes to /items/{item}, listed first: the router's choice stays.
    assert set(index) == {("/items/new", "POST"), ("/ping", "POST")}


async def test_answers_are_the_routers_own() -> None:
    direct, fast = _router(), StaticRoutes(_router())
    host = Starlette(routes=[Mount("/host/{tenant}", app=fast)])
    for app, base in ((direct, ""), (fast, ""), (host, "/host/acme")):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            got = [
                (r.status_code, r.text)
                for r in [
                    await http.get(f"{base}/items/new"),
                    await http.post(f"{base}/items/new"),
                    await http.post(f"{base}/ping"),
                    await http.post(f"{base}/sub/ping"),
                ]
            ]
        extra = "tenant=acme" if base else ""
        assert got == [
            (200, f"param /items/{{item}} item=new{',' if extra else ''}{extra}"),
            (200, f"shadowed /items/new {extra}"),
            (200, f"ping /ping {extra}"),
            (200, f"sub /ping {extra}"),
        ], app


def test_the_service_app_looks_its_fixed_paths_up() -> None:
    app = create_app()
    stack = app.build_middleware_stack()
    while not isinstance(stack, StaticRoutes):
        stack = stack.app  # type: ignore[attr-defined]
    assert stack._routes[("/api/verify-otp", "POST")].path == "/api/verify-otp"
    assert ("/api/tenants/{tenant_id}", "GET") not in stack._routes
