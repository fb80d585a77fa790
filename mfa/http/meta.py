"""The open routes about the service itself (tag ``meta``): the error catalogue, the
public keys of result signatures, liveness and readiness. No credentials."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from mfa.catalogue import catalogue_json
from mfa.errors import ServiceUnavailable
from mfa.http.backend_endpoint import service
from mfa.http.endpoint import Endpoint


async def error_catalogue(request: Request, _: None) -> list[dict[str, object]]:
    return catalogue_json()


async def jwks(request: Request, _: None) -> dict[str, Any]:
    return service(request).keys.signing.jwks()


async def healthz(request: Request, _: None) -> dict[str, str]:
    return {"status": "ok"}


async def readyz(request: Request, _: None) -> JSONResponse:
    running = service(request)
    checks: dict[str, str] = {}
    for name, store in (("database", running.durable), ("ephemeral", running.ephemeral)):
        try:
            await store.ping()
            checks[name] = "ok"
        except Exception:  # reported, not raised: readiness is a report
            checks[name] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    if not ready:
        raise ServiceUnavailable("Not ready: " + ", ".join(f"{k} {v}" for k, v in checks.items()))
    return JSONResponse({"status": "ready", "checks": checks})


_TAG = ("meta",)

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/api/errors", error_catalogue, "The error catalogue", tags=_TAG),
    Endpoint("GET", "/.well-known/jwks.json", jwks, "Public keys of result signatures", tags=_TAG),
    Endpoint("GET", "/healthz", healthz, "Liveness", tags=_TAG),
    Endpoint(
        "GET",
        "/readyz",
        readyz,
        "Readiness: Redis and the database answer",
        tags=_TAG,
        errors=("service_unavailable",),
    ),
)
