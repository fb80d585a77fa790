"""The API documentation page: Swagger UI at ``/api/docs``, served from this process.

Swagger UI's files come from the ``swagger-ui-py`` package (Swagger UI 5, which
reads OpenAPI 3.1); only the two files the page needs are served, from a fixed
list, and the page is plain HTML with no inline script, so a strict
Content-Security-Policy can stay on. Every URL is relative: mounted under
``/mfa``, the page loads ``/mfa/api/docs/…`` and ``/mfa/api/openapi.json``.
Nothing is fetched from outside (the online validator is switched off).
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from mfa.errors import NotFound

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mfa API</title>
<link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/init.js"></script>
</body>
</html>
"""

INIT = """window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  tryItOutEnabled: false
});
"""

ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
}
# The files change only with the package: let browsers keep them for a day.
CACHE = "public, max-age=86400"


@cache
def _asset(name: str) -> bytes:
    spec = importlib.util.find_spec("swagger_ui")  # located, not imported: no Jinja2
    if spec is None or not spec.submodule_search_locations:
        raise NotFound("The API documentation's files are not installed (swagger-ui-py).")
    return (Path(spec.submodule_search_locations[0]) / "static" / name).read_bytes()


async def page(request: Request) -> Response:
    return HTMLResponse(PAGE)


async def asset(request: Request) -> Response:
    name = str(request.path_params["name"])
    if name == "init.js":
        return Response(INIT, media_type=ASSETS["swagger-ui-bundle.js"])
    if name not in ASSETS:
        raise NotFound("No such file of the API documentation.")
    return Response(_asset(name), media_type=ASSETS[name], headers={"Cache-Control": CACHE})


def routes() -> list[BaseRoute]:
    return [
        Route("/api/docs", page, methods=["GET"]),
        Route("/api/docs/{name}", asset, methods=["GET"]),
    ]
